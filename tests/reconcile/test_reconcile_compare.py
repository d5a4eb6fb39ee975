"""The comparison itself (pure): Taipei day boundaries, every reason, other shops' ERP orders, sides not compared."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from oms_bridge.reconcile.compare import DeliveryState, Inputs, StoredOrder, compare, day_of
from platforms.base import OrderRef

NOW = datetime(2026, 3, 16, 4, 0, tzinfo=UTC)  # 12:00 Taipei on 2026-03-16
LAG = NOW - timedelta(minutes=60)
# 2026-03-15 23:59:59 Taipei and 2026-03-16 00:00:00 Taipei, as UTC
LAST_SECOND = datetime(2026, 3, 15, 15, 59, 59, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 15, 16, 0, 0, tzinfo=UTC)


def sent(erp_id: int | None = None, **kw) -> DeliveryState:
    return DeliveryState(state="sent", erp_record_id=erp_id, armed_at=NOW - timedelta(hours=5), **kw)


def stored(number: str, created: datetime, *, erp: DeliveryState | None = None, oms: DeliveryState | None = None,
           **kw) -> StoredOrder:
    deliveries = {k: v for k, v in (("erp", erp), ("oms", oms)) if v is not None}
    return StoredOrder(external_id=number, reference=number, created=created, updated=created, status="paid",
                       deliveries=deliveries, **kw)


def inputs(orders, listed, erp_rows, **kw) -> Inputs:
    values = {"channel": "shop-a", "first_day": date(2026, 3, 15), "last_day": date(2026, 3, 16), "now": NOW,
              "lag_cutoff": LAG, "stored": orders, "listed": listed, "erp_rows": erp_rows, "erp_source": 1000001,
              "destinations": ("erp", "oms")}
    values.update(kw)
    return Inputs(**values)


def test_taipei_midnight_splits_the_days() -> None:
    assert day_of(LAST_SECOND) == date(2026, 3, 15) and day_of(MIDNIGHT) == date(2026, 3, 16)
    orders = [stored("A", LAST_SECOND, erp=sent(1), oms=sent()), stored("B", MIDNIGHT, erp=sent(2), oms=sent())]
    refs = [OrderRef("A", updated_at=LAST_SECOND, created_at=LAST_SECOND),
            OrderRef("B", updated_at=MIDNIGHT, created_at=MIDNIGHT)]
    erp = {"A": [{"POReference": "A", "C_OrderSource_ID": "1000001"}], "B": [{"POReference": "B"}]}
    report = compare(inputs(orders, refs, erp))
    assert [(d.day, d.listed, d.stored, d.in_erp, d.oms_taken) for d in report.days] == [
        (date(2026, 3, 15), 1, 1, 1, 1), (date(2026, 3, 16), 1, 1, 1, 1)]
    assert report.outcome == "match" and report.differences == []


def test_every_reason_is_named() -> None:
    old = NOW - timedelta(hours=5)
    orders = [
        stored("HELD", old, erp=DeliveryState("held", "missing_sku:X", "SKU X unknown", old), oms=sent()),
        stored("WAIT", old, erp=DeliveryState("waiting", "awaiting:unpaid", "order WAIT is unpaid", old), oms=sent()),
        stored("DEAD", old, erp=DeliveryState("dead", None, "gave up after 8 attempts: 503", old), oms=sent()),
        stored("QUEUED", old, erp=DeliveryState("retry", None, "connection refused", old), oms=sent()),
        stored("JUSTNOW", old, erp=DeliveryState("pending", armed_at=NOW - timedelta(minutes=5)), oms=sent()),
        stored("CANCEL", old, erp=sent(None, external_ref="cancelled before reaching the ERP"), oms=sent()),
        stored("INTAKE", old, is_held=True, held_reason="unknown status", erp=DeliveryState("held", "order_held"),
               oms=DeliveryState("pending", armed_at=old)),
        stored("GONE", old, erp=sent(77), oms=None),
    ]
    refs = [OrderRef(o.external_id, updated_at=old, created_at=old) for o in orders]
    refs += [OrderRef("NEVER", updated_at=old, created_at=old),
             OrderRef("RECENT", updated_at=NOW - timedelta(minutes=2), created_at=NOW - timedelta(minutes=2))]
    report = compare(inputs(orders, refs, {}))
    found = {(d.order, d.where, d.reason) for d in report.differences}
    assert found == {
        ("HELD", "erp", "held"), ("WAIT", "erp", "waiting"), ("DEAD", "erp", "dead"), ("QUEUED", "erp", "missing"),
        ("JUSTNOW", "erp", "not_yet_due"), ("CANCEL", "erp", "cancelled"), ("INTAKE", "erp", "held"),
        ("INTAKE", "oms", "held"), ("GONE", "erp", "missing"), ("GONE", "oms", "missing"),
        ("NEVER", "store", "missing"), ("RECENT", "store", "not_yet_due")}
    assert report.missing == 5  # DEAD, QUEUED, GONE (erp), GONE (oms), NEVER
    detail = {(d.order, d.where): d.detail for d in report.differences}
    assert "connection refused" in detail[("QUEUED", "erp")] and "(Asia/Taipei)" in detail[("QUEUED", "erp")]
    assert "no OMS delivery row" in detail[("GONE", "oms")]
    assert "oms-bridge erp retry --order GONE --sent" in detail[("GONE", "erp")]


def test_another_shops_order_with_the_same_number_is_not_ours() -> None:
    old = NOW - timedelta(hours=5)
    orders = [stored("#1101", old, erp=sent(5), oms=sent())]
    other_shop = {"#1101": [{"POReference": "#1101", "C_OrderSource_ID": "1000002"}]}
    report = compare(inputs(orders, None, other_shop))
    assert [(d.order, d.where, d.reason) for d in report.differences] == [("#1101", "erp", "missing")]


def test_sides_not_compared_stay_unknown_not_zero() -> None:
    old = NOW - timedelta(hours=5)
    report = compare(inputs([stored("A", old, oms=sent())], None, None, destinations=("oms",)))
    assert (report.listed, report.in_erp, report.oms_taken, report.stored) == (None, None, 1, 1)
    assert report.outcome == "match"
    assert [d.listed for d in report.days] == [None, None]


def test_orders_outside_the_days_are_left_out() -> None:
    before = datetime(2026, 3, 14, 10, tzinfo=UTC)
    orders = [stored("OLD", before, erp=sent(1), oms=sent())]
    refs = [OrderRef("OLD", updated_at=NOW - timedelta(hours=3), created_at=before)]  # changed later, created before
    report = compare(inputs(orders, refs, {}))
    assert report.stored == 0 and report.listed == 0 and report.differences == []


def test_a_listing_without_times_is_placed_by_its_window() -> None:
    """Shopee lists order numbers only: an order the store has counts on the day the store read (run.py gives
    the ref that time); one it lacks, on the day of the listing window that showed it, and one shown only by the
    lag window is not yet due. Before, every time-less ref fell outside the days: all stored orders read
    ``not_listed`` and a lost order went unnoticed."""
    orders = [stored("KNOWN", LAST_SECOND, erp=sent(1), oms=sent())]
    refs = [OrderRef("KNOWN", created_at=LAST_SECOND), OrderRef("LOST"), OrderRef("FRESH"), OrderRef("NOWHERE")]
    located = {"LOST": (MIDNIGHT, LAG), "FRESH": (LAG, NOW)}
    report = compare(inputs(orders, refs, {"KNOWN": [{"POReference": "KNOWN"}]}, located=located))
    assert {(d.order, d.day, d.where, d.reason) for d in report.differences} == {
        ("LOST", date(2026, 3, 16), "store", "missing"), ("FRESH", date(2026, 3, 16), "store", "not_yet_due")}
    assert [(d.day, d.listed, d.stored) for d in report.days] == [(date(2026, 3, 15), 1, 1), (date(2026, 3, 16), 2, 0)]
    assert "the listing shows no time" in next(d.detail for d in report.differences if d.order == "FRESH")
