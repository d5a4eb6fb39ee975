"""Several evaluators at once (separate processes, as several instances or a cron watchdog beside the
scheduler) send every notice exactly once: fired, repeat and recovered, on SQLite and PostgreSQL."""

from __future__ import annotations

import multiprocessing
from dataclasses import replace
from datetime import timedelta

from alert_workers import evaluate_worker
from alerts_kit import channel, order, set_delivery, target
from receivers import WebhookReceiver
from sqlalchemy import func, select

from oms_bridge.alerts.engine import run_alerts
from oms_bridge.settings import Settings
from oms_bridge.store.db import dispose_engines, session_scope
from oms_bridge.store.models import Alert, AlertNotice, utcnow

WORKERS = 3


def _race(now) -> list[dict]:
    """Run WORKERS evaluations in separate processes that start at the same moment."""
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(WORKERS), ctx.Queue()
    dispose_engines()  # no pooled connection is shared with the children
    procs = [ctx.Process(target=evaluate_worker, args=(now.isoformat(), barrier, results)) for _ in range(WORKERS)]
    for p in procs:
        p.start()
    out = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=60)
        assert p.exitcode == 0
    return out


def test_concurrent_evaluators_send_each_notice_once(store_settings: Settings, webhook: WebhookReceiver,
                                                     monkeypatch) -> None:
    monkeypatch.setenv("OMS_BRIDGE_ALERT_DIGEST_MINUTES", "60")  # the children read it from the environment
    settings = replace(store_settings, alert_digest_minutes=60)
    target(settings, "ops-hook", webhook.url())
    ch = channel(settings, auth_state="new")  # not authorized yet: no channel rule watches it
    dead = [order(settings, ch, f"26020100{i:02d}") for i in range(3)]
    for order_id in dead:
        set_delivery(settings, order_id, state="dead", last_error="gave up after 8 attempts: connection refused")
    t0 = utcnow()

    results = _race(t0)
    assert sum(len(r["fired"]) for r in results) == 1, results  # one process won the claim
    assert webhook.wait_for(1) and webhook.titles() == [
        "[oms-bridge] PROBLEM: 3 delivery(ies) to the ERP (iDempiere) gave up"]

    results = _race(t0 + timedelta(minutes=61))
    assert sum(len(r["repeated"]) for r in results) == 1, results
    assert len(webhook.wait_for(2)) == 2, webhook.titles()
    assert webhook.titles()[1].startswith("[oms-bridge] STILL WRONG: ")

    for order_id in dead:  # the admin fixed the cause and retried them: delivered
        set_delivery(settings, order_id, state="sent", last_error=None)
    results = _race(t0 + timedelta(minutes=62))
    assert sum(len(r["resolved"]) for r in results) >= 1, results  # several may see it resolved ...
    assert len(webhook.wait_for(3)) == 3
    assert webhook.titles()[2].startswith("[oms-bridge] RESOLVED: ")  # ... one sends the notice

    quiet = run_alerts(settings=settings, now=t0 + timedelta(minutes=63))
    assert not (quiet.fired or quiet.repeated or quiet.resolved)
    assert len(webhook.wait_for(4, timeout=1)) == 3
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(Alert)) == 1
        notices = s.execute(select(AlertNotice.kind, AlertNotice.status).order_by(AlertNotice.id)).all()
        assert notices == [("fired", "sent"), ("repeat", "sent"), ("recovered", "sent")]
