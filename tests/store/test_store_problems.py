"""Held/dead/retrying deliveries grouped by cause (the query behind /admin/held, ``deliveries problems`` and
``erp status``), on SQLite and PostgreSQL; the cause derived from hold codes; the backfill of old rows."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.causes import Cause, backfill, cause_label, cause_of_hold
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, Platform, utcnow
from oms_bridge.store.problems import (
    ProblemFilter,
    problem_groups,
    problem_rows,
    rearm_problems,
    resolve_problems,
)


@pytest.mark.parametrize(("code", "cause"), [
    ("missing_sku:SAUCE-CHILI", Cause("sku_unmapped", "SAUCE-CHILI")),
    ("price_list:MUG-1@shop-a", Cause("sku_unpriced", "MUG-1")),
    ("no_sku:2611230001", Cause("line_without_sku")),  # never the order number
    ("config:shop-a", Cause("channel_config", "shop-a")),
    ("erp_config:access:OmsSyncOrder", Cause("erp_webservice", "OmsSyncOrder")),
    ("erp_docaction@shop-a", Cause("erp_docaction", "shop-a")),
    ("omnitron_product:TEA-1", Cause("oms_product_unmapped", "TEA-1")),
    ("carrier:shopee:TCAT", Cause("carrier_unmapped", "shopee:TCAT")),
    ("order_held", Cause("order_unreadable")),
    ("erp_rejected", Cause("erp_rejected")),
    (None, Cause("unknown")),
    ("something_new:x", Cause("something_new", "x")),
])
def test_cause_of_hold(code, cause) -> None:
    assert cause_of_hold(code) == cause


def test_labels_come_from_one_table() -> None:
    assert cause_label("sku_unmapped", "SAUCE-CHILI") == "SKU SAUCE-CHILI has no ERP product"
    assert cause_label("gave_up", None) == "gave up after every attempt"
    assert cause_label("something_new", "x") == "something_new: x"


def _store(settings: Settings) -> dict[str, int]:
    """Two channels; orders held, dead, retrying (one leased: in flight) and sent, for the ERP and the OMS."""
    ids: dict[str, int] = {}
    with session_scope(settings) as s:
        platform = Platform(value="p", name="P", platform_type="momo", host="http://127.0.0.1:9")
        s.add(platform)
        s.flush()
        channels = [Channel(value=v, name=v, oms_platform_id=platform.id, shop_id=v) for v in ("a", "b")]
        s.add_all(channels)
        s.flush()
        plan = [("a", "A1", "erp", "held", "missing_sku:CHILI"), ("a", "A2", "erp", "held", "missing_sku:CHILI"),
                ("b", "B1", "erp", "held", "missing_sku:CHILI"), ("b", "B2", "erp", "held", "config:b"),
                ("a", "A3", "oms", "held", "omnitron_product:CHILI"), ("a", "A4", "erp", "dead", None),
                ("a", "A5", "erp", "retry", None), ("a", "A6", "erp", "leased", None), ("b", "B3", "erp", "sent", None)]
        for chan, number, dest, state, code in plan:
            order = Order(oms_channel_id=channels[0 if chan == "a" else 1].id, external_id=number, status="paid")
            s.add(order)
            s.flush()
            (row,) = outbox.arm(s, order, [dest])
            s.flush()
            if state == "held":
                outbox.mark_held(row, f"order {number}: {code}", code=code)
            elif state == "dead":
                outbox.mark_retry(row, "HTTP 500", max_attempts=1, failure="HTTP 500")
            elif state == "retry":
                outbox.mark_retry(row, "timeout", max_attempts=5, failure="timeout")
            elif state == "leased":
                outbox.lease_due(s, "erp", lease_seconds=600, limit=1, where=Delivery.id == row.id)
            elif state == "sent":
                outbox.mark_sent(row)
            s.flush()
            ids[number] = row.id
    return ids


def test_groups_filters_and_actions(store_settings: Settings) -> None:
    ids = _store(store_settings)
    with session_scope(store_settings, readonly=True) as s:
        groups = problem_groups(s)
        assert [(g["destination"], g["state"], g["cause"], g["subject"], g["orders"]) for g in groups] == [
            ("erp", "held", "sku_unmapped", "CHILI", 3), ("erp", "dead", "gave_up", "HTTP 500", 1),
            ("erp", "held", "channel_config", "b", 1), ("erp", "retrying", "delivery_failed", "timeout", 1),
            ("oms", "held", "oms_product_unmapped", "CHILI", 1)]  # the leased row is in flight, not a problem
        assert groups[0]["label"] == "SKU CHILI has no ERP product" and groups[0]["since"] is not None
        by_channel = problem_groups(s, ProblemFilter(channel="b"))
        assert {(g["cause"], g["orders"]) for g in by_channel} == {("sku_unmapped", 1), ("channel_config", 1)}
        assert [g["state"] for g in problem_groups(s, ProblemFilter(state="dead"))] == ["dead"]
        assert [g["destination"] for g in problem_groups(s, ProblemFilter(destination="oms"))] == ["oms"]
        total, rows = problem_rows(s, ProblemFilter(cause="sku_unmapped", subject="CHILI"), limit=2)
        assert total == 3 and len(rows) == 2 and {r["order"] for r in rows} <= {"A1", "A2", "B1"}
        total, page2 = problem_rows(s, ProblemFilter(cause="sku_unmapped", subject="CHILI"), offset=2, limit=2)
        assert total == 3 and len(page2) == 1
    with session_scope(store_settings) as s:
        assert rearm_problems(s, ProblemFilter(state="held", destination="erp", cause="sku_unmapped",
                                               subject="CHILI", channel="a")) == 2
        assert resolve_problems(s, ProblemFilter(ids=[ids["A4"], ids["A6"]]), note="done by hand", by="ops") == 1
    with session_scope(store_settings, readonly=True) as s:
        states = dict(s.execute(select(Delivery.id, Delivery.state)).tuples().all())
        assert (states[ids["A1"]], states[ids["A2"]], states[ids["B1"]]) == ("pending", "pending", "held")
        assert states[ids["A4"]] == "resolved" and states[ids["A6"]] == "retry"  # a leased row is never touched
        assert s.get(Delivery, ids["A4"]).last_error == "resolved by ops: done by hand"


def test_backfill_derives_causes_of_old_rows(store_settings: Settings) -> None:
    ids = _store(store_settings)
    with session_scope(store_settings) as s:
        s.execute(update(Delivery).values(cause_code=None, cause_subject=None))
    with session_scope(store_settings) as s:
        assert backfill(s) == 8  # held 5, dead 1, retry 2 (one of them leased); the sent row stays without
    with session_scope(store_settings, readonly=True) as s:
        got = {d.id: (d.cause_code, d.cause_subject) for d in s.scalars(select(Delivery))}
    assert got[ids["A1"]] == ("sku_unmapped", "CHILI") and got[ids["B2"]] == ("channel_config", "b")
    assert got[ids["A4"]] == ("gave_up", None) and got[ids["A5"]] == ("delivery_failed", None)
    assert got[ids["B3"]] == (None, None)
    with session_scope(store_settings) as s:
        assert backfill(s) == 0


def test_a_new_order_version_clears_the_cause(store_settings: Settings) -> None:
    ids = _store(store_settings)
    with session_scope(store_settings) as s:
        row = s.get(Delivery, ids["A1"])
        order = s.get(Order, row.oms_order_id)
        order.version += 1
        outbox.arm(s, order, ["erp"])
        assert (row.state, row.cause_code, row.cause_subject) == ("pending", None, None)
        outbox.mark_deferred(row, "waiting for the OMS", until=utcnow() + timedelta(minutes=5))
        assert row.cause_code == "deferred"
