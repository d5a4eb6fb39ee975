"""The Seller-Center API the OMS pulls from, under ``/api/v1/applications/oms/``.

One route per ``endpoint_conf`` name of OMNITRON_CLIENT_SETTINGS (the OMS appends the endpoint name
and a slash to the configured base URL, as omnisdk does), each guarded by its own token
(``Authorization: Token <token>``): ``orders/`` and ``orders/{pk}/``, ``orderitem_set/``,
``order_item_bulk_update/`` (POST), ``cancellation_plans/``, ``countries/``, ``countries_count/``,
``countries_with_code/``, ``cities/``, ``townships/``, ``townships_count/``, ``districts/``,
``districts_count/``. The package webhooks are in :mod:`oms_bridge.oms.webhooks`.

Lists are DRF page-number pages (``limit``, ``page`` → ``{count, next, previous, results}``); a
page past the end is 404 ``Invalid page.`` as in DRF. ``orders/``'s ``next`` links continue after the page's
last order (``after``, see :func:`list_orders`). ``*_count`` answer ``{"count": N}`` with the
same filters as their list. ``countries_with_code`` is the country list looked up by ISO ``code``
(case-insensitive). Bad filter values are 400 naming the parameter. The JSON shapes are in
:mod:`oms_bridge.oms.serializers`; docs/oms.md lists every filter.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Depends, HTTPException, Query, Request
from sqlalchemy import Select, func, or_, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from starlette.datastructures import URL

from oms_bridge.oms.addresses import catalogue_loaded, ensure_catalogue
from oms_bridge.oms.config import API_PREFIX, OmsConfig
from oms_bridge.oms.deps import current_config, db_session, token_guard
from oms_bridge.oms.events import acknowledge, served_already
from oms_bridge.oms.filters import (
    FilterError,
    Page,
    check_int,
    page_body,
    parse_bool,
    parse_datetime,
    parse_int_list,
    parse_page,
    parse_str_list,
)
from oms_bridge.oms.items import ItemUpdate, apply_item_updates, ensure_missing_items
from oms_bridge.oms.json_body import json_body
from oms_bridge.oms.orders import (
    OrderFilters,
    canonical_for_codes,
    count_of,
    order_payloads,
    order_query,
    order_rows,
    page_of,
    servable,
    serve_orders,
)
from oms_bridge.oms.plans import complete_plans, plan_item_ids, sync_plans
from oms_bridge.oms.products import product_ids
from oms_bridge.oms.serializers import (
    MARKETPLACE_WINS,
    city_json,
    country_json,
    district_json,
    items_json,
    plan_json,
    township_json,
)
from oms_bridge.oms.webhooks import router as webhooks_router
from oms_bridge.settings import get_settings
from oms_bridge.store.db import refused_as_readonly, session_scope
from oms_bridge.store.models import Delivery, Order, OrderLine
from oms_bridge.store.models.oms import (
    OmsCancellationPlan,
    OmsCity,
    OmsCountry,
    OmsDistrict,
    OmsOrderItem,
    OmsTownship,
)
from oms_bridge.store.statistics import note_load

__all__ = ["router"]



router = APIRouter(prefix=API_PREFIX, tags=["oms"])
router.include_router(webhooks_router)

LimitQ = Query(None, description="page size (default 10, capped)")
PageQ = Query(None, description="page number, from 1")
AfterQ = Query(None, description="continue after this order id (the next links carry it)")


@contextmanager
def bad_request() -> Iterator[None]:
    """A filter error becomes 400 naming the parameter."""
    try:
        yield
    except FilterError as exc:
        raise HTTPException(status_code=400, detail=str(exc)) from None


def _page(config: OmsConfig, limit: int | None, page: int | None) -> Page:
    return parse_page(limit, page, default=config.default_page_size, maximum=config.max_page_size)


def _public_url(request: Request, config: OmsConfig) -> URL:
    """The request's URL on the configured public address (``next``/``previous`` links are built on it).

    Never the request's own scheme and ``Host``: a forged Host header would otherwise be reflected into
    the links the OMS follows."""
    base = (config.public_base_url or get_settings().base_url).rstrip("/")
    return URL(base + request.url.path + (f"?{request.url.query}" if request.url.query else ""))


def _paged(session: Session, stmt: Select, page: Page) -> tuple[int, list[Any]]:
    """(count, the page's rows) of ``stmt``; a page past the end is 404 as in DRF."""
    count = count_of(session, stmt)
    if page.number > 1 and page.offset >= count:
        raise HTTPException(status_code=404, detail="Invalid page.")
    rows = session.scalars(stmt.offset(page.offset).limit(page.limit)).all()
    return count, list(rows)


@dataclass(frozen=True)
class _OrderPage:
    """A page of ``orders/``: the filtered count, the page's orders (plain rows), whether more follow."""

    count: int
    orders: list[Any]
    more: bool

    def body(self, url: URL, page: Page, results: list[Any]) -> dict[str, Any]:
        """The DRF page, its ``next`` link continuing after this page's last order (see :func:`list_orders`)."""
        return page_body(url, self.count, page, results, has_next=self.more,
                         after=self.orders[-1].id if self.orders else None)


def _order_page(session: Session, stmt: Select, page: Page, after: int | None) -> _OrderPage:
    """The page of ``orders/`` asked for: by page number, or after an order id (see :func:`list_orders`)."""
    count = count_of(session, stmt)
    if after is None and page.number > 1 and page.offset >= count:
        raise HTTPException(status_code=404, detail="Invalid page.")
    orders, more = page_of(session, order_rows(stmt), page.limit, offset=page.offset, after=after)
    return _OrderPage(count, orders, more)


# ----------------------------------------------------------------------------------------- orders
def _order_filters(status: str | None, status__in: str | None, number: str | None, channel: str | None,
                   id__in: str | None, modified_date__gte: str | None, modified_date__gt: str | None,
                   modified_date__lte: str | None, modified_date__lt: str | None, date_placed__gte: str | None,
                   date_placed__lte: str | None) -> OrderFilters:
    codes = parse_str_list(status__in)
    if status:
        codes = (codes or []) + [status]
    return OrderFilters(
        status=codes, number=number or None, channel=channel or None, ids=parse_int_list("id__in", id__in),
        modified_gte=parse_datetime("modified_date__gte", modified_date__gte),
        modified_gt=parse_datetime("modified_date__gt", modified_date__gt),
        modified_lte=parse_datetime("modified_date__lte", modified_date__lte),
        modified_lt=parse_datetime("modified_date__lt", modified_date__lt),
        placed_gte=parse_datetime("date_placed__gte", date_placed__gte),
        placed_lte=parse_datetime("date_placed__lte", date_placed__lte),
    )


@router.get("/orders/", dependencies=[Depends(token_guard("orders"))])
def list_orders(request: Request, background: BackgroundTasks, limit: int | None = LimitQ, page: int | None = PageQ,
                status: str | None = None, status__in: str | None = None, number: str | None = None,
                channel: str | None = None, id__in: str | None = None, modified_date__gte: str | None = None,
                modified_date__gt: str | None = None, modified_date__lte: str | None = None,
                modified_date__lt: str | None = None, date_placed__gte: str | None = None,
                date_placed__lte: str | None = None, after: int | None = AfterQ,
                config: OmsConfig = Depends(current_config)) -> dict[str, Any]:
    """Orders, oldest first; reading them records them as offered (see orders.py).

    Pages are DRF page-number pages, and each ``next`` link also says which order the next page continues after
    (``after=<the page's last id>``): a client following ``next`` gets the orders with a higher id, whatever
    happened to the orders before them meanwhile. Why: with an offset alone, an order of an earlier page that
    leaves the filter during the walk (held, or its status no longer the one asked for) moved every later order one
    place up, and the first order of the next page was never served in that walk; the OMS's next
    ``modified_date__gte`` poll starts later, so it could miss it for good. It also spares the database skipping
    every earlier page's orders on every page (issue 18). ``count`` is still the filter's current total, and
    ``next`` is given exactly when more orders follow.

    A page with nothing to write (every order's version already offered and recorded, its items and places
    there) is served from a read-only transaction: on SQLite it never takes the write lock, so the OMS's steady
    polling does not queue behind GetOrder nor make it queue. Otherwise (or when the read-only attempt meets a
    write it did not foresee: a unit to deactivate, a new place) the page is served again from the start in a
    write transaction, which sees and records a consistent state.
    """
    with bad_request():
        pg = _page(config, limit, page)
        check_int("after", after)
        filters = _order_filters(status, status__in, number, channel, id__in, modified_date__gte,
                                 modified_date__gt, modified_date__lte, modified_date__lt, date_placed__gte,
                                 date_placed__lte)
    settings = get_settings()
    body = None
    if pg.number == 1 or _LOOK_FIRST.worth_it:
        try:
            with session_scope(settings, readonly=True) as session:
                body = _look(session, request, config, filters, pg, after)
        except OperationalError as exc:
            if not refused_as_readonly(exc):
                raise
        _LOOK_FIRST.worth_it = body is not None
    if body is None:
        with session_scope(settings) as session:
            body, recorded = _serve(session, request, config, filters, pg, after)
        _LOOK_FIRST.worth_it = not recorded
        if recorded and not settings.is_sqlite:  # after the response: the tables it loads keep their statistics
            background.add_task(note_load, settings, recorded)
    return body


class _LookFirst:
    """Whether a later page of ``orders/`` (page 2 on) is worth trying read-only first.

    An OMS working through new orders reads page after page that each must be recorded: a read-only look first
    would be paid on every page and thrown away (a tenth of a first read). So after a page that had to be
    recorded, the next page 2, 3 … goes straight to a write transaction; after a write transaction that recorded
    nothing, read-only looks resume. A first page always looks first: a poll starts there, and a poll that finds
    nothing new must never queue behind GetOrder for SQLite's write lock. Only a guess of what is cheaper: either
    path serves and records the same, so a wrong guess (two OMS clients, threads racing on the flag) costs time,
    never correctness.
    """

    worth_it = True


_LOOK_FIRST = _LookFirst()


def _look(session: Session, request: Request, config: OmsConfig, filters: OrderFilters, pg: Page,
          after: int | None) -> dict[str, Any] | None:
    """The page's body, read-only; None when serving it would have to record something (see list_orders)."""
    if not catalogue_loaded(session):
        return None
    found = _order_page(session, order_query(session, filters, config), pg, after)
    if config.order_notify == "pull" and not served_already(session, found.orders):
        return None
    return found.body(_public_url(request, config), pg, order_payloads(session, found.orders, config))


def _serve(session: Session, request: Request, config: OmsConfig, filters: OrderFilters, pg: Page,
           after: int | None) -> tuple[dict[str, Any], int]:
    """(the page's body, how many of its orders serving it recorded something), in a write transaction."""
    ensure_catalogue(session)
    found = _order_page(session, order_query(session, filters, config), pg, after)
    served, recorded = serve_orders(session, found.orders, config)
    return found.body(_public_url(request, config), pg, served), recorded


def _servable_order(session: Session, pk: int, config: OmsConfig) -> Order:
    order = (session.scalars(select(Order).where(Order.id == pk, servable(config))).one_or_none()
             if -2**31 < pk < 2**31 else None)
    if order is None:
        raise HTTPException(status_code=404, detail="Not found.")
    return order


@router.get("/orders/{pk}/", dependencies=[Depends(token_guard("orders"))])
def get_order(pk: int, session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
              ) -> dict[str, Any]:
    """One order by its ``pk``."""
    order = _servable_order(session, pk, config)
    ensure_catalogue(session)
    return serve_orders(session, [order], config)[0][0]


@router.post("/orders/{pk}/ack/", dependencies=[Depends(token_guard("orders"))])
def ack_order(pk: int, session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
              ) -> dict[str, Any]:
    """The OMS says it has the order (the version it was last offered): its ``oms`` delivery counts as sent.

    Not an Akinon call: for an integrator who wants delivery confirmed before any package exists.
    Idempotent; an order never offered to the OMS is 409.
    """
    order = _servable_order(session, pk, config)
    marked = acknowledge(session, [order.id], "ack call")
    row = session.scalars(select(Delivery).where(Delivery.oms_order_id == order.id,
                                                 Delivery.destination == "oms")).one_or_none()
    if row is not None and row.state != "sent":
        raise HTTPException(status_code=409, detail=f"order {pk} version {order.version} was not offered to the OMS "
                                                    "yet: read it (orders/) or wait for its push first")
    return {"order": order.id, "acknowledged": True, "changed": bool(marked),
            "version": row.delivered_version if row is not None else order.version}


# ------------------------------------------------------------------------------------------ items
@router.get("/orderitem_set/", dependencies=[Depends(token_guard("orderitem_set"))])
def list_items(request: Request, limit: int | None = LimitQ, page: int | None = PageQ, order: str | None = None,
               order__in: str | None = None, order__number: str | None = None, status: str | None = None,
               status__in: str | None = None, id__in: str | None = None, modified_date__gte: str | None = None,
               modified_date__lte: str | None = None,
               session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
               ) -> dict[str, Any]:
    """Order items (one per unit), by id; the ``status`` filter matches the status the OMS is shown."""
    with bad_request():
        pg = _page(config, limit, page)
        order_ids = parse_int_list("order__in", order__in) or []
        order_ids += parse_int_list("order", order) or []
        ids = parse_int_list("id__in", id__in)
        codes = (parse_str_list(status__in) or []) + ([status] if status else [])
        mod_gte = parse_datetime("modified_date__gte", modified_date__gte)
        mod_lte = parse_datetime("modified_date__lte", modified_date__lte)
    ensure_missing_items(session)
    stmt = (select(OmsOrderItem).join(Order, OmsOrderItem.oms_order_id == Order.id)
            .where(OmsOrderItem.isactive.is_(True), servable(config)))
    if order is not None or order__in is not None:
        stmt = stmt.where(OmsOrderItem.oms_order_id.in_(order_ids))
    if order__number:
        stmt = stmt.where(Order.external_id == order__number)
    if ids is not None:
        stmt = stmt.where(OmsOrderItem.id.in_(ids))
    if codes:
        canon = canonical_for_codes(codes, config)
        stmt = stmt.where(or_(
            (OmsOrderItem.status.in_(codes)) & Order.status.not_in(MARKETPLACE_WINS),
            (OmsOrderItem.status.is_(None) | Order.status.in_(MARKETPLACE_WINS)) & Order.status.in_(canon),
        ))
    if mod_gte is not None:
        stmt = stmt.where(OmsOrderItem.updated >= mod_gte)
    if mod_lte is not None:
        stmt = stmt.where(OmsOrderItem.updated <= mod_lte)
    count, items = _paged(session, stmt.order_by(OmsOrderItem.id), pg)
    return page_body(_public_url(request, config), count, pg, _items_json(session, items, config))


def _items_json(session: Session, items: list[OmsOrderItem], config: OmsConfig) -> list[dict[str, Any]]:
    if not items:
        return []
    orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_({i.oms_order_id for i in items})))}
    lines = {ln.id: ln for ln in session.scalars(select(OrderLine).where(
        OrderLine.id.in_({i.oms_orderline_id for i in items})))}
    products = product_ids(session, (ln.sku for ln in lines.values()))
    by_id = {}
    for item in items:
        order, line = orders[item.oms_order_id], lines[item.oms_orderline_id]
        for data in items_json(order, [line], [item], config, products):
            by_id[data["id"]] = data
    return [by_id[i.id] for i in items if i.id in by_id]


