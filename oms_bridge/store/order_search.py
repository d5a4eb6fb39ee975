"""The orders page's query: search by number, buyer or SKU, filters, a total and one page of rows.

Kept apart from :mod:`oms_bridge.store.orders` (the upsert) because it is a read model: one row per order with
its ERP and OMS delivery states side by side (two outer joins on the ``(order, destination)`` unique key), newest
first on the ``(order_created, id)`` index read backwards (an order without a creation time comes first on
PostgreSQL, last on SQLite), counted with the same conditions.

Searching: an order number matches from its start (``260301`` finds ``260301ABC``: a range on the
``external_id`` index), a SKU matches a line's SKU exactly (the ``oms_orderline.sku`` index), a buyer matches
any part of the buyer's name, e-mail or phone, case-insensitive (a scan; measured in benchmarks/bench_admin.py).
Buyer data goes only to the page of the logged-in admin, never to a log.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select, union
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import ColumnElement

from oms_bridge.store.models import Channel, Delivery, Order, OrderLine

__all__ = ["OrderQuery", "search_orders", "SEARCH_FIELDS", "NO_DELIVERY"]

SEARCH_FIELDS = ("any", "number", "buyer", "sku")
#: The delivery-state filter value for "no delivery row for this destination".
NO_DELIVERY = "none"


@dataclass(frozen=True)
class OrderQuery:
    """What the admin asked for; empty fields do not filter. ``created_from``/``created_to`` are aware UTC."""

    text: str = ""
    field: str = "any"
    channel: str = ""
    status: str = ""
    erp_state: str = ""
    oms_state: str = ""
    unreadable: bool | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").lower() + "%"


def _number_prefix(text: str, dialect: str) -> ColumnElement[bool]:
    """Numbers starting with ``text``. SQLite compares bytes (BINARY), so a range reads the index; PostgreSQL's
    order depends on the database's collation, so it gets a LIKE prefix (indexed under the C collation)."""
    if dialect == "sqlite":
        return and_(Order.external_id >= text, Order.external_id < text + "\U0010ffff")
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return Order.external_id.like(escaped + "%", escape="\\")


def _text_conditions(q: OrderQuery, dialect: str) -> list[ColumnElement[bool]]:
    """One ``Order.id IN (... UNION ...)``: each part can use its own index (an OR of them could not)."""
    text = q.text.strip()
    if not text:
        return []
    parts = []
    if q.field in ("any", "number"):
        parts.append(select(Order.id).where(_number_prefix(text, dialect)))
    if q.field in ("any", "buyer"):
        pattern = _like(text)
        parts.append(select(Order.id).where(or_(*(func.lower(col).like(pattern, escape="\\") for col in (
            Order.buyer_name, Order.buyer_email, Order.buyer_phone, Order.ship_name)))))
    if q.field in ("any", "sku"):
        parts.append(select(OrderLine.oms_order_id).where(OrderLine.sku == text))
    return [Order.id.in_(union(*parts) if len(parts) > 1 else parts[0])]


def _state(column, wanted: str) -> ColumnElement[bool]:
    return column.is_(None) if wanted == NO_DELIVERY else column == wanted


def search_orders(session: Session, q: OrderQuery, *, offset: int = 0,
                  limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
    """(how many orders match, one page of them newest first) as plain dicts."""
    erp, oms = aliased(Delivery), aliased(Delivery)
    where = _text_conditions(q, session.get_bind().dialect.name)
    if q.channel:
        where.append(Order.oms_channel_id.in_(select(Channel.id).where(Channel.value == q.channel)))
    if q.status:
        where.append(Order.status == q.status)
    if q.unreadable is not None:
        where.append(Order.is_held.is_(q.unreadable))
    if q.created_from:
        where.append(Order.order_created >= q.created_from)
    if q.created_to:
        where.append(Order.order_created < q.created_to)
    if q.erp_state:
        where.append(_state(erp.state, q.erp_state))
    if q.oms_state:
        where.append(_state(oms.state, q.oms_state))

    def joined(stmt, deliveries: bool):
        stmt = stmt.select_from(Order)
        if deliveries:  # the count joins them only when it filters by them
            stmt = stmt.outerjoin(erp, and_(erp.oms_order_id == Order.id, erp.destination == "erp"))
            stmt = stmt.outerjoin(oms, and_(oms.oms_order_id == Order.id, oms.destination == "oms"))
        return stmt.where(*where)

    filtered = bool(q.erp_state or q.oms_state)  # the count and the page join deliveries only to filter by them
    total = session.scalar(joined(select(func.count(Order.id)), filtered)) or 0
    # one page of ids first, in exactly the index's order read backwards (NULLS LAST would make PostgreSQL sort
    # every order), then the columns of those 50 only
    order = (Order.order_created.desc(), Order.id.desc())
    ids = list(session.scalars(joined(select(Order.id), filtered).order_by(*order).offset(offset).limit(limit)))
    if not ids:
        return total, []
    stmt = (select(Order.id, Order.external_id, Channel.value, Order.status, Order.platform_status,
                   Order.order_created, Order.paid_at, Order.buyer_name, Order.total_amount, Order.currency,
                   Order.is_held, erp.state, erp.cause_code, erp.cause_subject, erp.erp_document_no, oms.state)
            .select_from(Order).join(Channel, Channel.id == Order.oms_channel_id)
            .outerjoin(erp, and_(erp.oms_order_id == Order.id, erp.destination == "erp"))
            .outerjoin(oms, and_(oms.oms_order_id == Order.id, oms.destination == "oms"))
            .where(Order.id.in_(ids)).order_by(*order))
    rows = [{"id": order_id, "number": number, "channel": channel, "status": status, "platform_status": platform_status,
             "created": created, "paid": paid, "buyer": buyer, "total": total_amount, "currency": currency,
             "unreadable": bool(held), "erp_state": erp_state, "erp_cause": erp_cause, "erp_subject": erp_subject,
             "erp_document_no": doc, "oms_state": oms_state}
            for (order_id, number, channel, status, platform_status, created, paid, buyer, total_amount, currency, held,
                 erp_state, erp_cause, erp_subject, doc, oms_state) in session.execute(stmt)]
    return total, rows
