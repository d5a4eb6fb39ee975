"""Regression (issue 11): the scheduler survives job-store errors, and health tells the truth.

A job-store error ("database is locked" in APScheduler's ``update_job``) ended APScheduler's thread for
good, while ``/healthz`` and ``/metrics`` kept saying the scheduler was running and no job ever ran again.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from avail_kit import momo_channels, runs, wait_for
from fastapi.testclient import TestClient
from sqlalchemy import text

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine
from oms_bridge.web.app import create_app
from sandboxes.momo import MomoSandbox
from scheduler.builder import BridgeScheduler, start_scheduler
from scheduler.config import ScheduleConfig

CFG = ScheduleConfig(getorder_minutes=1, minute_seconds=0.3, delivery_seconds=0.5, sync_seconds=0.3,
                     first_run_spread_seconds=0, heartbeat_seconds=0.2, stall_seconds=2)

_FAIL_SQLITE = ["CREATE TRIGGER omsb_test_fail BEFORE UPDATE ON apscheduler_jobs "
                "BEGIN SELECT RAISE(ABORT, 'injected job-store failure'); END"]
_FAIL_PG = ["CREATE FUNCTION omsb_test_fail() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'injected job-store failure'; END $$",
            "CREATE TRIGGER omsb_test_fail BEFORE UPDATE ON apscheduler_jobs "
            "FOR EACH ROW EXECUTE FUNCTION omsb_test_fail()"]
_HEAL_SQLITE = ["DROP TRIGGER omsb_test_fail"]
_HEAL_PG = ["DROP TRIGGER omsb_test_fail ON apscheduler_jobs", "DROP FUNCTION omsb_test_fail()"]


def _sql(settings: Settings, statements: list[str]) -> None:
    with get_engine(settings).begin() as conn:
        for statement in statements:
            conn.execute(text(statement))


def _metric(client: TestClient, name: str) -> str | None:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(name + " "):
            return line.split()[1]
    return None


def test_scheduler_survives_a_job_store_error_and_health_says_so(store_settings: Settings) -> None:
    sqlite = store_settings.is_sqlite
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(store_settings, sandbox, 2, orders=2, interval=1)
        sched = start_scheduler(store_settings, CFG)
        app = create_app()
        app.state.scheduler = sched
        client = TestClient(app, client=("127.0.0.1", 50000))  # /metrics: local clients by default
        try:
            wait_for(lambda: len([r for r in runs(store_settings, "getorder") if r.outcome == "success"]) >= 2,
                     what="first GetOrder runs")
            assert client.get("/healthz").json()["scheduler"] == "running"
            _sql(store_settings, _FAIL_SQLITE if sqlite else _FAIL_PG)  # every job-store update now fails
            answer = wait_for(lambda: (a := client.get("/healthz")).status_code == 503 and a, timeout=30,
                              what="/healthz to report the failing job store")
            body = answer.json()
            assert body["status"] == "degraded" and body["scheduler"] == "failing"
            assert "injected job-store failure" in body["reason"]
            assert _metric(client, "oms_bridge_scheduler_running") == "0.0"
            assert sched.thread_alive  # the thread lived through it
            _sql(store_settings, _HEAL_SQLITE if sqlite else _HEAL_PG)
            wait_for(lambda: client.get("/healthz").status_code == 200, timeout=30, what="recovery")
            seen = len(runs(store_settings, "getorder"))
            wait_for(lambda: len(runs(store_settings, "getorder")) > seen + 2, timeout=30,
                     what="jobs running again after the job store recovered")
            assert _metric(client, "oms_bridge_scheduler_running") == "1.0"
        finally:
            sched.shutdown(wait=True)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")  # the crash is the point
def test_a_dead_scheduler_thread_is_reported_and_ends_the_service(sqlite_settings: Settings,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Should the thread die anyway (a bug, not an error it catches): 503 ``dead``, metrics 0, and
    ``oms-bridge run`` stops with a failure so that its supervisor restarts it."""
    from oms_bridge.service import run_service

    def crash(self):
        raise SystemExit("simulated crash of the scheduler thread")

    seen: dict[str, object] = {}

    def started(service) -> None:
        client = TestClient(create_app(), client=("127.0.0.1", 50000))  # /metrics: local clients by default
        client.app.state.scheduler = service.scheduler
        assert client.get("/healthz").json()["scheduler"] == "running"
        monkeypatch.setattr(BridgeScheduler, "_process_jobs", crash)
        service.scheduler.wakeup()
        wait_for(lambda: not service.scheduler.thread_alive, timeout=10, what="the thread to end")
        answer = client.get("/healthz")
        seen["healthz"] = (answer.status_code, answer.json())
        seen["metric"] = _metric(client, "oms_bridge_scheduler_running")

    monkeypatch.setattr("oms_bridge.service.ScheduleConfig.from_settings",
                        classmethod(lambda cls, s: replace(CFG, first_run_delay_seconds=3600)))
    service = run_service(settings=sqlite_settings, http=False, on_started=started)
    status, body = seen["healthz"]
    assert status == 503 and body["scheduler"] == "dead" and "thread has ended" in body["reason"]
    assert seen["metric"] == "0.0"
    assert service.failure and "scheduler thread ended" in service.failure


def test_a_stuck_scheduler_loop_is_reported_stalled(sqlite_settings: Settings) -> None:
    """The loop cannot finish a round (here: something holds the job-store lock it needs): ``stalled``."""
    sched = start_scheduler(sqlite_settings, replace(CFG, first_run_delay_seconds=3600))
    app = create_app()
    app.state.scheduler = sched
    client = TestClient(app, client=("127.0.0.1", 50000))  # /metrics: local clients by default
    release = threading.Event()
    try:
        wait_for(lambda: client.get("/healthz").status_code == 200, what="a healthy start")

        def hold() -> None:
            with sched._jobstores_lock:
                release.wait(30)
        threading.Thread(target=hold, daemon=True).start()
        answer = wait_for(lambda: (a := client.get("/healthz")).status_code == 503 and a, timeout=20,
                          what="stalled")
        assert answer.json()["scheduler"] == "stalled" and "no scheduler round completed" in answer.json()["reason"]
        release.set()
        wait_for(lambda: client.get("/healthz").status_code == 200, timeout=20, what="recovery")
    finally:
        release.set()
        sched.shutdown(wait=True)


def test_overdue_jobs_are_reported_stalled(sqlite_settings: Settings) -> None:
    """Due jobs that nobody runs (this loop paused, every other instance gone) make the health ``stalled``."""
    sched = start_scheduler(sqlite_settings, replace(CFG, first_run_delay_seconds=3600))
    try:
        sched.pause()
        assert sched.health().state == "paused"
        an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
        for job in sched.get_jobs():
            sched.modify_job(job.id, next_run_time=an_hour_ago)
        health = sched.health()
        assert health.state == "stalled" and health.overdue_jobs >= 1 and "due jobs stopped running" in health.reason
        sched.resume()  # the loop runs them: nothing overdue any more
        wait_for(lambda: sched.health().state == "running", timeout=20, what="the overdue jobs to run")
    finally:
        sched.shutdown(wait=True)
