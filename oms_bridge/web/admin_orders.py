"""Admin pages for the flow of orders: orders and an order's detail, held orders with Retry, SKU
mappings (which re-queue the orders held for a SKU). Process runs: :mod:`oms_bridge.web.admin_runs`."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from starlette.datastructures import FormData

from oms_bridge.configure.checks import ConfigError, NotFound
from oms_bridge.configure.lookups import get_channel, list_channels
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, SkuMap
from oms_bridge.store.orders import OrderNotFound, list_orders, order_detail
from oms_bridge.web import pages
from oms_bridge.web.security import SessionInfo

__all__ = ["router"]

router = APIRouter()


@router.get("/orders")
def orders_page(request: Request, channel: str = "", status: str = "", held: str = "", limit: int = 100,
                admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    with session_scope(pages.settings(), readonly=True) as session:
        rows = list_orders(session, channel=channel or None, status=status or None,
                           held={"Y": True, "N": False}.get(held), limit=max(1, min(limit, 1000)))
        channels = [c.value for c in list_channels(session)]
    return pages.render(request, "orders.html", admin=admin, orders=rows, channels=channels,
                        filters={"channel": channel, "status": status, "held": held})


@router.get("/orders/{channel}/{number}")
def order_page(channel: str, number: str, request: Request,
               admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    try:
        with session_scope(pages.settings(), readonly=True) as session:
            detail = order_detail(session, number, channel=channel)
            raw = session.scalar(select(Order.raw_payload).join(Channel, Channel.id == Order.oms_channel_id)
                                 .where(Channel.value == channel, Order.external_id == number))
    except OrderNotFound as exc:
        return pages.render(request, "message.html", status_code=404, admin=admin, title="Order", error=str(exc))
    try:
        raw_pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=False) if raw else ""
    except ValueError:
        raw_pretty = raw
    return pages.render(request, "order.html", admin=admin, order=detail, raw_payload=raw_pretty)


# ------------------------------------------------------------------------------ held orders
@router.get("/held")
def held_page(request: Request, destination: str = "", limit: int = 500,
              admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    with session_scope(pages.settings(), readonly=True) as session:
        where = [Delivery.state.in_(("held", "dead"))]
        if destination:
            where.append(Delivery.destination == destination)
        total = session.scalar(select(func.count()).select_from(Delivery).where(*where))
        stmt = (select(Delivery, Order.external_id, Channel.value)
                .join(Order, Order.id == Delivery.oms_order_id).join(Channel, Channel.id == Order.oms_channel_id)
                .where(*where).order_by(Delivery.id).limit(max(1, min(limit, 5000))))
        rows = [{"id": d.id, "destination": d.destination, "state": d.state, "reason": d.last_error,
                 "code": d.hold_code, "attempts": d.attempts, "order": number, "channel": chan, "updated": d.updated}
                for d, number, chan in session.execute(stmt)]
        unmappable = [{"order": o.external_id, "channel": chan, "reason": o.held_reason}
                      for o, chan in session.execute(select(Order, Channel.value)
                                                     .join(Channel, Channel.id == Order.oms_channel_id)
                                                     .where(Order.is_held.is_(True)).order_by(Order.id)
                                                     .limit(max(1, min(limit, 5000))))]
    return pages.render(request, "held.html", admin=admin, rows=rows, unmappable=unmappable, destination=destination,
                        total=total)


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
def _unmapped(session) -> list[dict[str, Any]]:
    prefix = "missing_sku:"
    rows = session.execute(select(Delivery.hold_code, func.count()).where(
        Delivery.state == "held", Delivery.hold_code.startswith(prefix)).group_by(Delivery.hold_code))
    return [{"sku": code[len(prefix):], "orders": n} for code, n in sorted(rows)]


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
    """Map a SKU (or change its mapping) and re-queue the orders held for it."""
    sku = pages.text(form, "sku")
    try:
        product_id = pages.int_or_none(form, "m_product_id")
    except ConfigError as exc:
        return pages.back("/admin/skus", err=str(exc))
    product_value = pages.text(form, "m_product_value") or None
    if not sku or (product_id is None and not product_value):
        return pages.back("/admin/skus", err="enter the SKU and either the ERP product id or its search key (Value)")
    with session_scope(pages.settings(), immediate=True) as session:
        scope = 0
        if pages.text(form, "channel"):
            try:
                scope = get_channel(session, pages.text(form, "channel")).id
            except NotFound as exc:
                return pages.back("/admin/skus", err=str(exc))
        row = session.scalar(select(SkuMap).where(SkuMap.sku == sku, SkuMap.scope_channel_id == scope))
        if row is None:
            row = SkuMap(sku=sku, scope_channel_id=scope)
            session.add(row)
        row.m_product_id, row.m_product_value = product_id, product_value
        requeued = outbox.rearm_held(session, "erp", code=f"missing_sku:{sku}")
    return pages.back("/admin/skus", msg=f"SKU {sku} mapped; {requeued} held order(s) queued again for the ERP")


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