def _parse_updates(body: Any) -> list[ItemUpdate]:
    """The bulk-update body: a list, or an object with ``items``/``order_items``/``results``."""
    if isinstance(body, dict):
        for key in ("items", "order_items", "results"):
            if isinstance(body.get(key), list):
                body = body[key]
                break
        else:
            raise FilterError("body", "expected a list of items or an object with an 'items' list")
    if not isinstance(body, list) or not body:
        raise FilterError("body", "expected a non-empty list of items")
    updates = []
    for n, entry in enumerate(body):
        where = f"items[{n}]"
        if not isinstance(entry, dict):
            raise FilterError(where, "expected an object")
        raw_id = entry.get("id", entry.get("pk", entry.get("omnitron_id")))
        if isinstance(raw_id, bool) or not isinstance(raw_id, (int, str)) or not str(raw_id).isdigit():
            raise FilterError(f"{where}.id", "required, an integer item id")
        values: dict[str, Any] = {"id": int(raw_id)}
        if int(raw_id) >= 2**31:
            raise FilterError(f"{where}.id", "out of range")
        for name in ("status", "tracking_number", "invoice_number"):
            value = entry.get(name)
            if value is None:
                continue
            if isinstance(value, bool) or not isinstance(value, (str, int)) or str(value) == "":
                raise FilterError(f"{where}.{name}", "expected a non-empty string")
            if "\x00" in str(value):
                raise FilterError(f"{where}.{name}", "contains a NUL character")
            if len(str(value)) > (10 if name == "status" else 120):
                raise FilterError(f"{where}.{name}", "too long")
            values[name] = str(value)
        if entry.get("invoice_date") is not None:
            if not isinstance(entry["invoice_date"], str):
                raise FilterError(f"{where}.invoice_date", "expected an ISO 8601 date-time string")
            values["invoice_date"] = parse_datetime(f"{where}.invoice_date", entry["invoice_date"])
        updates.append(ItemUpdate(**values))
    return updates


