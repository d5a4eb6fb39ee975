"""A dead ERP reaches a person: fired once (webhook and e-mail), a digest while it lasts, a recovery
notice when it answers again - on SQLite and PostgreSQL, with real receivers on 127.0.0.1."""

from __future__ import annotations

import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from alerts_kit import target
from receivers import SmtpReceiver, WebhookReceiver, free_port
from sqlalchemy import select

from oms_bridge.alerts.engine import run_alerts
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import AlertNotice, AlertTarget, ProcessRun, utcnow
from sandboxes.idempiere.server import ErpSandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "erp"))
from erp_helpers import make_env  # noqa: E402 - the ERP tests' kit (a folder of its own)

ERP_PASSWORD_MARK = "sandbox"  # part of the ERP sandbox password: must never appear in an alert


def _dead_erp(settings: Settings, erp: ErpSandbox):
    env = make_env(settings, erp, timeout=2.0)
    env.update_connection(url=f"http://127.0.0.1:{free_port()}/ADInterface/services")  # nothing listens there
    numbers = [env.add_order() for _ in range(3)]
    return env, numbers


def test_dead_erp_fires_once_repeats_as_digest_and_recovers(store_settings: Settings, webhook: WebhookReceiver,
                                                            smtp: SmtpReceiver) -> None:
    settings = replace(store_settings, alert_failing_runs=2, alert_digest_minutes=60)
    target(settings, "ops-hook", webhook.url())
    target(settings, "ops-mail", smtp.url())
    erp = ErpSandbox().start()
    try:
        env, numbers = _dead_erp(settings, erp)
        t0 = utcnow()
        first = run_erp_delivery(settings=settings)
        assert first.failed == 3 and first.sent == 0
        assert run_alerts(settings=settings, now=t0).fired == []  # one failed run: below the threshold
        run_erp_delivery(settings=settings, now=t0 + timedelta(minutes=5))  # the retries fall due, fail again

        result = run_alerts(settings=settings, now=t0 + timedelta(minutes=6))
        assert result.fired == ["unreachable:erp"], result.findings
        assert webhook.titles() == ["[oms-bridge] PROBLEM: the ERP (iDempiere) is unreachable"]
        assert smtp.subjects() == ["[oms-bridge] PROBLEM: the ERP (iDempiere) is unreachable"]
        mail = smtp.text(0)
        for part in ("What is wrong:", "the last 2 erp_delivery runs with orders to deliver delivered none",
                     "Since:", "(Asia/Taipei)", "What to do:", "check that iDempiere is up", "nothing is lost"):
            assert part in mail, mail
        assert webhook.posts[0]["message"].count("What to do:") == 1

        # the next minutes: still down, nothing new is sent (fire once)
        for minutes in (7, 8, 30):
            again = run_alerts(settings=settings, now=t0 + timedelta(minutes=minutes))
            assert again.fired == [] and again.repeated == []
        assert len(webhook.posts) == 1 and len(smtp.messages) == 1

        # one digest interval after firing: one reminder, then nothing until the next interval
        digest = run_alerts(settings=settings, now=t0 + timedelta(minutes=67))
        assert digest.repeated == ["unreachable:erp"]
        assert webhook.titles()[1] == "[oms-bridge] STILL WRONG: the ERP (iDempiere) is unreachable"
        assert run_alerts(settings=settings, now=t0 + timedelta(minutes=70)).repeated == []
        assert len(webhook.posts) == 2 and len(smtp.messages) == 2

        # the ERP answers again: the orders go, the alert clears with one recovery notice
        env.update_connection(url=erp.connection_fields()["url"])
        delivered = run_erp_delivery(settings=settings, now=t0 + timedelta(hours=3))
        assert delivered.sent == 3
        recovered = run_alerts(settings=settings, now=t0 + timedelta(minutes=71))
        assert recovered.resolved == ["unreachable:erp"]
        assert webhook.titles()[2] == "[oms-bridge] RESOLVED: the ERP (iDempiere) is unreachable"
        assert smtp.subjects()[2] == "[oms-bridge] RESOLVED: the ERP (iDempiere) is unreachable"
        assert run_alerts(settings=settings, now=t0 + timedelta(minutes=72)).resolved == []
        assert len(webhook.posts) == 3 and len(smtp.messages) == 3

        everything = "\n".join(p["title"] + p["message"] for p in webhook.posts)
        everything += "\n".join(smtp.text(i) for i in range(3))
        for secret in ("s3cr3t-hook-key", erp.connection_fields()["password"], "陳怡君", "0912345678",
                       "buyer@example.com"):
            assert secret not in everything
        assert set(numbers)  # the orders themselves went through
        with session_scope(settings) as s:
            notices = s.scalars(select(AlertNotice).order_by(AlertNotice.id)).all()
            assert [(n.kind, n.status, n.targets_ok) for n in notices] == [
                ("fired", "sent", 2), ("repeat", "sent", 2), ("recovered", "sent", 2)]
            raw = " ".join(t.url_enc for t in s.scalars(select(AlertTarget)))
            assert "s3cr3t-hook-key" not in raw and "127.0.0.1" not in raw  # encrypted at rest
            runs = s.scalars(select(ProcessRun).where(ProcessRun.process == "alerts")).all()
            assert runs and all(r.outcome == "success" for r in runs)
    finally:
        erp.stop()


