"""Regression (issue 11): one bad setting stopped every channel.

An interval of 2**40 minutes was accepted; from then on job sync failed for all channels (APScheduler
overflowed), and a disabled channel's job kept running because ``run_getorder`` never checked that the
channel was active. Ranges are now checked wherever a value comes in (one mechanism:
:func:`oms_bridge.settings.check_setting`), job sync is fault-tolerant per channel, and the processes
refuse disabled channels and platforms.
"""

from __future__ import annotations

import pytest
from avail_kit import FAST, cli, momo_channels, order_count, write_config
from sqlalchemy import text

from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.configure.channels import set_channel_active
from oms_bridge.settings import Settings, SettingsError, get_settings, reset_settings
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.models import Channel, Platform
from sandboxes.momo import MomoSandbox
from scheduler.builder import build_scheduler
from scheduler.config import ScheduleConfig
from scheduler.jobs import getorder_job
from scheduler.sync import reconcile

HUGE = 2**40


def test_cli_refuses_an_interval_out_of_range(sqlite_settings: Settings) -> None:
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(sqlite_settings, sandbox, 1)
        for value in (str(HUGE), "0", "-5"):
            done = cli("channel", "update", "momo-1", "--getorder-interval", value)
            assert done.returncode == 1, done.stdout
            assert "must be between 1 and 10080 minutes" in done.stderr and "Traceback" not in done.stderr
        done = cli("channel", "add", "momo-x", "--platform", "momo-app", "--refreshtoken-interval", str(HUGE))
        assert done.returncode == 1 and "refreshtoken_interval_minutes" in done.stderr
    with session_scope(sqlite_settings, readonly=True) as s:
        assert s.get(Channel, 1).getorder_interval_minutes is None


def test_the_model_refuses_an_interval_out_of_range(sqlite_settings: Settings) -> None:
    """Any writer that sets the attribute (not only the CLI and web) meets the same range."""
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(sqlite_settings, sandbox, 1)
    with pytest.raises(SettingsError, match="between 1 and 10080"), session_scope(sqlite_settings) as s:
        s.get(Channel, 1).getorder_interval_minutes = HUGE


@pytest.mark.parametrize("where", ["config file", "environment"])
def test_config_file_and_environment_are_range_checked(home, monkeypatch: pytest.MonkeyPatch, where: str) -> None:
    if where == "config file":
        write_config(home, getorder_interval_minutes=HUGE)
    else:
        monkeypatch.setenv("OMS_BRIDGE_GETORDER_INTERVAL_MINUTES", str(HUGE))
    reset_settings()
    with pytest.raises(SettingsError, match="'getorder_interval_minutes' must be between 1 and 10080 minutes"):
        get_settings()
    done = cli("channel", "list")
    assert done.returncode == 1 and "getorder_interval_minutes" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(("key", "value"), [("scheduler_sync_seconds", 0), ("scheduler_max_workers", 10_000),
                                            ("delivery_interval_seconds", HUGE), ("http_port", 70000)])
def test_other_settings_are_range_checked_at_load(home, key: str, value: int) -> None:
    write_config(home, **{key: value})
    reset_settings()
    with pytest.raises(SettingsError, match=f"'{key}' must be between"):
        get_settings()


def test_a_bad_channel_row_never_stops_the_other_channels_jobs(sqlite_settings: Settings) -> None:
    """A value written straight into the table (SQL, an older version) reaches the scheduler: that channel
    keeps its current job and is reported; every other channel is still scheduled."""
    with MomoSandbox(rate_limit=0) as sandbox:
        channels = momo_channels(sqlite_settings, sandbox, 3)
    ids = {value: cid for value, (cid, _shop) in channels.items()}
    with get_engine(sqlite_settings).begin() as conn:
        conn.execute(text("UPDATE oms_channel SET getorder_interval_minutes = :huge WHERE value = 'momo-2'"),
                     {"huge": HUGE})
    sched = build_scheduler(sqlite_settings, ScheduleConfig())
    sched.start(paused=True)
    try:
        result = reconcile(sched, sqlite_settings, ScheduleConfig())
        jobs = {job.id for job in sched.get_jobs()}
        assert {f"getorder:{ids['momo-1']}", f"getorder:{ids['momo-3']}", "erp-delivery"} <= jobs
        assert f"getorder:{ids['momo-2']}" not in jobs
        assert "momo-2" in result.problems[f"getorder:{ids['momo-2']}"]
        assert "oms-bridge channel update momo-2" in result.problems[f"getorder:{ids['momo-2']}"]
    finally:
        sched.shutdown(wait=False)


def test_disabled_channel_or_platform_is_refused_by_the_processes(sqlite_settings: Settings) -> None:
    """A job that outlived the disabling (sync failing, another instance, a manual run) pulls nothing."""
    with MomoSandbox(rate_limit=0) as sandbox:
        channels = momo_channels(sqlite_settings, sandbox, 1, orders=3)
        (channel_id, _shop), = channels.values()
        with session_scope(sqlite_settings) as s:
            set_channel_active(s, "momo-1", False)
        getorder_job(channel_id)  # what the scheduler's stale job calls
        stats = run_getorder(channel_id, settings=sqlite_settings, policy=FAST)
        assert stats.outcome == "skipped" and "channel momo-1 is disabled" in stats.error_text
        assert stats.api_calls == 0 and order_count(sqlite_settings) == 0
        assert run_refreshtoken(channel_id, settings=sqlite_settings).outcome == "skipped"
        done = cli("process", "run", "getorder", "--channel", "momo-1")
        assert "disabled" in done.stdout + done.stderr and order_count(sqlite_settings) == 0
        with session_scope(sqlite_settings) as s:
            set_channel_active(s, "momo-1", True)
            s.query(Platform).filter_by(value="momo-app").one().isactive = False
        stats = run_getorder(channel_id, settings=sqlite_settings, policy=FAST)
        assert stats.outcome == "skipped" and "platform momo-app of channel momo-1 is disabled" in stats.error_text
        assert order_count(sqlite_settings) == 0
        with session_scope(sqlite_settings) as s:
            s.query(Platform).filter_by(value="momo-app").one().isactive = True
        assert run_getorder(channel_id, settings=sqlite_settings, policy=FAST).outcome == "success"
        assert order_count(sqlite_settings) == 3
