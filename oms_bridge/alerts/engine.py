"""One alert evaluation: run the rules, move alert states, claim and send notices; and "send test".

:func:`run_alerts` is what the scheduler's ``alerts`` job runs every ``alert_interval_seconds`` (and
``oms-bridge alerts check`` once, e.g. from cron as a watchdog beside the scheduler):

1. every rule of :data:`oms_bridge.alerts.rules.RULES` reads the store (one read-only transaction);
2. each finding opens its alert (or keeps it firing) and claims its ``fired`` notice: sent once per episode;
3. an alert firing for ``alert_digest_minutes`` or more claims a ``repeat`` notice per elapsed digest
   interval; all repeats claimed in one evaluation go out as one digest message;
4. a firing alert whose rule ran and no longer finds it is resolved and claims its ``recovered`` notice
   (a rule that failed this time resolves nothing);
5. notices owed from earlier evaluations (a failed send, a sender that died) are taken over when due;
6. every claimed notice is sent to the active targets (or only those still owed it) through apprise.

The run is recorded as an ``alerts`` process run (notices sent/failed, rule errors). Several evaluators
may run at once (two instances, the scheduler and a cron watchdog): the claims in
:mod:`oms_bridge.alerts.state` make each notice go out once.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from oms_bridge.alerts import state, texts
from oms_bridge.alerts.findings import Finding, safe_text
from oms_bridge.alerts.rules import RULES, RuleContext
from oms_bridge.alerts.sender import send
from oms_bridge.alerts.state import Delivered
from oms_bridge.alerts.targets import target_urls
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Alert, AlertNotice, utcnow
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import Vault

__all__ = ["PROCESS", "AlertRun", "evaluate", "run_alerts", "send_test"]

log = logging.getLogger("oms_bridge.alerts")
PROCESS = "alerts"


@dataclass
class AlertRun:
    """What one evaluation did (also on its ``oms_process_run`` row)."""

    stats: RunStats | None = None
    findings: list[Finding] = field(default_factory=list)
    fired: list[str] = field(default_factory=list)
    repeated: list[str] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)
    retried: int = 0
    rule_errors: dict[str, str] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)


def evaluate(settings: Settings, now: datetime) -> tuple[list[Finding], set[str], dict[str, str]]:
    """(findings, rules that ran, rule → error for those that failed)."""
    findings: list[Finding] = []
    ran: set[str] = set()
    errors: dict[str, str] = {}
    with session_scope(settings, readonly=True) as session:  # the rules only read
        ctx = RuleContext(session, settings, now)
        for name, rule in RULES.items():
            try:
                with session.begin_nested():
                    found = rule(ctx)
            except Exception as exc:  # noqa: BLE001 - one broken rule must not silence the others
                log.exception("alert rule %s failed", name)
                errors[name] = safe_text(f"{type(exc).__name__}: {exc}")
                continue
            ran.add(name)
            findings.extend(found)
    unique: dict[str, Finding] = {}
    for finding in findings:
        unique.setdefault(finding.key, finding)
    return list(unique.values()), ran, errors


def run_alerts(*, settings: Settings | None = None, now: datetime | None = None) -> AlertRun:
    """One evaluation (see module doc)."""
    settings = settings or get_settings()
    result = AlertRun()
    with record_run(PROCESS, settings=settings) as stats:
        result.stats = stats
        now = now or utcnow()
        runner = state.runner_id()
        findings, ran, errors = evaluate(settings, now)
        result.findings, result.rule_errors = findings, errors
        fired: list[AlertNotice] = []
        repeats: list[tuple[AlertNotice, Alert]] = []
        recovered: list[AlertNotice] = []
        digest = timedelta(minutes=settings.alert_digest_minutes)
        found_keys = set()
        for finding in findings:
            found_keys.add(finding.key)
            alert = state.open_alert(settings, finding, now)
            title, body = texts.fired(alert, settings.base_url)
            notice = state.claim_notice(settings, alert, key=alert.alert_key, episode=alert.episode, kind="fired",
                                        seq=0, title=title, body=body, now=now, runner=runner)
            if notice is not None:
                fired.append(notice)
                result.fired.append(alert.alert_key)
                continue
            intervals = int((now - alert.fired_at) / digest) if digest else 0
            if intervals >= 1:
                title, body = texts.repeat(alert, now, settings.base_url)
                notice = state.claim_notice(settings, alert, key=alert.alert_key, episode=alert.episode,
                                            kind="repeat", seq=intervals, title=title, body=body, now=now,
                                            runner=runner)
                if notice is not None:
                    repeats.append((notice, alert))
                    result.repeated.append(alert.alert_key)
        for alert in state.firing_alerts(settings):
            if alert.alert_key in found_keys or (alert.rule in RULES and alert.rule not in ran):
                continue
            done = state.resolve_alert(settings, alert, now)
            if done is None:
                continue
            title, body = texts.recovered(done, now, settings.base_url)
            notice = state.claim_notice(settings, done, key=done.alert_key, episode=done.episode, kind="recovered",
                                        seq=0, title=title, body=body, now=now, runner=runner)
            result.resolved.append(done.alert_key)
            if notice is not None:
                recovered.append(notice)
        owed = state.reclaim_due(settings, now, runner)
        result.retried = len(owed)
        _send_all(settings, fired + recovered + owed, repeats, now, runner, result)
        stats.fetched = len(findings)
        stats.sent = sum(1 for s in result.statuses.values() if s == "sent")
        stats.failed = sum(1 for s in result.statuses.values() if s in ("failed", "partial"))
        stats.details.update({"firing": sorted(found_keys), "fired": result.fired, "repeated": result.repeated,
                              "resolved": result.resolved, "retried": result.retried})
        if errors:
            stats.details["rule_errors"] = errors
            stats.outcome, stats.error_text = "partial", "alert rule(s) failed: " + ", ".join(sorted(errors))
        elif stats.failed:
            stats.outcome = "partial"
            stats.error_text = "some notifications could not be delivered (see the alert history)"
    return result


def _targets(settings: Settings) -> dict[int, tuple[str, str]]:
    with session_scope(settings) as session:
        return target_urls(session, Vault.from_settings(settings))


def _recipients(targets: dict[int, tuple[str, str]], notice: AlertNotice) -> dict[int, tuple[str, str]]:
    if not notice.pending_targets:
        return targets
    owed = {int(t) for t in notice.pending_targets.split(",") if t.strip().isdigit()}
    return {tid: t for tid, t in targets.items() if tid in owed}


def _deliver(targets: dict[int, tuple[str, str]], title: str, body: str) -> list[Delivered]:
    out = []
    for target_id, (name, url) in targets.items():
        sent = send(url, title, body)
        out.append(Delivered(target_id, name, sent.ok, sent.error))
        if not sent.ok:
            log.warning("alert %r not delivered to target %s: %s", title, name, sent.error)
    return out


def _send_all(settings: Settings, single: Sequence[AlertNotice], repeats: Sequence[tuple[AlertNotice, Alert]],
              now: datetime, runner: str, result: AlertRun) -> None:
    if not single and not repeats:
        return
    targets = _targets(settings)
    for notice in single:
        delivered = _deliver(_recipients(targets, notice), notice.title, notice.body or "")
        result.statuses[f"{notice.alert_key}#{notice.kind}{notice.seq}"] = state.record_outcome(
            settings, notice, delivered, now, runner)
    if repeats:
        title, body = texts.digest([alert for _notice, alert in repeats], now, settings.base_url)
        delivered = _deliver(targets, title, body)
        for notice, _alert in repeats:
            result.statuses[f"{notice.alert_key}#repeat{notice.seq}"] = state.record_outcome(
                settings, notice, delivered, now, runner)


def send_test(*, settings: Settings | None = None, target: str | None = None,
              now: datetime | None = None) -> list[Delivered]:
    """Send the test message to one target (or every active one) now; recorded in the alert history."""
    settings = settings or get_settings()
    now = now or utcnow()
    with session_scope(settings) as session:
        targets = target_urls(session, Vault.from_settings(settings), only=target)
    runner = state.runner_id()
    results = []
    for target_id, (name, url) in targets.items():
        title, body = texts.test_message(name, settings.base_url, now)
        key = f"test:{name}"
        notice = None
        for _attempt in range(5):  # seq is the next number; a concurrent test of the same target takes another
            with session_scope(settings) as session:
                seq = state.next_test_seq(session, key)
            notice = state.claim_notice(settings, None, key=key, episode=0, kind="test", seq=seq, title=title,
                                        body=body, now=now, runner=runner)
            if notice is not None:
                break
        delivered = _deliver({target_id: (name, url)}, title, body)
        if notice is not None:
            state.record_outcome(settings, notice, delivered, now, runner)
        results.extend(delivered)
    return results
