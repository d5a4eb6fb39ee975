"""Order items as the OMS sees them: one ``oms_order_item`` row per unit of an order line, and when they are made.

Why per unit: the Omnitron order item has no quantity field (shared/specs/akinon-oms.md §2.4), so a line of 3 mugs
is 3 items, each with its own status, tracking and invoice number. Their ids become the OMS's ``omnitron_id`` and
come back in package webhooks, so a unit's row is never renumbered (a line keeps its row while the marketplace
changes the order: :func:`oms_bridge.store.orders.upsert_orders`).

When: GetOrder makes the items of the new orders it stores (:func:`make_items_of`, one read of the lines and one
insert for a batch). The OMS's first read of those orders then only reads them; on PostgreSQL making a page's 300
units on the read (the insert, the read-back of their ids and two foreign-key checks a unit at commit) was a fifth
of the read's time, paid while the OMS waited (issue 18). Units the store lacks when the OMS reads (orders stored
before items were made at ingest, a line added or a quantity raised by the marketplace later) are made on the read by
:func:`oms_bridge.oms.items.ensure_items_of`, with the same insert (:func:`insert_units`). Every order gets its items,
as it gets its ``oms`` delivery row, whether or not an OMS is connected: three small rows an order.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.store import bulk
from oms_bridge.store.lists import one_of
from oms_bridge.store.models import OrderLine
from oms_bridge.store.models.oms import OmsOrderItem
from oms_bridge.store.rows import plain
from oms_bridge.store.uuids import new_uuids

__all__ = ["Unit", "units_of", "insert_units", "make_items_of"]

#: one item to make: (order id, line id, unit number from 1, ad_client_id, ad_org_id)
Unit = tuple[int, int, int, int, int]


def units_of(qty: Decimal | None) -> int:
    """How many OMS items a line quantity makes (a fractional quantity makes one item)."""
    if qty is None or qty <= 0:
        return 0
    whole = int(qty)
    return whole if whole == qty else 1


_COLUMNS = ("oms_order_id", "oms_orderline_id", "unit_no", "ad_client_id", "ad_org_id", "oms_order_item_uu",
            "created", "updated", "isactive", "createdby", "updatedby")


def insert_units(session: Session, units: Sequence[Unit], now: datetime) -> int:
    """Insert the item rows of ``units`` with one ``INSERT … ON CONFLICT DO NOTHING`` (a unit another reader or
    writer made first keeps its row); returns how many went in (-1: the driver could not tell)."""
    rows = [(*unit, uu, now, now, True, 0, 0) for unit, uu in zip(units, new_uuids(len(units)), strict=True)]
    return bulk.insert_rows(session, OmsOrderItem.__table__, _COLUMNS, rows, on_conflict=("oms_orderline_id",
                                                                                          "unit_no"))


#: the lines of a batch of orders with what their units need, built once (the orders as one parameter)
_LINE_UNITS = select(OrderLine.oms_order_id, OrderLine.id, OrderLine.qty, OrderLine.ad_client_id,
                     OrderLine.ad_org_id).where(one_of(OrderLine.oms_order_id, "ids")).order_by(OrderLine.id)


def make_items_of(session: Session, order_ids: Iterable[int], now: datetime) -> int:
    """Make the item of every unit of these orders' lines (see module doc); returns how many went in.

    For orders just stored: their lines have no items yet, so every unit is inserted without reading items first.
    """
    ids = list(order_ids)
    if not ids:
        return 0
    units = [(order_id, line_id, unit, client, org)
             for order_id, line_id, qty, client, org in plain(session, _LINE_UNITS, {"ids": ids}).tuples().all()
             for unit in range(1, units_of(qty) + 1)]
    return insert_units(session, units, now) if units else 0