_BULK_BODY = {"requestBody": {"required": True, "content": {"application/json": {
    "schema": {"type": "array", "items": {"type": "object"}},
    "example": [{"id": 1, "status": "500", "tracking_number": "TW123"}]}}}}


@router.post("/order_item_bulk_update/", dependencies=[Depends(token_guard("order_item_bulk_update"))],
             openapi_extra=_BULK_BODY)
def bulk_update_items(body: Any = Depends(json_body),
                      session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
                      ) -> dict[str, Any]:
    """Item status / tracking / invoice updates from the OMS; idempotent, all-or-nothing.

    The body is read only after the token was checked (:func:`~oms_bridge.oms.json_body.json_body` is a
    dependency declared after the route's guard); its size is capped by the app (``api_max_body_bytes``)."""
    with bad_request():
        updates = _parse_updates(body)
    try:
        items, changed, unchanged = apply_item_updates(session, updates)
    except LookupError as exc:
        raise HTTPException(status_code=400, detail=f"items: no order item with id {exc.args[0]}") from None
    session.flush()
    order_ids = {i.oms_order_id for i in items}
    completed = complete_plans(session, order_ids, config)
    acknowledge(session, order_ids, "order_item_bulk_update")
    return {"updated": len(changed), "unchanged": len(unchanged), "changed_ids": changed,
            "completed_plans": completed, "results": _items_json(session, sorted(items, key=lambda i: i.id), config)}


