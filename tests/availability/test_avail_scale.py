"""Regression (issue 18): many workers, several instances and worker processes on one PostgreSQL store.

- The pool was fixed at ``database_pool_size`` + ``database_max_overflow`` whatever the worker count: 8 or
  16 workers each held one run-lock connection while waiting for their second, and the runs failed (or
  the scheduler died) when the pool timed out. The pool is now sized from ``scheduler_max_workers``.
- A worker count the server cannot hold is refused before anything starts, with the numbers.
- Two instances started at different moments both take part in one cycle: before, the first to wake
  queued every due job of the cycle in its own executor and the second ran none.
- A worker process killed mid-run: the job it claimed is run again by another instance as soon as its
  lease ends (before, its next run time had already moved a whole interval on), and no order is stored
  twice.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections import Counter

import pytest
import requests
from avail_kit import RunProcess, cli, free_port, momo_channels, order_count, runs, wait_for, write_config
from sqlalchemy import text

from oms_bridge.settings import Settings, get_settings, reset_settings
from oms_bridge.store.db import dispose_engines, get_engine, pool_limit
from sandboxes.momo import MomoSandbox
from scheduler.builder import start_scheduler

pytestmark = pytest.mark.postgres

ORDERS = "/OrderServlet.do"


@pytest.fixture(autouse=True)
def _fresh_job_table(pg_settings):
    """The module's database outlives each test and its tables are emptied, but APScheduler's job table is not
    one of the bridge's models: drop it, or the next test's jobs (same ids) keep this test's next run times."""
    yield
    with get_engine(pg_settings).begin() as conn:
        conn.execute(text("DROP TABLE IF EXISTS apscheduler_jobs"))


def _reload(home, **config) -> Settings:
    write_config(home, **config)
    reset_settings()
    dispose_engines()
    return get_settings()


def _runner_pid(run) -> int:
    return int(json.loads(run.details_json or "{}").get("runner", "x:0").rsplit(":", 1)[1])


def _done(settings: Settings) -> list:
    return [r for r in runs(settings, "getorder") if r.outcome not in ("running", "skipped")]


@pytest.mark.parametrize("workers", [8, 16])
def test_many_workers_run_their_jobs_with_a_small_configured_pool(pg_settings, home, workers):
    """16 channels due at once, every worker busy at the same time, the pool configured at 5 + 10."""
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(pg_settings, sandbox, 16, orders=3, interval=1)
        settings = _reload(home, database_pool_size=5, database_max_overflow=10, scheduler_max_workers=workers,
                           scheduler_minute_seconds=600.0, scheduler_first_run_spread_seconds=0.0,
                           scheduler_sync_seconds=0.5, scheduler_heartbeat_seconds=0.5)
        assert pool_limit(settings) >= 3 * workers  # sized from the workers, not from the 5 + 10 configured
        sandbox.faults.inject("timeout", path=ORDERS, count=10**6, delay=0.5)  # runs overlap
        sched = start_scheduler(settings)
        try:
            try:
                wait_for(lambda: len(_done(settings)) >= 16, timeout=120, what="a GetOrder run of every channel")
            except AssertionError:
                raise AssertionError(f"runs: {[(r.oms_channel_id, r.outcome, r.error_text) for r in runs(settings)]}, "
                                     f"round error {sched.last_round_error}, health {sched.health()}") from None
        finally:
            sched.shutdown(wait=True)
        done = _done(settings)
        assert all(r.outcome == "success" for r in done), [(r.outcome, r.error_text) for r in done]
        assert sched.last_round_error is None and order_count(settings) == 48


def test_a_worker_count_the_server_cannot_hold_is_refused(pg_settings, home):
    write_config(home, scheduler_max_workers=64)
    outcome = cli("run", "--scheduler-only")
    assert outcome.returncode == 1, outcome.stderr
    assert "scheduler_max_workers = 64 with 1 process(es) needs up to 196 PostgreSQL connections" in outcome.stderr
    assert "max_connections" in outcome.stderr and "Traceback" not in outcome.stderr


def _schedule(home, **extra) -> None:
    write_config(home, scheduler_minute_seconds=600.0, scheduler_first_run_spread_seconds=0.0,
                 scheduler_sync_seconds=0.5, scheduler_heartbeat_seconds=0.5, scheduler_misfire_grace_seconds=600,
                 **extra)


