"""Crash safety: interrupt GetOrder at every point (in-process exception and a killed OS process), then
re-run and check every marketplace order is stored exactly once, in its latest state."""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from channels_kit import FAST, NOW, Bound
from sqlalchemy import func, select

import channels.pulling as pulling
from channels.getorder import run_getorder
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, OrderLine, ProcessRun
from sandboxes.shopee import ShopeeSandbox


class Crash(Exception):
    """Stands for the process dying at this point."""


def crash_at(monkeypatch, name: str, nth: int) -> None:
    seen = {"n": 0}

    def point(where: str) -> None:
        if where == name:
            seen["n"] += 1
            if seen["n"] == nth:
                raise Crash(f"crash at {where} #{nth}")

    monkeypatch.setattr(pulling, "checkpoint", point)


def assert_exactly_once_and_latest(b: Bound, ids: list[str]) -> None:
    with session_scope(b.settings) as session:
        rows = session.execute(select(Order.external_id, func.count()).where(Order.oms_channel_id == b.channel_id)
                               .group_by(Order.external_id)).all()
        orders = {o.external_id: o for o in session.scalars(select(Order))}
        deliveries = session.scalar(select(func.count()).select_from(Delivery))
        lines = session.scalar(select(func.count()).select_from(OrderLine))
    assert sorted(r[0] for r in rows) == sorted(ids)
    assert all(r[1] == 1 for r in rows)
    assert deliveries == 2 * len(ids)
    assert lines == sum(len(b.sandbox.order(b.shop_id, i)["item_list"]) for i in ids)
    for sn in ids:
        shopee_status = b.sandbox.order(b.shop_id, sn)["order_status"]
        assert orders[sn].platform_status == shopee_status, sn
        if shopee_status == "CANCELLED":
            assert orders[sn].status == "cancelled"


@pytest.mark.parametrize("point,nth", [("fetched", 1), ("fetched", 3), ("upserted", 1), ("upserted", 2),
                                       ("committed", 2), ("before_watermark", 1)])
def test_interrupted_getorder_converges_to_exactly_once(shopee_bound: Bound, monkeypatch, point: str, nth: int):
    b = shopee_bound
    b.settings = dataclasses.replace(b.settings, getorder_batch_size=7)
    ids = b.sandbox.generate_orders(b.shop_id, 30, start=NOW - timedelta(hours=20), end=NOW - timedelta(hours=1),
                                    status="paid")
    crash_at(monkeypatch, point, nth)
    with pytest.raises(Crash):
        run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    monkeypatch.setattr(pulling, "checkpoint", lambda name: None)
    with session_scope(b.settings) as session:
        assert session.get(Channel, b.channel_id).order_watermark is None  # never moved past uncommitted work
        crashed = session.scalars(select(ProcessRun)).one()
        assert crashed.outcome == "failed" and "crash at" in crashed.error_text
    # While the bridge was down the marketplace moved on.
    b.sandbox.update_order(b.shop_id, ids[0], status="cancelled")
    b.sandbox.update_order(b.shop_id, ids[29], status="cancelled")
    b.sandbox.clock.advance(minutes=2)
    rerun = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert rerun.outcome == "success", rerun.error_text
    assert rerun.fetched == 30
    assert_exactly_once_and_latest(b, ids)
    again = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert (again.new, again.changed) == (0, 0)


# ------------------------------------------------------------------------------ a real killed process
def _killed_getorder(channel_id: int, point: str, nth: int) -> None:
    """Run GetOrder and die hard (no cleanup, no finally, no rollback) at the nth checkpoint."""
    import channels.pulling as pulling_mod
    from channels.getorder import run_getorder as run
    from oms_bridge.remote.http import RetryPolicy
    from oms_bridge.settings import get_settings

    seen = {"n": 0}

    def die(where: str) -> None:
        if where == point:
            seen["n"] += 1
            if seen["n"] == nth:
                os._exit(17)

    pulling_mod.checkpoint = die
    settings = dataclasses.replace(get_settings(), getorder_batch_size=5)
    run(channel_id, settings=settings, policy=RetryPolicy(max_attempts=2, sleep=lambda s: None))


@pytest.fixture
def realtime_shopee() -> Iterator[ShopeeSandbox]:
    with ShopeeSandbox(seed=21) as sandbox:
        yield sandbox


@pytest.mark.parametrize("point,nth", [("upserted", 2), ("before_watermark", 1)])
def test_killed_process_mid_run_then_rerun(sqlite_settings, realtime_shopee: ShopeeSandbox, point: str, nth: int):
    from channels_kit import bind

    b = bind(sqlite_settings, realtime_shopee)
    now = datetime.now(UTC)
    ids = realtime_shopee.generate_orders(b.shop_id, 23, start=now - timedelta(hours=10),
                                          end=now - timedelta(hours=1), status="paid")
    proc = multiprocessing.get_context("spawn").Process(target=_killed_getorder, args=(b.channel_id, point, nth))
    proc.start()
    proc.join(timeout=60)
    assert proc.exitcode == 17
    with session_scope(sqlite_settings) as session:
        run = session.scalars(select(ProcessRun)).one()
        assert run.outcome == "running"  # the crashed run stays visible
        assert session.get(Channel, b.channel_id).order_watermark is None
        partial = session.scalar(select(func.count()).select_from(Order))
    assert partial == (5 if point == "upserted" else 23)  # the killed transaction left nothing behind
    rerun = run_getorder(b.channel_id, settings=sqlite_settings, policy=FAST)
    assert rerun.outcome == "success", rerun.error_text
    assert rerun.new == 23 - partial
    b.sandbox = realtime_shopee
    assert_exactly_once_and_latest(b, ids)


@pytest.mark.postgres
@pytest.mark.parametrize("point,nth", [("upserted", 2), ("before_watermark", 1)])
def test_interrupted_getorder_on_postgresql(pg_settings, shopee, monkeypatch, point: str, nth: int):
    from channels_kit import bind

    b = bind(pg_settings, shopee)
    b.settings = dataclasses.replace(pg_settings, getorder_batch_size=6)
    ids = shopee.generate_orders(b.shop_id, 20, start=NOW - timedelta(hours=20), end=NOW - timedelta(hours=1),
                                 status="paid")
    crash_at(monkeypatch, point, nth)
    with pytest.raises(Crash):
        run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    monkeypatch.setattr(pulling, "checkpoint", lambda name: None)
    shopee.update_order(b.shop_id, ids[5], status="cancelled")
    shopee.clock.advance(minutes=2)
    assert run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST).outcome == "success"
    assert_exactly_once_and_latest(b, ids)
