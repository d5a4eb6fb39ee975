"""Done means: a dead ERP reaches a person within one run interval, with nobody looking at the admin.

The real scheduler runs the ERP delivery and the alert evaluation (short intervals); the ERP is a closed
port on 127.0.0.1; the person is an HTTP webhook receiver.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from alerts_kit import target
from receivers import WebhookReceiver, free_port
from sqlalchemy import select

from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import ProcessRun
from sandboxes.idempiere.server import ErpSandbox
from scheduler.builder import start_scheduler
from scheduler.config import ScheduleConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "erp"))
from erp_helpers import make_env  # noqa: E402 - the ERP tests' kit


def _first_failed_delivery(settings):
    with session_scope(settings) as s:
        return s.scalar(select(ProcessRun.ended).where(ProcessRun.process == "erp_delivery", ProcessRun.failed > 0)
                        .order_by(ProcessRun.id).limit(1))


def test_dead_erp_reaches_the_webhook_within_one_alert_interval(sqlite_settings, webhook: WebhookReceiver,
                                                                monkeypatch) -> None:
    monkeypatch.setenv("OMS_BRIDGE_ALERT_FAILING_RUNS", "1")  # the jobs read the settings themselves
    reset_settings()
    settings = get_settings()
    erp = ErpSandbox().start()
    env = make_env(settings, erp, timeout=2.0)
    erp.stop()
    env.update_connection(url=f"http://127.0.0.1:{free_port()}/ADInterface/services")
    for _ in range(2):
        env.add_order()
    target(settings, "ops-hook", webhook.url())
    interval = 1.0
    cfg = ScheduleConfig(delivery_seconds=interval, alert_seconds=interval, sync_seconds=interval,
                         reconcile_time="")
    sched = start_scheduler(settings, cfg)
    try:
        posts = webhook.wait_for(1, timeout=60)
        received = time.time()
        assert [p["title"] for p in posts] == ["[oms-bridge] PROBLEM: the ERP (iDempiere) is unreachable"]
        failed_at = _first_failed_delivery(settings)
        assert failed_at is not None
        # the alert evaluation after the first failed delivery run sent it: at most one interval later, plus
        # the time a loaded machine needs to run the jobs (a generous margin, never a tighter assertion)
        assert received - failed_at.timestamp() < interval + 15
        time.sleep(4 * interval)  # several more evaluations while the ERP is still down: nothing new
        assert len(webhook.posts) == 1
        assert "nothing is lost" in posts[0]["message"]
    finally:
        sched.shutdown(wait=True)
