"""GetOrder against the real sandboxes: exactly once, changes picked up, windows, held orders, reauth."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from channels_kit import FAST, NOW, Bound, bind
from sqlalchemy import func, select

from channels.getorder import getorder_window, run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, OrderStatus, ProcessRun
from platforms.base import UnmappableOrder


def stored(settings, channel_id: int) -> dict[str, Order]:
    with session_scope(settings) as session:
        rows = session.scalars(select(Order).where(Order.oms_channel_id == channel_id)).all()
    return {o.external_id: o for o in rows}


def order_count(settings, channel_id: int) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(Order).where(Order.oms_channel_id == channel_id))


def test_getorder_stores_each_order_once_on_every_sandbox(any_bound: Bound):
    b = any_bound
    ids = b.sandbox.generate_orders(b.shop_id, 12, start=NOW - timedelta(hours=20), end=NOW - timedelta(hours=1))

    first = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert first.outcome == "success", first.error_text
    assert first.new == 12 and first.changed == 0
    assert first.api_calls > 0
    assert set(stored(b.settings, b.channel_id)) == set(ids)

    again = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert again.outcome == "success", again.error_text
    assert (again.new, again.changed) == (0, 0)
    assert order_count(b.settings, b.channel_id) == 12

    with session_scope(b.settings) as session:
        deliveries = session.scalars(select(Delivery)).all()
        runs = session.scalars(select(ProcessRun).where(ProcessRun.process == "getorder")).all()
    assert sorted({d.destination for d in deliveries}) == ["erp", "oms"]
    assert len(deliveries) == 24 and all(d.state == "pending" and d.action == "create" for d in deliveries)
    assert [r.outcome for r in runs] == ["success", "success"]
    assert runs[0].new == 12 and runs[1].unchanged >= 0 and runs[1].new == 0


def test_first_run_window_is_lookback_then_watermark_minus_overlap(shopee_bound: Bound):
    b = shopee_bound
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.window_from is not None
    start = run.window_to + timedelta(seconds=b.settings.getorder_lag_seconds)
    assert start - run.window_from == timedelta(minutes=b.settings.getorder_initial_lookback_minutes)
    with session_scope(b.settings) as session:
        watermark = session.get(Channel, b.channel_id).order_watermark
    assert watermark == run.window_to
    second = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert second.window_from == watermark - timedelta(minutes=b.settings.getorder_overlap_minutes)


def test_window_helper_never_moves_backwards_and_uses_settings(sqlite_settings):
    start = datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    since, until = getorder_window(None, start, sqlite_settings)
    assert (since, until) == (start - timedelta(days=1), start - timedelta(seconds=30))
    wm = datetime(2025, 12, 31, 23, 50, tzinfo=UTC)
    since, _ = getorder_window(wm, start, sqlite_settings)
    assert since == wm - timedelta(minutes=10)


def test_order_changed_on_marketplace_is_updated_with_history_and_rearmed(shopee_bound: Bound):
    b = shopee_bound
    ids = b.sandbox.generate_orders(b.shop_id, 5, start=NOW - timedelta(hours=5), end=NOW - timedelta(hours=1),
                                    status="unpaid")
    assert run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST).new == 5
    # The ERP took the order already; then the buyer pays and later cancels.
    with session_scope(b.settings) as session:
        for d in session.scalars(select(Delivery)):
            d.state, d.delivered_version = "sent", 1
    b.sandbox.update_order(b.shop_id, ids[0], status="paid")
    b.sandbox.clock.advance(minutes=20)
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert (run.new, run.changed) == (0, 1), run.error_text
    b.sandbox.update_order(b.shop_id, ids[0], status="cancelled")
    b.sandbox.clock.advance(minutes=20)
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert (run.new, run.changed) == (0, 1)

    with session_scope(b.settings) as session:
        order = session.scalars(select(Order).where(Order.external_id == ids[0])).one()
        history = [h.status for h in session.scalars(select(OrderStatus).where(OrderStatus.oms_order_id == order.id)
                                                     .order_by(OrderStatus.id))]
        deliveries = session.scalars(select(Delivery).where(Delivery.oms_order_id == order.id)).all()
        others = session.scalars(select(Delivery).where(Delivery.oms_order_id != order.id)).all()
    assert order.status == "cancelled" and order.version == 3
    assert history[0] == "unpaid" and history[1] in ("paid", "ready_to_ship") and history[2] == "cancelled"
    assert {(d.destination, d.state, d.action, d.order_version) for d in deliveries} == {
        ("erp", "pending", "cancel", 3), ("oms", "pending", "cancel", 3)}
    assert all(d.state == "sent" for d in others)  # untouched orders are not re-sent


def test_order_updated_during_a_run_is_picked_up_by_the_next(shopee_bound: Bound, monkeypatch):
    b = shopee_bound
    ids = b.sandbox.generate_orders(b.shop_id, 3, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2),
                                    status="paid")
    import channels.pulling as pulling

    def edit_while_running(name):
        # the buyer cancels while this run is storing what it read before
        if name == "fetched":
            b.sandbox.update_order(b.shop_id, ids[1], status="cancelled")

    monkeypatch.setattr(pulling, "checkpoint", edit_while_running)
    run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    monkeypatch.setattr(pulling, "checkpoint", lambda name: None)
    assert stored(b.settings, b.channel_id)[ids[1]].status != "cancelled"
    b.sandbox.clock.advance(minutes=5)
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    after = stored(b.settings, b.channel_id)
    assert (run.new, run.changed) == (0, 1)
    assert after[ids[1]].status == "cancelled" and after[ids[1]].version == 2
    assert len(after) == 3


def test_taipei_day_boundary_orders_land_once(shopee_bound: Bound):
    """Orders around Taipei midnight (16:00 UTC) are read by two consecutive runs without loss or double."""
    b = shopee_bound
    taipei_midnight = datetime(2026, 3, 15, 16, 0, tzinfo=UTC)
    b.sandbox.clock.set(taipei_midnight - timedelta(minutes=30))
    run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)  # watermark before midnight
    before = b.sandbox.generate_orders(b.shop_id, 4, start=taipei_midnight - timedelta(minutes=25),
                                       end=taipei_midnight - timedelta(minutes=1), status="paid")
    b.sandbox.clock.set(taipei_midnight - timedelta(seconds=5))
    run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    after = b.sandbox.generate_orders(b.shop_id, 4, start=taipei_midnight - timedelta(minutes=1),
                                      end=taipei_midnight + timedelta(minutes=3), status="paid")
    b.sandbox.clock.set(taipei_midnight + timedelta(minutes=10))
    run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    orders = stored(b.settings, b.channel_id)
    assert set(orders) == set(before) | set(after)
    assert order_count(b.settings, b.channel_id) == 8
    created = sorted(o.order_created for o in orders.values())
    assert created[0] < taipei_midnight <= created[-1]


def test_unmappable_order_is_held_while_the_rest_flow(shopee_bound: Bound, monkeypatch):
    b = shopee_bound
    ids = b.sandbox.generate_orders(b.shop_id, 4, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2),
                                    status="paid")
    from platforms.shopee.adapter import ShopeeAdapter

    real = ShopeeAdapter.fetch_orders

    def with_a_broken_one(self, since, until):
        yield UnmappableOrder(external_id=None, raw="{broken json", reason="malformed payload: cannot parse JSON")
        yield from real(self, since, until)

    monkeypatch.setattr(ShopeeAdapter, "fetch_orders", with_a_broken_one)
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "partial" and run.held == 1 and run.new == 5
    again = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert (again.new, again.changed, again.outcome) == (0, 0, "success")
    orders = stored(b.settings, b.channel_id)
    held = [o for o in orders.values() if o.is_held]
    assert len(held) == 1 and held[0].external_id.startswith("unmappable-")
    assert held[0].raw_payload == "{broken json" and "malformed" in held[0].held_reason
    assert all(not orders[i].is_held for i in ids)
    with session_scope(b.settings) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.oms_order_id == held[0].id)) == 0


def test_rejected_refresh_token_ends_in_reauth_and_getorder_reports_it(shopee_bound: Bound):
    b = shopee_bound
    with session_scope(b.settings) as session:
        ch = session.get(Channel, b.channel_id)
        from oms_bridge.vault import Vault
        ch.refresh_token_enc = Vault.from_settings(b.settings).encrypt("0" * 32)  # a token Shopee never issued
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    assert run.outcome == "reauth_required"
    assert "Shopee refused the refresh token for channel shop-a" in run.error_text
    assert "oms-bridge channel authorize shop-a" in run.error_text
    with session_scope(b.settings) as session:
        ch = session.get(Channel, b.channel_id)
        assert ch.auth_state == "reauth_required" and ch.auth_message == run.error_text
    b.sandbox.reset_calls()
    got = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert got.outcome == "reauth_required" and got.error_text == run.error_text
    assert b.sandbox.calls() == 0
    with session_scope(b.settings) as session:
        last = session.scalars(select(ProcessRun).order_by(ProcessRun.id.desc())).first()
        assert (last.process, last.outcome, last.error_text) == ("getorder", "reauth_required", run.error_text)
    # Re-authorizing clears it and GetOrder works again.
    from channels_kit import authorize
    authorize(b.settings, b.sandbox, b.channel)
    assert run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST).outcome == "success"


def test_access_token_rejected_mid_run_refreshes_once_and_retries(shopee_bound: Bound):
    b = shopee_bound
    b.sandbox.generate_orders(b.shop_id, 3, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2))
    # The stored access token says "valid for hours" but the marketplace revoked it.
    with session_scope(b.settings) as session:
        from oms_bridge.vault import Vault
        session.get(Channel, b.channel_id).access_token_enc = Vault.from_settings(b.settings).encrypt("f" * 32)
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "success", run.error_text
    assert run.new == 3 and run.details["auth_retry"] == 1 and run.details["refresh"] == ["refreshed"]
    assert b.sandbox.calls("/auth/access_token/get") == 1


def test_expired_access_token_is_refreshed_before_fetching(shopee_bound: Bound):
    b = shopee_bound
    b.sandbox.clock.advance(hours=3, minutes=30)  # 4 h tokens: inside the 60-minute margin
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "success" and run.details["refresh"] == ["refreshed"]
    assert "auth_retry" not in run.details


def test_two_channels_same_order_numbers_do_not_collide(sqlite_settings, shopee):
    a = bind(sqlite_settings, shopee, "shop-a")
    b = bind(sqlite_settings, shopee, "shop-b")
    shopee.generate_orders(a.shop_id, 3, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2))
    shopee.generate_orders(b.shop_id, 2, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2))
    assert run_getorder(a.channel_id, settings=sqlite_settings, clock=a.clock, policy=FAST).new == 3
    assert run_getorder(b.channel_id, settings=sqlite_settings, clock=b.clock, policy=FAST).new == 2


def test_run_details_are_json_on_the_row(shopee_bound: Bound):
    b = shopee_bound
    run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    with session_scope(b.settings) as session:
        row = session.scalars(select(ProcessRun)).one()
    assert "runner" in json.loads(row.details_json)


@pytest.mark.parametrize("fault", ["500", "malformed_json"])
def test_persistent_fault_fails_the_run_clearly_and_keeps_the_watermark(shopee_bound: Bound, fault: str):
    b = shopee_bound
    b.sandbox.generate_orders(b.shop_id, 3, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2))
    b.sandbox.faults.inject(fault, count=10, path="get_order_list")
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "failed" and "next run reads the same window again" in run.error_text
    with session_scope(b.settings) as session:
        assert session.get(Channel, b.channel_id).order_watermark is None
    b.sandbox.faults.clear()
    assert run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST).new == 3


def test_getorder_exactly_once_on_both_stores(store_settings, shopee):
    b = bind(store_settings, shopee)
    ids = shopee.generate_orders(b.shop_id, 25, start=NOW - timedelta(hours=20), end=NOW - timedelta(hours=1))
    first = run_getorder(b.channel_id, settings=store_settings, clock=b.clock, policy=FAST)
    assert (first.outcome, first.new) == ("success", 25), first.error_text
    shopee.update_order(b.shop_id, ids[3], status="cancelled")
    shopee.clock.advance(minutes=3)
    second = run_getorder(b.channel_id, settings=store_settings, clock=b.clock, policy=FAST)
    assert (second.new, second.changed) == (0, 1)
    assert order_count(store_settings, b.channel_id) == 25
    assert stored(store_settings, b.channel_id)[ids[3]].status == "cancelled"


def test_a_second_getorder_of_the_same_channel_is_skipped(store_settings, shopee):
    from channels.locks import channel_run_lock

    b = bind(store_settings, shopee)
    shopee.generate_orders(b.shop_id, 2, start=NOW - timedelta(hours=2), end=NOW - timedelta(hours=1))
    shopee.reset_calls()
    with channel_run_lock(store_settings, "getorder", b.channel_id) as got:
        assert got
        run = run_getorder(b.channel_id, settings=store_settings, clock=b.clock, policy=FAST)
        assert run.outcome == "skipped" and "in progress" in run.error_text
        assert shopee.calls() == 0
        with channel_run_lock(store_settings, "backfill", b.channel_id) as other:
            assert other  # a backfill may run beside GetOrder
    assert run_getorder(b.channel_id, settings=store_settings, clock=b.clock, policy=FAST).new == 2


def test_held_order_is_released_by_a_later_run_once_it_maps(shopee_bound: Bound, monkeypatch):
    b = shopee_bound
    ids = b.sandbox.generate_orders(b.shop_id, 3, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2),
                                    status="paid")
    from platforms.shopee.adapter import ShopeeAdapter

    real = ShopeeAdapter._details  # the mapping step both fetch_orders and get_orders go through

    def one_unmappable(self, sns):
        for item in real(self, sns):
            if getattr(item, "external_id", None) == ids[1]:
                yield UnmappableOrder(external_id=ids[1], raw={"order_sn": ids[1]}, reason="unknown currency XTS")
            else:
                yield item

    monkeypatch.setattr(ShopeeAdapter, "_details", one_unmappable)
    first = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert first.held == 1 and first.details["held_retried"] == 1 and first.details["held_changed"] == 0
    assert stored(b.settings, b.channel_id)[ids[1]].is_held
    monkeypatch.setattr(ShopeeAdapter, "_details", real)  # mapping fixed; the order itself never changes again
    b.sandbox.clock.advance(days=2)  # far outside the next window
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.details["held_retried"] == 1 and run.details["held_changed"] == 1
    assert run.outcome == "success" and run.held == 0
    order = stored(b.settings, b.channel_id)[ids[1]]
    assert not order.is_held and order.held_reason is None and order.status in ("paid", "ready_to_ship")
    with session_scope(b.settings) as session:
        assert session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.oms_order_id == order.id, Delivery.state == "pending")) == 2
    quiet = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert "held_retried" not in quiet.details


def test_token_rejected_again_after_the_refresh_fails_cleanly(shopee_bound: Bound, monkeypatch):
    from platforms.base import AuthExpired
    from platforms.shopee.adapter import ShopeeAdapter

    b = shopee_bound

    def always_rejected(self, since, until):
        raise AuthExpired("Invalid access_token.", platform="shopee", code="error_auth")
        yield  # pragma: no cover - makes this a generator like the real one

    monkeypatch.setattr(ShopeeAdapter, "fetch_orders", always_rejected)
    run = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "failed" and "Invalid access_token" in run.error_text
    assert run.details["refresh"] == ["refreshed"] and run.details["auth_retry"] == 1
    assert b.sandbox.calls("/auth/access_token/get") == 1  # exactly one refresh, no loop
    with session_scope(b.settings) as session:
        assert session.get(Channel, b.channel_id).order_watermark is None


def test_unknown_channel_id_is_a_clear_error(sqlite_settings):
    from channels.backfill import run_backfill
    from channels.binding import ChannelNotFound

    with pytest.raises(ChannelNotFound, match="no channel 999"):
        run_getorder(999, settings=sqlite_settings)
    with pytest.raises(ChannelNotFound):
        run_refreshtoken(999, settings=sqlite_settings)
    with pytest.raises(ChannelNotFound):
        run_backfill(999, NOW - timedelta(days=1), NOW, settings=sqlite_settings)
    with session_scope(sqlite_settings) as session:
        assert session.scalar(select(func.count()).select_from(ProcessRun)) == 0
