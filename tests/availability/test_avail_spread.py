"""Regression (issue 11): jobs of many channels must not all start in the same second.

Every new job's first run was ``now`` (all channels at once after a start-up), and every interval was
counted from that same instant, so the channels kept hitting the store (and the marketplaces) together.
Now each job has a fixed phase inside its interval and first runs are spread, deterministically per job.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select

from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Platform
from scheduler.builder import build_scheduler
from scheduler.config import ScheduleConfig
from scheduler.sync import reconcile

CHANNELS = 8


def _channels(settings: Settings) -> None:
    with session_scope(settings) as s:
        s.add(Platform(value="momo-app", name="momo", platform_type="momo", host="http://127.0.0.1:9"))
        s.flush()
        platform_id = s.scalar(select(Platform.id))
        s.execute(insert(Channel), [{"value": f"momo-{i}", "name": f"momo {i}", "oms_platform_id": platform_id,
                                     "shop_id": str(i), "auth_state": "active"} for i in range(CHANNELS)])


def _getorder_jobs(sched) -> list:
    return [j for j in sched.get_jobs() if j.id.startswith("getorder:")]


def test_first_runs_and_intervals_of_many_channels_are_spread(sqlite_settings: Settings) -> None:
    _channels(sqlite_settings)
    cfg = ScheduleConfig()  # defaults: GetOrder every 5 min, first runs spread over 60 s
    sched = build_scheduler(sqlite_settings, cfg)
    sched.start(paused=True)
    try:
        before = datetime.now(UTC)
        reconcile(sched, sqlite_settings, cfg)
        jobs = _getorder_jobs(sched)
        assert len(jobs) == CHANNELS
        first = sorted(j.next_run_time for j in jobs)
        assert len({int(t.timestamp()) for t in first}) == CHANNELS  # 8 different seconds
        assert first[0] >= before and first[-1] <= before + timedelta(seconds=61)
        # every later run keeps its own second inside the 5-minute interval
        nexts = [j.trigger.get_next_fire_time(None, before + timedelta(hours=1)) for j in jobs]
        assert len({int(t.timestamp()) % 300 for t in nexts}) == CHANNELS
    finally:
        sched.shutdown(wait=False)


def test_catch_up_runs_after_a_restart_are_spread(sqlite_settings: Settings) -> None:
    """Jobs that fell due while no instance ran do not all fire in the first second after the restart."""
    _channels(sqlite_settings)
    cfg = ScheduleConfig()
    first = build_scheduler(sqlite_settings, cfg)
    first.start(paused=True)
    reconcile(first, sqlite_settings, cfg)
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    for job in _getorder_jobs(first):
        first.modify_job(job.id, next_run_time=an_hour_ago)  # the service was down for an hour
    first.shutdown(wait=False)
    restarted = build_scheduler(sqlite_settings, cfg)
    restarted.start(paused=True)
    try:
        reconcile(restarted, sqlite_settings, cfg, spread_overdue=True)  # what start-up does before resuming
        times = [j.next_run_time for j in _getorder_jobs(restarted)]
        assert len({int(t.timestamp()) for t in times}) == CHANNELS
        assert all(t >= datetime.now(UTC) - timedelta(seconds=5) for t in times)
    finally:
        restarted.shutdown(wait=False)