def test_two_instances_started_apart_share_one_cycle(pg_settings, home, tmp_path):
    """12 channels due in one cycle, 2 workers per instance; the second instance starts once the first is busy."""
    _schedule(home, scheduler_max_workers=2)
    with MomoSandbox(rate_limit=0) as sandbox:
        channels = momo_channels(pg_settings, sandbox, 12, orders=2, interval=1)
        sandbox.faults.inject("timeout", path=ORDERS, count=10**6, delay=0.5)  # each GetOrder takes seconds
        first = RunProcess(tmp_path, "first", "--scheduler-only")
        second = None
        try:
            wait_for(lambda: any(r.outcome == "running" for r in runs(pg_settings, "getorder")), timeout=60,
                     what="the first instance to start the cycle")
            second = RunProcess(tmp_path, "second", "--scheduler-only")
            wait_for(lambda: len(_done(pg_settings)) >= 12, timeout=120, what="every channel's GetOrder")
        finally:
            codes = [p.stop() for p in (first, second) if p is not None]
        assert codes == [0, 0], first.stderr[-3000:]
    done = _done(pg_settings)
    assert all(r.outcome == "success" for r in done), [(r.outcome, r.error_text) for r in done]
    per_channel = Counter(r.oms_channel_id for r in done)
    assert sorted(per_channel) == sorted(cid for cid, _shop in channels.values())
    assert set(per_channel.values()) == {1}  # none ran twice in the cycle
    by_instance = Counter(_runner_pid(r) for r in done)
    assert by_instance[second.proc.pid] >= 2, by_instance  # the late instance took part
    assert by_instance[first.proc.pid] >= 2, by_instance
    assert order_count(pg_settings) == 24


def test_a_killed_instance_job_runs_again_when_its_lease_ends(pg_settings, home, tmp_path):
    _schedule(home, scheduler_lease_seconds=3.0)
    with MomoSandbox(rate_limit=0) as sandbox:
        channels = momo_channels(pg_settings, sandbox, 1, orders=5, interval=1)
        (channel_id, _shop), = channels.values()
        sandbox.faults.inject("timeout", path=ORDERS, count=10**6, delay=30)  # the run hangs on the marketplace
        instances = [RunProcess(tmp_path, "a", "--scheduler-only"), RunProcess(tmp_path, "b", "--scheduler-only")]
        try:
            running = wait_for(lambda: next((r for r in runs(pg_settings, "getorder") if r.outcome == "running"),
                                            None), timeout=120, what="a running GetOrder")
            holder = next(p for p in instances if p.proc.pid == _runner_pid(running))
            survivor = next(p for p in instances if p is not holder)
            time.sleep(4)  # longer than the lease: a live holder keeps renewing it, nobody takes the job over
            assert [r.id for r in runs(pg_settings, "getorder")] == [running.id]
            holder.proc.send_signal(signal.SIGKILL)
            holder.proc.wait(timeout=10)
            killed_at = time.monotonic()
            sandbox.faults.clear()
            again = wait_for(lambda: [r for r in runs(pg_settings, "getorder")
                                      if r.id != running.id and r.outcome == "success"], timeout=60,
                             what="the job to run again in the surviving instance")
            assert time.monotonic() - killed_at < 45  # the lease (3 s), not the interval (600 s)
            assert all(_runner_pid(r) == survivor.proc.pid and r.oms_channel_id == channel_id for r in again)
        finally:
            codes = [p.stop() for p in instances if p.proc.poll() is None]
        assert codes == [0]
    assert order_count(pg_settings) == 5  # every order exactly once


def _health(port: int):
    try:
        answer = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5)
        return answer.status_code, answer.json()
    except requests.RequestException:
        return None


def test_run_with_worker_processes_restarts_a_dead_one_and_says_so(pg_settings, home, tmp_path):
    _schedule(home, scheduler_max_workers=2)
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(pg_settings, sandbox, 4, orders=2, interval=1)
        port = free_port()
        service = RunProcess(tmp_path, "service", "--processes", "3", "--port", str(port))
        try:
            wait_for(lambda: service.stderr.count("scheduler running") == 3, timeout=120,
                     what="the service and its 2 worker processes")
            assert _health(port) == (200, {"status": "ok", "database": "ok", "scheduler": "running",
                                           "processes": "3/3 running"})
            wait_for(lambda: len(_done(pg_settings)) >= 4, timeout=120, what="the first cycle")
            pids = {_runner_pid(r) for r in _done(pg_settings)}
            workers = [int(p) for p in service.stderr.split("worker processes (pids ")[1].split(")")[0].split(", ")]
            assert len(workers) == 2 and pids <= {service.proc.pid, *workers}
            os.kill(workers[0], signal.SIGKILL)
            status, body = wait_for(lambda: (h := _health(port)) and h[0] == 503 and h, timeout=30,
                                    what="/healthz to report the dead worker")
            assert "1 of 2 worker processes not running" in body["reason"], body
            wait_for(lambda: (h := _health(port)) and h[0] == 200 and h[1].get("processes") == "3/3 running",
                     timeout=60, what="the worker to be restarted")
            wait_for(lambda: service.stderr.count("scheduler running") == 4, timeout=120, what="the new worker up")
        finally:
            code = service.stop()
        assert code == 0, service.stderr[-3000:]
    assert "Traceback" not in service.stderr and "exited with status" not in service.stderr