def test_a_failed_send_is_retried_until_the_target_takes_it(sqlite_settings: Settings,
                                                            webhook: WebhookReceiver) -> None:
    from alerts_kit import channel, order, set_delivery

    settings = replace(sqlite_settings, alert_send_attempts=3)
    target(settings, "ops-hook", webhook.url())
    order_id = order(settings, channel(settings), "2601010001")
    set_delivery(settings, order_id, state="dead", last_error="gave up after 8 attempts: HTTP 503")
    webhook.fail_next(1)
    t0 = utcnow()
    assert run_alerts(settings=settings, now=t0).fired == ["dead:erp"]
    assert webhook.posts == []  # the target answered 500
    with session_scope(settings) as s:
        notice = s.scalar(select(AlertNotice))
        assert (notice.status, notice.attempts) == ("failed", 1)
        assert "ops-hook" in notice.error_text and "s3cr3t-hook-key" not in notice.error_text
    assert run_alerts(settings=settings, now=t0 + timedelta(seconds=30)).retried == 0  # not due yet
    assert run_alerts(settings=settings, now=t0 + timedelta(minutes=2)).retried == 1
    assert webhook.titles() == ["[oms-bridge] PROBLEM: 1 delivery(ies) to the ERP (iDempiere) gave up"]
    assert "oms-bridge erp retry --all-held" in webhook.posts[0]["message"]
    with session_scope(settings) as s:
        notice = s.scalar(select(AlertNotice))
        assert (notice.status, notice.attempts, notice.pending_targets) == ("sent", 2, None)
    assert run_alerts(settings=settings, now=t0 + timedelta(minutes=10)).retried == 0
    assert len(webhook.posts) == 1


def test_without_targets_the_alert_is_kept_as_unsent_history(sqlite_settings: Settings) -> None:
    from alerts_kit import channel, order, set_delivery

    order_id = order(sqlite_settings, channel(sqlite_settings), "2601010002")
    set_delivery(sqlite_settings, order_id, state="dead", last_error="gave up")
    assert run_alerts(settings=sqlite_settings).fired == ["dead:erp"]
    with session_scope(sqlite_settings) as s:
        notice = s.scalar(select(AlertNotice))
        assert notice.status == "unsent" and "no active alert target" in notice.error_text


def test_a_notice_whose_sender_died_is_taken_over_when_its_claim_runs_out(sqlite_settings: Settings,
                                                                        webhook: WebhookReceiver) -> None:
    from alerts_kit import channel, order, set_delivery

    from oms_bridge.alerts import state, texts
    from oms_bridge.alerts.engine import evaluate

    target(sqlite_settings, "ops-hook", webhook.url())
    set_delivery(sqlite_settings, order(sqlite_settings, channel(sqlite_settings, auth_state="new"), "2601010003"),
                 state="dead", last_error="gave up")
    t0 = utcnow()
    (finding,), _ran, _errors = evaluate(sqlite_settings, t0)
    alert = state.open_alert(sqlite_settings, finding, t0)  # an evaluator opened the alert, claimed the notice ...
    title, body = texts.fired(alert, sqlite_settings.base_url)
    assert state.claim_notice(sqlite_settings, alert, key=alert.alert_key, episode=1, kind="fired", seq=0,
                              title=title, body=body, now=t0, runner="host:123:dead") is not None
    # ... and died before sending. While its claim holds, nobody else sends it:
    assert run_alerts(settings=sqlite_settings, now=t0 + timedelta(minutes=1)).retried == 0
    assert webhook.posts == []
    # when the claim runs out, the next evaluation takes it over and sends it
    assert run_alerts(settings=sqlite_settings, now=t0 + timedelta(minutes=6)).retried == 1
    assert webhook.titles() == [title]
    with session_scope(sqlite_settings) as s:
        notice = s.scalar(select(AlertNotice))
        assert (notice.status, notice.attempts) == ("sent", 1) and notice.claimed_by != "host:123:dead"
