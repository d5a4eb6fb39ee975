"""Alert evaluations run in separate OS processes (multiprocessing, spawn) by the concurrency tests.

Each worker reads its settings from the environment it inherited (home, keys, database URL), like a
second instance of the bridge would.
"""

from __future__ import annotations

from datetime import datetime


def evaluate_worker(now_iso: str, barrier, results) -> None:
    """Wait for the others, then evaluate at the same moment."""
    from oms_bridge.alerts.engine import run_alerts
    from oms_bridge.settings import get_settings

    settings = get_settings()
    barrier.wait()
    run = run_alerts(settings=settings, now=datetime.fromisoformat(now_iso))
    results.put({"fired": run.fired, "repeated": run.repeated, "resolved": run.resolved, "statuses": run.statuses})
