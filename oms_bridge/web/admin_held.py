"""The held and dead deliveries page and the SKU mappings that cure them.

/admin/held groups the problems by cause (:mod:`oms_bridge.store.problems`, the same query as ``oms-bridge
deliveries problems``) with one action per group: Map (an unmapped SKU), Retry all, Resolve with a note; below,
the rows themselves (filters by state, destination, channel and cause; paging; select many → Retry or Resolve)
with the attempts, since when, and the last attempt's request and answer. The dashboard links to
``/admin/held?state=held|dead|retrying``.

A mapping is checked in the ERP before it is saved (:func:`oms_bridge.erp.sku_maps.verify`): a typo must not
re-queue hundreds of orders that are held again. "Deliver now" starts the ERP delivery in a worker thread
(recorded as a process run like the scheduler's) instead of waiting for the next minute.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from starlette.datastructures import FormData

from oms_bridge.configure.checks import ConfigError, NotFound
from oms_bridge.configure.lookups import get_channel, list_channels
from oms_bridge.erp.sku_maps import Checked, Mapping, parse_csv, save_mapping, verify
from oms_bridge.store import outbox
from oms_bridge.store.causes import CAUSE_LABELS, MAPPABLE
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import DESTINATIONS, Delivery, Order, OrderLine, SkuMap
from oms_bridge.store.problems import (
    PROBLEM_STATES,
    ProblemFilter,
    problem_groups,
    problem_rows,
    rearm_problems,
    resolve_problems,
    unreadable_orders,
)
from oms_bridge.web import pages
from oms_bridge.web.security import SessionInfo
from scheduler.jobs import erp_delivery_job

__all__ = ["router", "PAGE_SIZE"]

router = APIRouter()
PAGE_SIZE = 50


def _filter(state: str, destination: str, channel: str, cause: str, subject: str | None) -> ProblemFilter:
    return ProblemFilter(state=state if state in PROBLEM_STATES else "",
                         destination=destination if destination in DESTINATIONS else "",
                         channel=channel, cause=cause, subject=subject if cause else None)


@router.get("/held")
def held_page(request: Request, state: str = "", destination: str = "", channel: str = "", cause: str = "",
              subject: str | None = None, page: int = 1, select_rows: str = Query("", alias="select"),
              admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    where = _filter(state, destination, channel, cause, subject)
    page = max(1, min(page, 100_000))
    with session_scope(pages.settings(), readonly=True) as session:
        groups = problem_groups(session, where)
        total, rows = problem_rows(session, where, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        unreadable_total, unreadable = unreadable_orders(session, channel=channel, limit=PAGE_SIZE)
        channels = [c.value for c in list_channels(session)]
    filters = {"state": where.state, "destination": where.destination, "channel": channel, "cause": cause,
               "subject": subject if cause and subject is not None else None}
    query = {k: v for k, v in filters.items() if v not in ("", None)}
    pages_total = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return pages.render(request, "held.html", admin=admin, groups=groups, rows=rows, total=total, page=page,
                        pages_total=pages_total, filters=filters, query=urlencode(query), channels=channels,
                        states=list(PROBLEM_STATES), destinations=DESTINATIONS, causes=sorted(CAUSE_LABELS),
                        mappable=MAPPABLE, unreadable=unreadable, unreadable_total=unreadable_total,
                        select_all=select_rows == "all",
                        prev_link=f"/admin/held?{urlencode({**query, 'page': page - 1})}" if page > 1 else None,
                        next_link=f"/admin/held?{urlencode({**query, 'page': page + 1})}" if page < pages_total
                        else None)


def _group_of(form: FormData) -> ProblemFilter:
    """The group a group action names (its hidden fields); ``subject`` '' is "no subject"."""
    return _filter(pages.text(form, "state"), pages.text(form, "destination"), pages.text(form, "channel"),
                   pages.text(form, "cause"), pages.text(form, "subject"))


@router.post("/held/group/retry")
def retry_group(request: Request, admin: SessionInfo = Depends(pages.current_admin),
                form: FormData = Depends(pages.csrf_form)) -> Response:
    """Queue every row of one cause group again."""
    where = _group_of(form)
    if not where.cause:
        return pages.back("/admin/held", err="no group named: use the Retry all button of a group")
    with session_scope(pages.settings()) as session:
        count = rearm_problems(session, where)
    return pages.back("/admin/held", msg=f"{count} delivery(ies) queued again")


@router.post("/held/group/resolve")
def resolve_group(request: Request, admin: SessionInfo = Depends(pages.current_admin),
                  form: FormData = Depends(pages.csrf_form)) -> Response:
    """Mark every row of one cause group resolved (settled outside the bridge), with the admin's note."""
    where, note = _group_of(form), pages.text(form, "note")
    if not where.cause:
        return pages.back("/admin/held", err="no group named: use the Resolve button of a group")
    if not note:
        return pages.back("/admin/held", err="write a note saying how it was resolved (it stays on each delivery)")
    with session_scope(pages.settings()) as session:
        count = resolve_problems(session, where, note=note, by=admin.username)
    return pages.back("/admin/held", msg=f"{count} delivery(ies) marked resolved")


