"""Regression (issue 11): a graceful SIGTERM of `oms-bridge run` logged APScheduler tracebacks
("cannot schedule new futures after shutdown"): its loop submitted due jobs to an executor that the
shutdown had already closed. Now the loop stops before the executor does; stderr stays clean."""

from __future__ import annotations

import signal

from avail_kit import RunProcess, momo_channels, runs, wait_for, write_config

from oms_bridge.settings import Settings
from sandboxes.momo import MomoSandbox


def test_sigterm_while_jobs_run_and_fall_due_leaves_stderr_clean(sqlite_settings: Settings, home, tmp_path) -> None:
    write_config(home, scheduler_minute_seconds=0.2, scheduler_sync_seconds=0.5, scheduler_first_run_spread_seconds=0,
                 scheduler_misfire_grace_seconds=30, delivery_interval_seconds=1)
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(sqlite_settings, sandbox, 4, orders=3, interval=1)  # every 0.2 s: always something due
        for cycle in range(3):
            # one order call stalls 2 s: the shutdown waits for that run while other jobs fall due
            sandbox.faults.inject("timeout", path="/OrderServlet.do", delay=2.0)
            seen = len(runs(sqlite_settings))
            service = RunProcess(tmp_path, f"worker-{cycle}", "--scheduler-only")
            try:
                wait_for(lambda s=seen: any(r.outcome == "running" for r in runs(sqlite_settings)[s:]), timeout=60,
                         what="a running job")
            finally:
                code = service.stop(signal.SIGTERM)
            err = service.stderr
            assert code == 0, err[-3000:]
            for bad in ("Traceback", "cannot schedule new futures", "Error submitting job", "ERROR"):
                assert bad not in err, f"cycle {cycle}: {bad!r} in stderr:\n{err[-3000:]}"
    unfinished = [r.id for r in runs(sqlite_settings) if r.outcome == "running"]
    assert not unfinished  # every run that started was finished before the exit