# ------------------------------------------------------------------------------------------ plans
@router.get("/cancellation_plans/", dependencies=[Depends(token_guard("cancellation_plans"))])
def list_plans(request: Request, limit: int | None = LimitQ, page: int | None = PageQ,
               plan_type: str | None = None, status: str | None = None, cancellation_plan_status: str | None = None,
               order: str | None = None, order_id: str | None = None, order_number: str | None = None,
               id__in: str | None = None, modified_date__gte: str | None = None,
               session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
               ) -> dict[str, Any]:
    """Cancellation/refund plans (made for cancelled/returned orders when this is read)."""
    with bad_request():
        pg = _page(config, limit, page)
        order_ids = (parse_int_list("order", order) or []) + (parse_int_list("order_id", order_id) or [])
        ids = parse_int_list("id__in", id__in)
        mod_gte = parse_datetime("modified_date__gte", modified_date__gte)
    sync_plans(session)
    stmt = select(OmsCancellationPlan)
    if plan_type:
        stmt = stmt.where(OmsCancellationPlan.plan_type == plan_type)
    if status or cancellation_plan_status:
        stmt = stmt.where(OmsCancellationPlan.status == (cancellation_plan_status or status))
    if order is not None or order_id is not None:
        stmt = stmt.where(OmsCancellationPlan.oms_order_id.in_(order_ids))
    if order_number:
        stmt = stmt.join(Order, OmsCancellationPlan.oms_order_id == Order.id).where(Order.external_id == order_number)
    if ids is not None:
        stmt = stmt.where(OmsCancellationPlan.id.in_(ids))
    if mod_gte is not None:
        stmt = stmt.where(OmsCancellationPlan.updated >= mod_gte)
    count, plans = _paged(session, stmt.order_by(OmsCancellationPlan.id), pg)
    orders = {o.id: o for o in session.scalars(select(Order).where(Order.id.in_({p.oms_order_id for p in plans})))}
    return page_body(_public_url(request, config), count, pg,
                     [plan_json(p, orders[p.oms_order_id], plan_item_ids(p)) for p in plans])