@router.post("/held/bulk")
def bulk_action(request: Request, admin: SessionInfo = Depends(pages.current_admin),
                form: FormData = Depends(pages.csrf_form)) -> Response:
    """Retry or resolve the selected rows."""
    try:
        ids = sorted({int(v) for v in form.getlist("ids")})
    except ValueError:
        return pages.back("/admin/held", err="the selection holds something that is not a delivery id")
    action, note = pages.text(form, "action"), pages.text(form, "note")
    if not ids:
        return pages.back("/admin/held", err="select at least one delivery")
    if action not in ("retry", "resolve"):
        return pages.back("/admin/held", err="choose Retry selected or Resolve selected")
    if action == "resolve" and not note:
        return pages.back("/admin/held", err="write a note saying how the selected deliveries were resolved")
    where = ProblemFilter(ids=ids[:5000])
    with session_scope(pages.settings()) as session:
        if action == "retry":
            count = rearm_problems(session, where)
            return pages.back("/admin/held", msg=f"{count} of {len(ids)} selected delivery(ies) queued again")
        count = resolve_problems(session, where, note=note, by=admin.username)
    return pages.back("/admin/held", msg=f"{count} of {len(ids)} selected delivery(ies) marked resolved")


@router.post("/held/{delivery_id}/retry")
def retry_held(delivery_id: pages.RowId, request: Request,
               admin: SessionInfo = Depends(pages.current_admin),
               _form: FormData = Depends(pages.csrf_form)) -> Response:
    with session_scope(pages.settings(), immediate=True) as session:
        row = session.get(Delivery, delivery_id)
        if row is None:
            return pages.back("/admin/held", err=f"no delivery {delivery_id}; it may have been retried already")
        number = session.scalar(select(Order.external_id).where(Order.id == row.oms_order_id))
        count = outbox.rearm(session, row.destination, order_ids=[row.oms_order_id])
        in_flight = outbox.count_leased(session, row.destination, order_ids=[row.oms_order_id])
    if not count and in_flight:  # a lease is never stolen: a second send could duplicate the first
        return pages.back("/admin/held", err=f"order {number} is being sent to {row.destination} right now; "
                          "it was left to that delivery")
    if not count:
        return pages.back("/admin/held", err=f"order {number} is no longer held for {row.destination}")
    return pages.back("/admin/held", msg=f"order {number} queued again for {row.destination}")


# ------------------------------------------------------------------------------ SKU mappings
def _waiting_for(session, sku: str) -> int:
    where = ProblemFilter(state="held", destination="erp", cause="sku_unmapped", subject=sku)
    return session.scalar(select(func.count()).select_from(Delivery).where(*where.conditions())) or 0


