"""Reading orders for the OMS: filters → rows → JSON, and recording what the OMS was offered.

Delivery rule (destination ``oms``, see :mod:`oms_bridge.oms.events`): in pull mode
(``oms.order_notify = "pull"``) an order returned by ``orders/`` or ``orders/{pk}/`` has been
*offered*: its ``oms`` row becomes ``waiting`` for the version served, and ``sent`` only when the
OMS acts on the order (package webhook, item update, ack call). A later marketplace change bumps the
order's version and ``modified_date``; GetOrder re-arms the row and the OMS's next
``modified_date__gte`` poll picks the order up again. In push mode reads change no delivery state:
the push worker (:mod:`oms_bridge.oms.push`) owns it.

Held (unmappable) orders are not served; with ``oms.product_reference = "hold"`` neither are orders
with a SKU that has no Omnitron product id (:data:`oms_bridge.oms.products.LACKS_PRODUCT_REF`).
Every other stored order is, whether or not it has an ``oms`` delivery row (orders created before
the OMS was connected are served too).
An order with an open cancellation request (``oms_cancel_request``: Shopee IN_CANCEL, momo 攔貨) is served with
``OmsConfig.cancel_request_code`` (50 cancellation_waiting) and ``extra_field.cancel_request``, so the OMS holds
it; the ``status`` filter treats it as that code. When the request closes the order's version moves on and the
OMS reads it again with its real status (cancelled when it was intercepted).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, exists, false, func, literal_column, or_, select, true
from sqlalchemy.orm import Session

from oms_bridge.oms.addresses import AddressKey, resolve_addresses
from oms_bridge.oms.config import OmsConfig
from oms_bridge.oms.events import record_served
from oms_bridge.oms.items import NOT_HELD, ensure_items_of, item_rows
from oms_bridge.oms.products import LACKS_PRODUCT_REF, product_ids
from oms_bridge.oms.serializers import ChannelRef, iso, order_json
from oms_bridge.store import cancel_requests
from oms_bridge.store.lists import one_of
from oms_bridge.store.models import Channel, Order, OrderCancelRequest, OrderLine
from oms_bridge.store.rows import columns_of, named, plain, records

__all__ = ["OrderFilters", "order_query", "count_of", "page_of", "canonical_for_codes", "channel_ref", "serve_orders",
           "order_payloads", "servable", "order_rows"]


@dataclass(frozen=True)
class OrderFilters:
    status: list[str] | None = None
    number: str | None = None
    channel: str | None = None
    ids: list[int] | None = None
    modified_gte: datetime | None = None
    modified_gt: datetime | None = None
    modified_lte: datetime | None = None
    modified_lt: datetime | None = None
    placed_gte: datetime | None = None
    placed_lte: datetime | None = None


def canonical_for_codes(codes: Sequence[str], config: OmsConfig) -> list[str]:
    """Canonical statuses whose configured code is one of ``codes``."""
    wanted = set(codes)
    return [canon for canon, code in config.status_codes.items() if code in wanted]


def _channel_clause(session: Session, value: str, config: OmsConfig) -> Any:
    """SQL condition for the ``channel`` filter (id or code), per channel mode."""
    if config.channel_mode == "static":
        return true() if value in (str(config.channel_id), config.channel_code) else false()
    conditions = [Channel.value == value, Channel.oms_channel_code == value]
    if value.isdigit():
        conditions.append(Channel.id == int(value))
    ids = session.scalars(select(Channel.id).where(or_(*conditions))).all()
    return Order.oms_channel_id.in_(ids)


def servable(config: OmsConfig) -> Any:
    """SQL condition of the orders the OMS may read (see module doc)."""
    if config.product_reference == "hold":
        return NOT_HELD & ~LACKS_PRODUCT_REF
    return NOT_HELD


def order_query(session: Session, filters: OrderFilters, config: OmsConfig) -> Select:
    """The filtered, stably ordered SELECT of servable orders."""
    stmt = select(Order).where(servable(config))
    if filters.status is not None:
        requested = exists().where(OrderCancelRequest.oms_order_id == Order.id, OrderCancelRequest.state == "open")
        wanted = Order.status.in_(canonical_for_codes(filters.status, config)) & ~requested
        stmt = stmt.where(or_(wanted, requested) if config.cancel_request_code in filters.status else wanted)
    if filters.number is not None:
        stmt = stmt.where(Order.external_id == filters.number)
    if filters.channel is not None:
        stmt = stmt.where(_channel_clause(session, filters.channel, config))
    if filters.ids is not None:
        stmt = stmt.where(Order.id.in_(filters.ids))
    for value, cond in ((filters.modified_gte, Order.updated.__ge__), (filters.modified_gt, Order.updated.__gt__),
                        (filters.modified_lte, Order.updated.__le__), (filters.modified_lt, Order.updated.__lt__),
                        (filters.placed_gte, Order.order_created.__ge__),
                        (filters.placed_lte, Order.order_created.__le__)):
        if value is not None:
            stmt = stmt.where(cond(value))
    return stmt.order_by(Order.id)


#: Order columns a served order never shows (the marketplace's raw payload is large; every UUID and time column
#: costs a conversion per row): left out of its plain row.
_UNSERVED = ("raw_payload", "payload_hash", "uu", "order_updated", "held_reason", "createdby", "updatedby", "is_held",
             "isactive")


_PAGE_ROWS = select(*columns_of(Order, without=_UNSERVED)).where(one_of(Order.id, "ids")
                                                                ).order_by(Order.id)


def order_rows(stmt: Select) -> Select:
    """``stmt`` (a SELECT of orders) reading plain rows (:mod:`oms_bridge.store.rows`) for serving: the page's
    orders are only serialised and recorded as offered, never changed."""
    return stmt.with_only_columns(*columns_of(Order, without=_UNSERVED))


def page_of(session: Session, stmt: Select, limit: int, *, offset: int = 0, after: int | None = None
            ) -> tuple[list[Any], bool]:
    """(one page of ``stmt`` (:func:`order_rows` of :func:`order_query`) as plain rows, whether more follow it): the
    ``limit`` orders from ``offset``, or the first ``limit`` with an id above ``after``. The page's ids first, then
    its rows.

    Why ids first: when the database sorts the filtered orders for the page itself (the OMS's ``modified_date__gte``
    poll: found through the ``updated`` index, served in id order), it sorts whole rows and reads every matching
    order's row for every page; sorting ids read from the index alone and then reading the page's hundred rows by id
    cost a fraction of that (issue 18). One id more than the page is read: whether more orders follow is then known
    exactly, not from a count taken by another statement.
    """
    ids_of = stmt.with_only_columns(Order.id)
    ids_of = ids_of.offset(offset) if after is None else ids_of.where(Order.id > after)
    ids = plain(session, ids_of.limit(limit + 1)).scalars().all()
    more = len(ids) > limit
    if not ids:
        return [], False
    return records(plain(session, _PAGE_ROWS, {"ids": ids[:limit]})), more


def count_of(session: Session, stmt: Select) -> int:
    """How many rows ``stmt`` (a filtered SELECT, no DISTINCT or GROUP BY) selects; its columns are left out of
    the count (an order's row is wide)."""
    counted = stmt.order_by(None).with_only_columns(literal_column("1"), maintain_column_froms=True)
    return plain(session, select(func.count()).select_from(counted.subquery())).scalar() or 0


def channel_ref(channel: Channel | None, config: OmsConfig) -> ChannelRef:
    """The OMS channel an order goes out with (see OmsConfig.channel_mode)."""
    if config.channel_mode == "per_channel" and channel is not None:
        return ChannelRef(id=channel.id, code=channel.oms_channel_code or channel.value, name=channel.name)
    return ChannelRef(id=config.channel_id, code=config.channel_code, name=config.channel_name)


def serve_orders(session: Session, orders: Sequence[Order], config: OmsConfig) -> tuple[list[dict[str, Any]], int]:
    """(JSON of these orders as the OMS reads them, how many of them reading recorded something): in pull mode they
    are recorded as offered."""
    out = order_payloads(session, orders, config)
    return out, record_served(session, orders) if config.order_notify == "pull" else 0


_LINE_FIELDS = (named(OrderLine.id), OrderLine.oms_order_id, OrderLine.line_no, OrderLine.external_line_id,
                OrderLine.sku, OrderLine.name, OrderLine.qty, OrderLine.unit_price, OrderLine.discount)
# The statements every page runs, built once with the page's ids as a parameter: building a statement costs about
# as much as running it on a page of 100 (issue 18).
_LINES = select(*_LINE_FIELDS).where(one_of(OrderLine.oms_order_id, "ids")).order_by(OrderLine.line_no)
_CHANNELS = select(Channel).where(one_of(Channel.id, "ids"))


def _address_key(order: Order) -> AddressKey:
    return (order.ship_country, order.ship_state, order.ship_city, order.ship_district, order.ship_zip)


def order_payloads(session: Session, orders: Sequence[Order], config: OmsConfig) -> list[dict[str, Any]]:
    """JSON of these orders (items made, addresses resolved, product ids looked up), in their order.

    A fixed number of statements per page, whatever its size: rows of every kind are read for the whole page,
    and what a first read must write (items, places the catalogue lacks) goes in with one statement per kind.
    """
    if not orders:
        return []
    ids = [o.id for o in orders]
    lines_by_order: dict[int, list[Any]] = {}
    # Lines are only read here: plain rows with the model's attribute names, not ORM objects (cheaper by half).
    for line in records(plain(session, _LINES, {"ids": ids})):
        lines_by_order.setdefault(line.oms_order_id, []).append(line)
    channels = {c.id: c for c in session.scalars(_CHANNELS, {"ids": list({o.oms_channel_id for o in orders})})}
    items_by_order: dict[int, list[Any]] = {i: [] for i in ids}
    for item in item_rows(session, ids):
        items_by_order[item.oms_order_id].append(item)
    products = product_ids(session, (ln.sku for lines in lines_by_order.values() for ln in lines))
    requests = cancel_requests.open_requests(session, ids)
    active = ensure_items_of(session, [(o, lines_by_order.get(o.id, []), items_by_order[o.id]) for o in orders])
    places = resolve_addresses(session, [_address_key(o) for o in orders], default_country=config.default_country)
    out = []
    for order in orders:
        lines = lines_by_order.get(order.id, [])
        items = active[order.id]
        key = _address_key(order)
        channel = channels.get(order.oms_channel_id)
        extra: dict[str, Any] = {"marketplace_channel": channel.value if channel else None}
        request = requests.get(order.id)
        if request is not None:
            extra["cancel_request"] = {"reason": request.reason, "seen_at": iso(request.seen_at),
                                       "decision": request.decision}
        out.append(order_json(order, lines, items, places[key], channel_ref(channel, config), config, extra,
                              products=products,
                              status_code=config.cancel_request_code if request is not None else None))
    return out