# -------------------------------------------------------------------------------------- addresses
def _common(stmt: Select, model: type, *, name: str | None, name__iexact: str | None, id__in: str | None,
            is_active: str | None) -> Select:
    if name:
        stmt = stmt.where(model.name == name)
    if name__iexact:
        stmt = stmt.where(func.lower(model.name) == name__iexact.lower())
    ids = parse_int_list("id__in", id__in)
    if ids is not None:
        stmt = stmt.where(model.id.in_(ids))
    active = parse_bool("is_active", is_active)
    if active is not None:
        stmt = stmt.where(model.isactive == active)
    return stmt.order_by(model.id)


def _countries(code: str | None, code__exact: str | None, code__iexact: str | None, name: str | None,
               name__iexact: str | None, id__in: str | None, is_active: str | None) -> Select:
    stmt = select(OmsCountry)
    for value in (code, code__exact, code__iexact):
        if value:
            stmt = stmt.where(func.upper(OmsCountry.code) == value.strip().upper())
    return _common(stmt, OmsCountry, name=name, name__iexact=name__iexact, id__in=id__in, is_active=is_active)


def _list(session: Session, request: Request, config: OmsConfig, stmt: Select, limit: int | None,
          page: int | None, to_json: Any) -> dict[str, Any]:
    with bad_request():
        pg = _page(config, limit, page)
    count, rows = _paged(session, stmt, pg)
    return page_body(_public_url(request, config), count, pg, [to_json(r) for r in rows])


