"""Jobs follow the channel table: wiring, add/disable/re-time without a restart."""

from __future__ import annotations

import time

import pytest

from channels.tokens import TAIPEI
from oms_bridge.configure.channels import add_channel, set_channel_active, update_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel
from oms_bridge.vault import Vault
from scheduler.builder import build_scheduler, start_scheduler
from scheduler.config import ScheduleConfig
from scheduler.jobs import (
    alerts_job,
    cancel_answers_job,
    erp_delivery_job,
    getorder_job,
    logistics_delivery_job,
    reconcile_job,
    refreshtoken_job,
)
from scheduler.sync import reconcile

CFG = ScheduleConfig(getorder_minutes=5, refreshtoken_minutes=30, delivery_seconds=60, sync_seconds=0.2,
                     first_run_delay_seconds=3600)


def _setup(settings) -> dict[str, int]:
    vault = Vault.from_settings(settings)
    ids = {}
    with session_scope(settings) as s:
        add_platform(s, vault, value="shopee-app", platform_type="shopee", host="http://127.0.0.1:9",
                               app_id="1001", app_secret="partner-key-1234")
        add_platform(s, vault, value="momo-app", platform_type="momo", host="http://127.0.0.1:9")
        for value, platform, state in (("shop-a", "shopee-app", "active"), ("momo-a", "momo-app", "active"),
                                       ("shop-new", "shopee-app", "new")):
            ch = add_channel(s, vault, value=value, platform=platform, shop_id="42")
            ch.auth_state = state
            ids[value] = ch.id
    return ids


def _intervals(sched) -> dict[str, float]:
    """Interval jobs only (the daily reconciliation has a cron trigger)."""
    return {j.id: j.trigger.interval.total_seconds() for j in sched.get_jobs(jobstore="default")
            if hasattr(j.trigger, "interval")}


def test_reconcile_wires_jobs_per_channel(sqlite_settings):
    ids = _setup(sqlite_settings)
    sched = build_scheduler(sqlite_settings, CFG)
    sched.start(paused=True)
    try:
        result = reconcile(sched, sqlite_settings, CFG)
        jobs = {j.id: j for j in sched.get_jobs(jobstore="default")}
        shop, momo = ids["shop-a"], ids["momo-a"]
        assert set(jobs) == {f"getorder:{shop}", f"refreshtoken:{shop}", f"getorder:{momo}",
                             "erp-delivery", "logistics-delivery", "cancel-answers", "alerts", "reconcile"}
        assert sorted(result.added) == sorted(jobs)
        # OAuth platform only for RefreshToken; the never-authorized channel gets nothing yet.
        assert f"refreshtoken:{momo}" not in jobs and f"getorder:{ids['shop-new']}" not in jobs
        assert jobs[f"getorder:{shop}"].func is getorder_job and jobs[f"getorder:{shop}"].args == (shop,)
        assert jobs[f"refreshtoken:{shop}"].func is refreshtoken_job
        assert jobs["erp-delivery"].func is erp_delivery_job
        assert jobs["logistics-delivery"].func is logistics_delivery_job
        assert jobs["cancel-answers"].func is cancel_answers_job
        assert jobs["alerts"].func is alerts_job and _intervals(sched)["alerts"] == 60
        # the daily reconciliation: 06:30 Asia/Taipei, not run at start-up
        assert jobs["reconcile"].func is reconcile_job
        assert str(jobs["reconcile"].trigger) == "cron[hour='6', minute='30']"
        assert str(jobs["reconcile"].trigger.timezone) == "Asia/Taipei"
        assert jobs["reconcile"].next_run_time.astimezone(TAIPEI).strftime("%H:%M") == "06:30"
        assert _intervals(sched)[f"getorder:{shop}"] == 300
        assert _intervals(sched)[f"refreshtoken:{shop}"] == 1800
        assert _intervals(sched)["erp-delivery"] == 60
        for job in jobs.values():  # job defaults: one at a time, coalesced, with a grace period
            assert job.max_instances == 1 and job.coalesce is True and job.misfire_grace_time == 300
        # A second reconcile with nothing changed changes nothing.
        assert not reconcile(sched, sqlite_settings, CFG).changed
    finally:
        sched.shutdown(wait=False)


def test_disable_retime_and_enable_change_jobs(sqlite_settings):
    ids = _setup(sqlite_settings)
    vault = Vault.from_settings(sqlite_settings)
    sched = build_scheduler(sqlite_settings, CFG)
    sched.start(paused=True)
    try:
        reconcile(sched, sqlite_settings, CFG)
        with session_scope(sqlite_settings) as s:
            set_channel_active(s, "momo-a", False)
            update_channel(s, vault, "shop-a", getorder_interval_minutes=15)
        result = reconcile(sched, sqlite_settings, CFG)
        assert result.removed == [f"getorder:{ids['momo-a']}"]
        assert result.retimed == [f"getorder:{ids['shop-a']}"]
        assert _intervals(sched)[f"getorder:{ids['shop-a']}"] == 900
        with session_scope(sqlite_settings) as s:
            set_channel_active(s, "momo-a", True)
        assert reconcile(sched, sqlite_settings, CFG).added == [f"getorder:{ids['momo-a']}"]
    finally:
        sched.shutdown(wait=False)


