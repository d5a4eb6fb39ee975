"""order_item_bulk_update (idempotent, all-or-nothing) and cancellation plans."""

from __future__ import annotations

from oms_fake_client import FakeOms
from oms_helpers import add_channel, add_order, bump_order
from sqlalchemy import select

from oms_bridge.store.db import session_scope
from oms_bridge.store.models.oms import OmsCancellationPlan, OmsOrderItem


def _items(oms: FakeOms, number: str) -> list[dict]:
    return oms.pull_all("orders", number=number)[0]["orderitem_set"]


def test_oms_bulk_update_is_idempotent(oms: FakeOms, sqlite_settings, channel_id):
    add_order(sqlite_settings, channel_id, "B1", lines=(("SOCK-WOOL-M", "羊毛襪", "2", "180", "0"),))
    first, second = _items(oms, "B1")
    body = [{"id": first["id"], "status": "500", "tracking_number": "TW-1", "invoice_number": "AB-12345678",
             "invoice_date": "2026-03-02T10:00:00+08:00"}]
    resp = oms.post("order_item_bulk_update", body)
    assert resp.status_code == 200, resp.text
    assert (resp.json()["updated"], resp.json()["unchanged"]) == (1, 0)
    again = oms.post("order_item_bulk_update", {"items": body})
    assert (again.json()["updated"], again.json()["unchanged"]) == (0, 1)
    now = {i["id"]: i for i in _items(oms, "B1")}
    assert now[first["id"]]["status"] == "500" and now[first["id"]]["tracking_number"] == "TW-1"
    assert now[first["id"]]["invoice_date"] == "2026-03-02T02:00:00Z"
    assert now[second["id"]]["status"] == "400"  # untouched unit still follows the order
    shipped = oms.pull_all("orderitem_set", status="500")
    assert [i["id"] for i in shipped] == [first["id"]]
    with session_scope(sqlite_settings) as s:
        assert s.get(OmsOrderItem, first["id"]).oms_updated_at is not None


def test_oms_bulk_update_rejects_bad_bodies_without_writing(oms: FakeOms, sqlite_settings, channel_id):
    add_order(sqlite_settings, channel_id, "B2")
    item = _items(oms, "B2")[0]
    cases = [
        ([], "body"), ({"nothing": 1}, "body"), ("text", "body"),
        ([{"status": "500"}], "items[0].id"), ([{"id": "x"}], "items[0].id"),
        ([{"id": item["id"], "status": {"a": 1}}], "items[0].status"),
        ([{"id": item["id"], "invoice_date": "soon"}], "items[0].invoice_date"),
        ([{"id": item["id"], "status": "500"}, {"id": 999999, "status": "500"}], "999999"),
    ]
    for body, named in cases:
        resp = oms.post("order_item_bulk_update", body)
        assert resp.status_code in (400, 422), (body, resp.text)
        assert named in resp.text, (body, resp.text)
    assert _items(oms, "B2")[0]["status"] == "400"  # the valid first entry of the last case was not applied


def test_oms_cancellation_plan_lifecycle(oms: FakeOms, sqlite_settings, channel_id):
    oid = add_order(sqlite_settings, channel_id, "C1", lines=(("PEN-GEL-05", "中性筆", "2", "120", "0"),))
    add_order(sqlite_settings, channel_id, "C2")
    assert oms.pull_all("cancellation_plans") == []
    bump_order(sqlite_settings, oid, status="cancelled")
    plans = oms.pull_all("cancellation_plans", cancellation_plan_status="waiting")
    assert len(plans) == 1
    plan = plans[0]
    assert (plan["plan_type"], plan["status"], plan["order"], plan["order_number"]) == ("cancel", "waiting", oid, "C1")
    items = [i["id"] for i in _items(oms, "C1")]
    assert [i["order_item"] for i in plan["order_items"]] == items
    assert all(i["status"] == "100" for i in _items(oms, "C1"))  # marketplace wins for cancellations
    assert oms.pull_all("cancellation_plans") == plans  # reading again makes no second plan

    oms.post("order_item_bulk_update", [{"id": items[0], "status": "100"}])
    assert oms.pull_all("cancellation_plans", status="waiting")[0]["id"] == plan["id"]
    done = oms.post("order_item_bulk_update", [{"id": i, "status": "100"} for i in items]).json()
    assert done["completed_plans"] == [plan["id"]]
    assert oms.pull_all("cancellation_plans", status="waiting") == []
    assert oms.pull_all("cancellation_plans", plan_type="cancel", order_number="C1")[0]["status"] == "completed"

    bump_order(sqlite_settings, oid, status="returned")
    refund = oms.pull_all("cancellation_plans", plan_type="refund")
    assert len(refund) == 1 and refund[0]["order"] == oid
    with session_scope(sqlite_settings) as s:
        assert len(s.scalars(select(OmsCancellationPlan)).all()) == 2


def test_oms_quantity_change_keeps_item_ids(oms: FakeOms, sqlite_settings, channel_id):
    from decimal import Decimal

    from oms_bridge.store.models import OrderLine

    oid = add_order(sqlite_settings, channel_id, "Q1", lines=(("MUG-CER-350", "馬克杯", "3", "299", "0"),))
    before = [i["id"] for i in _items(oms, "Q1")]
    with session_scope(sqlite_settings) as s:
        s.scalars(select(OrderLine).where(OrderLine.oms_order_id == oid)).one().qty = Decimal("2")
    bump_order(sqlite_settings, oid)
    after = [i["id"] for i in _items(oms, "Q1")]
    assert after == before[:2]


def test_items_made_while_another_reader_made_some_are_read_back(store_settings):
    """Items made on a first read are served as inserted (only their ids read back); when another reader
    made some of the same units first (its rows win the unique key), the page reads the items back and serves
    theirs, one item per unit either way (issue 18)."""
    from oms_bridge.oms.items import ensure_items_of, item_rows
    from oms_bridge.store.models import Order, OrderLine

    order_id = add_order(store_settings, add_channel(store_settings), "B9",
                         lines=(("SOCK-WOOL-M", "羊毛襪", "3", "180", "0"),))
    with session_scope(store_settings) as s:
        order = s.get(Order, order_id)
        lines = list(s.scalars(select(OrderLine).where(OrderLine.oms_order_id == order_id)))
        ours = ensure_items_of(s, [(order, lines, [])])[order_id]  # nobody made them yet: served as inserted
        assert ours == sorted(item_rows(s, [order_id]), key=lambda i: i.id)
        s.execute(OmsOrderItem.__table__.delete().where(OmsOrderItem.oms_order_id == order_id,
                                                        OmsOrderItem.unit_no > 1))
        theirs = s.scalar(select(OmsOrderItem.id).where(OmsOrderItem.oms_order_id == order_id))
        # This reader looked before unit 1 existed: it inserts all three, the other reader's unit 1 wins.
        served = ensure_items_of(s, [(order, lines, [])])[order_id]
        assert [i.unit_no for i in served] == [1, 2, 3] and served[0].id == theirs
        assert served == sorted(item_rows(s, [order_id]), key=lambda i: i.id)