def _count(session: Session, stmt: Select) -> dict[str, int]:
    return {"count": count_of(session, stmt)}


@router.get("/countries/", dependencies=[Depends(token_guard("countries"))])
def list_countries(request: Request, limit: int | None = LimitQ, page: int | None = PageQ, code: str | None = None,
                   code__exact: str | None = None, code__iexact: str | None = None, name: str | None = None,
                   name__iexact: str | None = None, id__in: str | None = None, is_active: str | None = None,
                   session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
                   ) -> dict[str, Any]:
    ensure_catalogue(session)
    with bad_request():
        stmt = _countries(code, code__exact, code__iexact, name, name__iexact, id__in, is_active)
    return _list(session, request, config, stmt, limit, page, country_json)


@router.get("/countries_with_code/", dependencies=[Depends(token_guard("countries_with_code"))])
def list_countries_with_code(request: Request, limit: int | None = LimitQ, page: int | None = PageQ,
                             code: str | None = None, code__exact: str | None = None, code__iexact: str | None = None,
                             name: str | None = None, name__iexact: str | None = None, id__in: str | None = None,
                             is_active: str | None = None, session: Session = Depends(db_session),
                             config: OmsConfig = Depends(current_config)) -> dict[str, Any]:
    """Countries looked up by ISO ``code`` (case-insensitive)."""
    ensure_catalogue(session)
    with bad_request():
        stmt = _countries(code, code__exact, code__iexact, name, name__iexact, id__in, is_active)
    return _list(session, request, config, stmt, limit, page, country_json)


@router.get("/countries_count/", dependencies=[Depends(token_guard("countries_count"))])
def count_countries(code: str | None = None, code__exact: str | None = None, code__iexact: str | None = None,
                    name: str | None = None, name__iexact: str | None = None, id__in: str | None = None,
                    is_active: str | None = None, session: Session = Depends(db_session)) -> dict[str, int]:
    ensure_catalogue(session)
    with bad_request():
        stmt = _countries(code, code__exact, code__iexact, name, name__iexact, id__in, is_active)
    return _count(session, stmt)


def _cities(country: str | None, name: str | None, name__iexact: str | None, postcode: str | None,
            id__in: str | None, is_active: str | None) -> Select:
    stmt = select(OmsCity)
    if country is not None:
        stmt = stmt.where(OmsCity.oms_country_id.in_(parse_int_list("country", country) or []))
    if postcode:
        stmt = stmt.where(OmsCity.postcode == postcode)
    return _common(stmt, OmsCity, name=name, name__iexact=name__iexact, id__in=id__in, is_active=is_active)


