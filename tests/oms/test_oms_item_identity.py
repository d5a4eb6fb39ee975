"""An OMS item keeps its id while the marketplace changes its order (both stores, through the OMS's API).

Item ids are the OMS's ``omnitron_id``s and come back in package webhooks: an id the OMS was given must stay the
same item for the life of the order. Orders are stored as GetOrder stores them (``upsert_orders``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms
from oms_helpers import add_channel, setup_json
from sqlalchemy import select

from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models.oms import OmsOrderItem
from oms_bridge.store.orders import upsert_orders
from oms_bridge.web.app import create_app
from platforms.base import Address, Buyer
from platforms.base import Order as CanonicalOrder
from platforms.base import OrderLine as CanonicalLine

T0 = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def _order(status: str = "paid", *, mug: str = "2", tea: str = "1", **changes) -> CanonicalOrder:
    order = CanonicalOrder(
        external_id="SN-ITEMS-1", status=status, platform_status=status.upper(), created_at=T0, updated_at=T0,
        currency="TWD", total=Decimal("1400"), shipping_fee=Decimal("60"),
        lines=(CanonicalLine(sku="MUG-1", name="馬克杯", qty=Decimal(mug), unit_price=Decimal("500"),
                             external_line_id="L1"),
               CanonicalLine(sku="TEA-OOLONG-150", name="烏龍茶", qty=Decimal(tea), unit_price=Decimal("340"),
                             external_line_id="L2")),
        buyer=Buyer(id="b1", name="王小明"),
        shipping_address=Address(name="王小明", city="臺北市", district="大安區", zip="106", line1="新生南路一段1號",
                                 country="TW"))
    return dataclasses.replace(order, **changes) if changes else order


@pytest.fixture
def oms(store_settings: Settings) -> Iterator[FakeOms]:
    with TestClient(create_app()) as client:
        yield FakeOms.from_setup(setup_json(), client)


def _store(settings: Settings, channel_id: int, order: CanonicalOrder) -> None:
    with session_scope(settings) as session:
        upsert_orders(session, channel_id, [order])


def _items(oms: FakeOms) -> dict[tuple[str, int], int]:
    """(SKU, unit) → item id of the one order, as the OMS reads it from ``orders/``."""
    [served] = oms.pull_all("orders", limit=10)
    units: dict[str, int] = {}
    out = {}
    for item in served["orderitem_set"]:
        sku = item["product"]["sku"]
        units[sku] = units.get(sku, 0) + 1
        out[(sku, units[sku])] = item["pk"]
    return out


def test_item_ids_survive_the_marketplace_changing_the_order(store_settings, oms):
    """Regression: a marketplace change (paid → ready to ship) deleted the order's lines and inserted them again,
    and the items went with the lines (the foreign key cascades): the OMS's next read got new item ids, and its
    package webhooks named items that no longer existed."""
    channel_id = add_channel(store_settings)
    _store(store_settings, channel_id, _order())
    first = _items(oms)
    assert sorted(first) == [("MUG-1", 1), ("MUG-1", 2), ("TEA-OOLONG-150", 1)]

    _store(store_settings, channel_id, _order("ready_to_ship", updated_at=T0 + timedelta(hours=1)))
    assert _items(oms) == first

    # Quantities change: the first mug keeps its id, the second is deactivated (not served, never renumbered);
    # the tea's first unit keeps its id and a second unit is new.
    _store(store_settings, channel_id, _order("ready_to_ship", mug="1", tea="2",
                                              updated_at=T0 + timedelta(hours=2)))
    after = _items(oms)
    assert sorted(after) == [("MUG-1", 1), ("TEA-OOLONG-150", 1), ("TEA-OOLONG-150", 2)]
    assert after[("MUG-1", 1)] == first[("MUG-1", 1)]
    assert after[("TEA-OOLONG-150", 1)] == first[("TEA-OOLONG-150", 1)]
    assert after[("TEA-OOLONG-150", 2)] not in first.values()
    with session_scope(store_settings) as session:
        gone = session.get(OmsOrderItem, first[("MUG-1", 2)])
        assert gone is not None and not gone.isactive

    # The mug comes back: its second unit is the same item again.
    _store(store_settings, channel_id, _order("ready_to_ship", mug="2", tea="2",
                                              updated_at=T0 + timedelta(hours=3)))
    again = _items(oms)
    assert again[("MUG-1", 2)] == first[("MUG-1", 2)]
    with session_scope(store_settings) as session:
        assert session.scalar(select(OmsOrderItem.isactive).where(OmsOrderItem.id == first[("MUG-1", 2)]))


def _stored_items(settings: Settings) -> list[tuple[int, int, int, bool]]:
    """(item id, line id, unit, active) of every stored item, in id order."""
    with session_scope(settings, readonly=True) as session:
        return [tuple(row) for row in session.execute(select(
            OmsOrderItem.id, OmsOrderItem.oms_orderline_id, OmsOrderItem.unit_no, OmsOrderItem.isactive)
            .order_by(OmsOrderItem.id))]


def test_getorder_makes_the_items_of_new_orders_and_the_oms_first_read_serves_them(store_settings, oms):
    """Storing a new order makes one item per unit of each line (a fractional quantity one item, none for a line
    without quantity; a held order none), in line order, so the OMS's first read only reads them: it serves exactly
    those ids and inserts nothing (issue 18)."""
    from oms_bridge.store.models import Order, OrderLine
    from platforms.base import UnmappableOrder

    channel_id = add_channel(store_settings)
    second = _order(external_id="SN-ITEMS-2", lines=(
        CanonicalLine(sku="RICE-1.5KG", name="米", qty=Decimal("1.5"), unit_price=Decimal("300")),
        CanonicalLine(sku="GIFT", name="贈品", qty=Decimal("0"), unit_price=Decimal("0"))))
    held = UnmappableOrder(external_id="SN-HELD", reason="no SKU", raw={"order_sn": "SN-HELD"})
    with session_scope(store_settings) as session:
        upsert_orders(session, channel_id, [_order(), second, held])
    stored = _stored_items(store_settings)
    with session_scope(store_settings, readonly=True) as session:
        lines = {(ext, ln.line_no): ln.id for ext, ln in session.execute(
            select(Order.external_id, OrderLine).join(OrderLine, OrderLine.oms_order_id == Order.id))}
    assert [(line, unit, active) for _id, line, unit, active in stored] == [
        (lines[("SN-ITEMS-1", 10)], 1, True), (lines[("SN-ITEMS-1", 10)], 2, True),
        (lines[("SN-ITEMS-1", 20)], 1, True), (lines[("SN-ITEMS-2", 10)], 1, True)]

    served = {o["number"]: [i["pk"] for i in o["orderitem_set"]] for o in oms.pull_all("orders", limit=10)}
    assert served == {"SN-ITEMS-1": [row[0] for row in stored[:3]], "SN-ITEMS-2": [stored[3][0]]}
    assert _stored_items(store_settings) == stored  # the read made nothing
