"""Backfill: windows with checkpoints, resume after interruption, safe beside GetOrder, Taipei day range."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from channels_kit import FAST, NOW, Bound
from sqlalchemy import func, select

import channels.pulling as pulling
from channels.backfill import backfill_range, run_backfill, taipei_day_start
from channels.getorder import run_getorder
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order
from oms_bridge.store.models.backfill import Backfill


class Interrupted(Exception):
    pass


def test_taipei_day_range():
    assert taipei_day_start(date(2026, 3, 1)) == datetime(2026, 2, 28, 16, 0, tzinfo=UTC)
    now = datetime(2026, 3, 10, tzinfo=UTC)
    start, end = backfill_range(date(2026, 3, 1), date(2026, 3, 2), now)
    assert (start, end) == (datetime(2026, 2, 28, 16, tzinfo=UTC), datetime(2026, 3, 2, 16, tzinfo=UTC))
    assert backfill_range(date(2026, 3, 1), None, now)[1] == now
    assert backfill_range(date(2026, 3, 1), date(2026, 3, 20), now)[1] == now  # never into the future


def _count(settings) -> int:
    with session_scope(settings) as session:
        return session.scalar(select(func.count()).select_from(Order))


def test_backfill_resumes_from_its_checkpoint(shopee_bound: Bound, monkeypatch):
    b = shopee_bound
    since, until = NOW - timedelta(days=6), NOW - timedelta(hours=1)
    ids = b.sandbox.generate_orders(b.shop_id, 36, start=since, end=until)
    commits = {"n": 0}

    def stop_after_three_windows(name):
        if name == "committed":
            commits["n"] += 1
            if commits["n"] == 4:  # the 4th window's batch committed, its checkpoint not yet written
                raise Interrupted

    monkeypatch.setattr(pulling, "checkpoint", stop_after_three_windows)
    progress: list[tuple[int, int]] = []
    with pytest.raises(Interrupted):
        run_backfill(b.channel_id, since, until, settings=b.settings, clock=b.clock, policy=FAST,
                     progress=lambda d, t: progress.append((d, t)))
    monkeypatch.setattr(pulling, "checkpoint", lambda name: None)
    assert progress == [(0, 6), (1, 6), (2, 6), (3, 6)]
    with session_scope(b.settings) as session:
        row = session.scalars(select(Backfill)).one()
        assert row.state == "running" and row.next_start == since + timedelta(days=3)
        assert session.get(Channel, b.channel_id).order_watermark is None  # GetOrder's watermark untouched
    partial = _count(b.settings)
    assert 0 < partial < 36
    b.sandbox.reset_calls()
    progress.clear()
    stats = run_backfill(b.channel_id, since, until, settings=b.settings, clock=b.clock, policy=FAST,
                         progress=lambda d, t: progress.append((d, t)))
    assert stats.outcome == "success" and stats.details["resumed_from"] == (since + timedelta(days=3)).isoformat()
    assert progress[0] == (3, 6) and progress[-1] == (6, 6)
    assert _count(b.settings) == 36
    assert stats.new == 36 - partial  # the 4th window was re-read: its stored orders were no-ops
    with session_scope(b.settings) as session:
        row = session.scalars(select(Backfill)).one()
        assert row.state == "done" and row.next_start == until
        assert sorted(session.scalars(select(Order.external_id))) == sorted(ids)


def test_backfill_beside_getorder_never_duplicates(shopee_bound: Bound):
    b = shopee_bound
    b.sandbox.generate_orders(b.shop_id, 20, start=NOW - timedelta(hours=20), end=NOW - timedelta(hours=1))
    assert run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST).new == 20
    with session_scope(b.settings) as session:
        watermark = session.get(Channel, b.channel_id).order_watermark
    stats = run_backfill(b.channel_id, NOW - timedelta(days=2), NOW, settings=b.settings, clock=b.clock, policy=FAST)
    assert (stats.new, stats.changed, stats.fetched) == (0, 0, 20)
    assert _count(b.settings) == 20
    with session_scope(b.settings) as session:
        assert session.get(Channel, b.channel_id).order_watermark == watermark


def test_backfill_on_reauth_channel_fails_clearly_and_can_resume(shopee_bound: Bound):
    b = shopee_bound
    with session_scope(b.settings) as session:
        ch = session.get(Channel, b.channel_id)
        ch.auth_state, ch.auth_message = "reauth_required", "authorize again please"
    stats = run_backfill(b.channel_id, NOW - timedelta(days=1), NOW, settings=b.settings, clock=b.clock, policy=FAST)
    assert stats.outcome == "reauth_required" and stats.error_text == "authorize again please"
    with session_scope(b.settings) as session:
        row = session.scalars(select(Backfill)).one()
        assert row.state == "failed" and row.last_error == "authorize again please"