@router.get("/cities/", dependencies=[Depends(token_guard("cities"))])
def list_cities(request: Request, limit: int | None = LimitQ, page: int | None = PageQ, country: str | None = None,
                name: str | None = None, name__iexact: str | None = None, postcode: str | None = None,
                id__in: str | None = None, is_active: str | None = None,
                session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
                ) -> dict[str, Any]:
    ensure_catalogue(session)
    with bad_request():
        stmt = _cities(country, name, name__iexact, postcode, id__in, is_active)
    return _list(session, request, config, stmt, limit, page, city_json)


def _townships(country: str | None, city: str | None, name: str | None, name__iexact: str | None,
               postcode: str | None, id__in: str | None, is_active: str | None) -> Select:
    stmt = select(OmsTownship)
    if city is not None:
        stmt = stmt.where(OmsTownship.oms_city_id.in_(parse_int_list("city", city) or []))
    if country is not None:
        stmt = stmt.join(OmsCity, OmsTownship.oms_city_id == OmsCity.id).where(
            OmsCity.oms_country_id.in_(parse_int_list("country", country) or []))
    if postcode:
        stmt = stmt.where(OmsTownship.postcode == postcode)
    return _common(stmt, OmsTownship, name=name, name__iexact=name__iexact, id__in=id__in, is_active=is_active)


@router.get("/townships/", dependencies=[Depends(token_guard("townships"))])
def list_townships(request: Request, limit: int | None = LimitQ, page: int | None = PageQ,
                   country: str | None = None, city: str | None = None, name: str | None = None,
                   name__iexact: str | None = None, postcode: str | None = None, id__in: str | None = None,
                   is_active: str | None = None, session: Session = Depends(db_session),
                   config: OmsConfig = Depends(current_config)) -> dict[str, Any]:
    ensure_catalogue(session)
    with bad_request():
        stmt = _townships(country, city, name, name__iexact, postcode, id__in, is_active)
    return _list(session, request, config, stmt, limit, page, township_json)


@router.get("/townships_count/", dependencies=[Depends(token_guard("townships_count"))])
def count_townships(country: str | None = None, city: str | None = None, name: str | None = None,
                    name__iexact: str | None = None, postcode: str | None = None, id__in: str | None = None,
                    is_active: str | None = None, session: Session = Depends(db_session)) -> dict[str, int]:
    ensure_catalogue(session)
    with bad_request():
        stmt = _townships(country, city, name, name__iexact, postcode, id__in, is_active)
    return _count(session, stmt)


def _districts(city: str | None, township: str | None, name: str | None, name__iexact: str | None,
               postcode: str | None, id__in: str | None, is_active: str | None) -> Select:
    stmt = select(OmsDistrict)
    if city is not None:
        stmt = stmt.where(OmsDistrict.oms_city_id.in_(parse_int_list("city", city) or []))
    if township is not None:
        stmt = stmt.where(OmsDistrict.oms_township_id.in_(parse_int_list("township", township) or []))
    if postcode:
        stmt = stmt.where(OmsDistrict.postcode == postcode)
    return _common(stmt, OmsDistrict, name=name, name__iexact=name__iexact, id__in=id__in, is_active=is_active)


@router.get("/districts/", dependencies=[Depends(token_guard("districts"))])
def list_districts(request: Request, limit: int | None = LimitQ, page: int | None = PageQ, city: str | None = None,
                   township: str | None = None, name: str | None = None, name__iexact: str | None = None,
                   postcode: str | None = None, id__in: str | None = None, is_active: str | None = None,
                   session: Session = Depends(db_session), config: OmsConfig = Depends(current_config)
                   ) -> dict[str, Any]:
    ensure_catalogue(session)
    with bad_request():
        stmt = _districts(city, township, name, name__iexact, postcode, id__in, is_active)
    return _list(session, request, config, stmt, limit, page, district_json)


@router.get("/districts_count/", dependencies=[Depends(token_guard("districts_count"))])
def count_districts(city: str | None = None, township: str | None = None, name: str | None = None,
                    name__iexact: str | None = None, postcode: str | None = None, id__in: str | None = None,
                    is_active: str | None = None, session: Session = Depends(db_session)) -> dict[str, int]:
    ensure_catalogue(session)
    with bad_request():
        stmt = _districts(city, township, name, name__iexact, postcode, id__in, is_active)
    return _count(session, stmt)