@router.get("/held/map")
def map_page(request: Request, sku: str = "", m_product_id: str = "", m_product_value: str = "", channel: str = "",
             admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    """The Map form of a held group, prefilled with its SKU (and, after a look-up, with the product asked for)."""
    with session_scope(pages.settings(), readonly=True) as session:
        waiting = _waiting_for(session, sku) if sku else 0
        names = sorted({n for n in session.scalars(select(OrderLine.name).where(OrderLine.sku == sku).limit(20)) if n})
        channels = [c.value for c in list_channels(session)]
    return pages.render(request, "held_map.html", admin=admin, sku=sku, waiting=waiting, names=names[:5],
                        channels=channels, chosen={"id": m_product_id[:12], "value": m_product_value[:120],
                                                   "channel": channel})


def _mapping_of(form: FormData) -> tuple[Mapping | None, str | None]:
    sku = pages.text(form, "sku")
    try:
        product_id = pages.int_or_none(form, "m_product_id")
    except ConfigError as exc:
        return None, str(exc)
    value = pages.text(form, "m_product_value") or None
    if not sku or (product_id is None) == (value is None):
        return None, "enter the SKU and either the ERP product id or its search key (Value), not both"
    if product_id is not None and not 0 < product_id <= 2**31 - 1:
        return None, f"the ERP product id must be a positive whole number, got {product_id}"
    scope = 0
    if pages.text(form, "channel"):
        with session_scope(pages.settings(), readonly=True) as session:
            try:
                scope = get_channel(session, pages.text(form, "channel")).id
            except NotFound as exc:
                return None, str(exc)
    return Mapping(sku, product_id, value, scope), None


def _checked(mappings: list[Mapping]) -> list[Checked]:
    settings = pages.settings()
    return verify(settings, lambda: session_scope(settings, readonly=True), mappings)


def deliver_now() -> None:
    """Start the ERP delivery in a worker thread (a process run like the scheduler's; skipped when one runs)."""
    threading.Thread(target=erp_delivery_job, name="erp-deliver-now", daemon=True).start()


def _map_and_release(form: FormData, back_to: str) -> Response:
    mapping, problem = _mapping_of(form)
    if mapping is None:
        return pages.back(back_to, err=problem)
    checked = _checked([mapping])[0]
    if checked.problem:
        return pages.back(back_to, err=checked.problem)
    if pages.text(form, "go") == "check":
        return pages.back(back_to, msg=f"SKU {mapping.sku}: iDempiere has {checked.found}; nothing saved yet")
    with session_scope(pages.settings()) as session:
        requeued = save_mapping(session, mapping)
    text = (f"SKU {mapping.sku} mapped to {checked.found}; {requeued} held order(s) queued again for the ERP")
    if pages.text(form, "go") == "deliver":
        deliver_now()
        text += "; ERP delivery started (see Process runs)"
    return pages.back("/admin/held" if back_to.startswith("/admin/held") else back_to, msg=text)


@router.post("/held/map")
def map_from_held(request: Request, admin: SessionInfo = Depends(pages.current_admin),
                  form: FormData = Depends(pages.csrf_form)) -> Response:
    """Check the product in the ERP, then map the SKU and release the orders held for it (optionally deliver)."""
    keep = {k: pages.text(form, k) for k in ("sku", "m_product_id", "m_product_value", "channel")}
    return _map_and_release(form, f"/admin/held/map?{urlencode({k: v for k, v in keep.items() if v})}")


def _unmapped(session) -> list[dict[str, Any]]:
    groups = problem_groups(session, ProblemFilter(state="held", destination="erp", cause="sku_unmapped"))
    return [{"sku": g["subject"], "orders": g["orders"]} for g in groups if g["subject"]]


@router.get("/skus")
def skus_page(request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    with session_scope(pages.settings(), readonly=True) as session:
        channels = {c.id: c.value for c in list_channels(session)}
        maps = [{"id": m.id, "sku": m.sku, "channel": channels.get(m.scope_channel_id, "(all channels)"),
                 "product_id": m.m_product_id, "product_value": m.m_product_value}
                for m in session.scalars(select(SkuMap).order_by(SkuMap.sku))]
        unmapped = _unmapped(session)
    return pages.render(request, "skus.html", admin=admin, maps=maps, unmapped=unmapped,
                        channels=sorted(channels.values()))


@router.post("/skus")
def map_sku(request: Request, admin: SessionInfo = Depends(pages.current_admin),
            form: FormData = Depends(pages.csrf_form)) -> Response:
    """Map a SKU (or change its mapping) once the ERP has the product, and re-queue the orders held for it."""
    return _map_and_release(form, "/admin/skus")


@router.post("/skus/import")
def import_skus(request: Request, admin: SessionInfo = Depends(pages.current_admin),
                form: FormData = Depends(pages.csrf_form)) -> Response:
    """CSV rows (sku,m_product_id or sku,m_product_value[,channel]): each product is checked in the ERP; the
    rows it has are saved (their held orders re-queued), the others are named with their line."""
    with session_scope(pages.settings(), readonly=True) as session:
        channels = {c.value: c.id for c in list_channels(session)}
    good, errors = parse_csv(str(form.get("csv") or ""), channels)
    checked = _checked([m for _line, m in good]) if good else []
    saved = requeued = 0
    usable = []
    for (line_no, _mapping), result in zip(good, checked, strict=True):
        if result.problem:
            errors.append(f"line {line_no}: {result.problem}")
        else:
            usable.append(result.mapping)
    if usable:
        with session_scope(pages.settings()) as session:
            for mapping in usable:
                requeued += save_mapping(session, mapping)
                saved += 1
    msg = f"{saved} mapping(s) imported; {requeued} held order(s) queued again for the ERP" if saved else None
    err = (f"{len(errors)} row(s) skipped: " + "; ".join(errors[:20])) if errors else None
    return pages.back("/admin/skus", msg=msg, err=err)


@router.post("/skus/{map_id}/delete")
def unmap_sku(map_id: pages.RowId, request: Request, admin: SessionInfo = Depends(pages.current_admin),
              _form: FormData = Depends(pages.csrf_form)) -> Response:
    with session_scope(pages.settings(), immediate=True) as session:
        row = session.get(SkuMap, map_id)
        if row is None:
            return pages.back("/admin/skus", err="that mapping no longer exists")
        sku = row.sku
        session.delete(row)
    return pages.back("/admin/skus", msg=f"mapping of SKU {sku} removed")