def _wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_running_scheduler_follows_channel_changes_without_restart(sqlite_settings):
    ids = _setup(sqlite_settings)
    sched = start_scheduler(sqlite_settings, CFG)
    try:
        assert sched.sync_thread is not None and sched.sync_thread.is_alive()
        assert f"getorder:{ids['shop-a']}" in _intervals(sched)
        with session_scope(sqlite_settings) as s:  # the merchant authorized the new channel
            s.get(Channel, ids["shop-new"]).auth_state = "active"
        assert _wait_for(lambda: f"getorder:{ids['shop-new']}" in _intervals(sched))
        with session_scope(sqlite_settings) as s:
            set_channel_active(s, "shop-a", False)
        # both jobs go in one reconcile round, one after the other: wait for the pair, not the first
        assert _wait_for(lambda: not {f"getorder:{ids['shop-a']}", f"refreshtoken:{ids['shop-a']}"}
                         & set(_intervals(sched)))
    finally:
        sched.shutdown(wait=True)


def test_job_store_is_shared_through_the_database(sqlite_settings):
    """A second scheduler on the same database sees the jobs the first one created (restart-safe)."""
    ids = _setup(sqlite_settings)
    first = build_scheduler(sqlite_settings, CFG)
    first.start(paused=True)
    reconcile(first, sqlite_settings, CFG)
    first.shutdown(wait=False)
    second = build_scheduler(sqlite_settings, CFG)
    second.start(paused=True)
    try:
        assert f"getorder:{ids['shop-a']}" in _intervals(second)
        assert not reconcile(second, sqlite_settings, CFG).changed
    finally:
        second.shutdown(wait=False)


def test_bad_scheduler_setting_is_a_clear_error(home):
    from oms_bridge.settings import SettingsError, get_settings, reset_settings

    (home / "config.toml").write_text('[oms_bridge]\nscheduler_sync_seconds = "soon"\n')
    reset_settings()
    with pytest.raises(SettingsError, match="scheduler_sync_seconds"):
        ScheduleConfig.from_settings(get_settings())


def test_shutdown_never_deadlocks_with_a_reconcile_in_flight(sqlite_settings):
    """APScheduler's shutdown(wait=True) holds its job-store lock while waiting for jobs; the reconcile
    loop runs outside the executor and is stopped first, so shutdown always returns."""
    import threading
    from dataclasses import replace

    _setup(sqlite_settings)
    for _ in range(5):
        sched = start_scheduler(sqlite_settings, replace(CFG, sync_seconds=0.01))
        time.sleep(0.2)  # reconciles are running back to back
        done = threading.Event()
        threading.Thread(target=lambda s=sched, d=done: (s.shutdown(wait=True), d.set()), daemon=True).start()
        assert done.wait(10), "scheduler shutdown deadlocked"
        assert not sched.sync_thread.is_alive()


def test_started_scheduler_runs_every_process(sqlite_settings):
    """The wiring end to end: jobs call the real GetOrder, ERP, logistics and alert processes."""
    from dataclasses import replace
    from datetime import UTC, datetime, timedelta

    from sqlalchemy import func, select

    from channels.authorization import check_credentials
    from oms_bridge.store.models import Order, ProcessRun
    from sandboxes.momo import MomoSandbox

    vault = Vault.from_settings(sqlite_settings)
    with MomoSandbox() as sandbox:
        shop = sandbox.add_shop()
        with session_scope(sqlite_settings) as s:
            add_platform(s, vault, value="momo-app", platform_type="momo", host=sandbox.base_url)
            add_channel(s, vault, value="momo-a", platform="momo-app", shop_id=shop["shop_id"],
                                  credentials=shop["credentials"])
        assert check_credentials("momo-a", settings=sqlite_settings)[0]
        now = datetime.now(UTC)
        sandbox.generate_orders(shop["shop_id"], 3, start=now - timedelta(hours=2), end=now - timedelta(minutes=2))
        # GetOrder every 0.6 s here, so one transient failure on a busy machine is simply retried
        sched = start_scheduler(sqlite_settings, replace(CFG, first_run_delay_seconds=0, delivery_seconds=0.5,
                                                         alert_seconds=0.5, minute_seconds=0.12))

        def processes() -> set[str]:
            with session_scope(sqlite_settings) as s:
                return set(s.scalars(select(ProcessRun.process).where(ProcessRun.outcome.in_(("success", "partial")))))

        def orders() -> int:
            with session_scope(sqlite_settings) as s:
                return s.scalar(select(func.count()).select_from(Order))
        try:
            assert _wait_for(lambda: {"getorder", "erp_delivery", "logistics_delivery", "alerts"} <= processes()
                             and orders() == 3, timeout=30), processes()
        finally:
            sched.shutdown(wait=True)
    with session_scope(sqlite_settings, readonly=True) as s:
        runs = [(r.process, r.outcome, r.fetched, r.error_text) for r in s.scalars(select(ProcessRun))]
        assert s.scalar(select(func.count()).select_from(Order)) == 3, runs
        # issue 11: this test was flaky because concurrent runs met "database is locked"
        assert not [r for r in runs if "locked" in (r[3] or "")], runs
        assert "refreshtoken" not in processes()  # momo has no tokens: no RefreshToken job
