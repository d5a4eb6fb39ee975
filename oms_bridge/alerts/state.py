"""Alert state in the store, changed so that several evaluators at once never send anything twice.

Three moves, each one short transaction (``BEGIN IMMEDIATE`` on SQLite, row-level on PostgreSQL):

- :func:`open_alert`: the problem key's row is created (unique ``alert_key``: of two evaluators inserting
  it, one gets the unique violation and reads the winner's row) or, when it was resolved, reopened by a
  compare-and-swap ``UPDATE ... WHERE state = 'resolved' AND episode = <read>`` that starts the next
  episode (only one evaluator's update matches);
- :func:`resolve_alert`: the same compare-and-swap the other way (``WHERE state = 'firing' AND episode = ...``);
- :func:`claim_notice`: inserting an ``oms_alert_notice`` row with the unique key (alert key, episode,
  kind, seq) *is* the claim to send it. ``fired`` and ``recovered`` have seq 0, so each is sent once per
  episode; a ``repeat`` has seq = the number of digest intervals since the episode fired, so each reminder
  is sent once. Whoever inserts first sends; the others meet the unique key and leave it.

A claim holds until ``claimed_until``. A sender that dies after claiming leaves a ``claimed`` row whose
time runs out; a send that failed (every target, or some) is kept with the targets still owed and a
retry time. :func:`reclaim_due` takes such rows over with a compare-and-swap on (status, claimed_until),
so again exactly one evaluator retries each, at most ``alert_send_attempts`` times in all.
"""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.alerts.findings import Finding
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Alert, AlertNotice, AlertTarget

__all__ = ["CLAIM_SECONDS", "Delivered", "open_alert", "resolve_alert", "firing_alerts", "claim_notice",
           "reclaim_due", "record_outcome", "retry_delay", "runner_id", "current_alerts", "notice_history",
           "next_test_seq"]

#: how long a claim holds before another evaluator may take the notice over (a send takes seconds)
CLAIM_SECONDS = 300


def runner_id() -> str:
    """Who claims: host, process and a per-evaluation nonce (two evaluations in one process differ too)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"[:120]


def retry_delay(attempts: int) -> timedelta:
    """1, 2, 4 ... minutes after a failed send, at most an hour."""
    return timedelta(seconds=min(3600, 60 * 2 ** max(0, attempts - 1)))


def _insert(session: Session, row: object) -> bool:
    """Insert under a savepoint; False when a unique key says another writer was first."""
    try:
        with session.begin_nested():
            session.add(row)
            session.flush()
    except IntegrityError:
        return False
    return True


def open_alert(settings: Settings, finding: Finding, now: datetime) -> Alert:
    """The alert row of ``finding`` in state ``firing`` (created, reopened for a new episode, or refreshed)."""
    values = {"rule": finding.rule, "subject": finding.subject, "title": finding.title[:255],
              "message": finding.detail, "fix": finding.fix, "last_seen": now}
    with session_scope(settings, immediate=True) as session:
        row = session.scalar(select(Alert).where(Alert.alert_key == finding.key))
        if row is None:
            fresh = Alert(alert_key=finding.key, state="firing", episode=1, fired_at=now, since=finding.since,
                          **values)
            if _insert(session, fresh):
                return fresh
            row = session.scalar(select(Alert).where(Alert.alert_key == finding.key))
        if row.state == "resolved":
            session.execute(update(Alert).where(Alert.id == row.id, Alert.state == "resolved",
                                                Alert.episode == row.episode)
                            .values(state="firing", episode=row.episode + 1, fired_at=now, since=finding.since,
                                    resolved_at=None, **values)
                            .execution_options(synchronize_session=False))
        else:
            session.execute(update(Alert).where(Alert.id == row.id)
                            .values(since=func.coalesce(finding.since, Alert.since), **values)
                            .execution_options(synchronize_session=False))
        session.expire(row)
        session.refresh(row)
        return row


def resolve_alert(settings: Settings, alert: Alert, now: datetime) -> Alert | None:
    """End ``alert``'s episode; returns the resolved row (also when another evaluator resolved it just now)."""
    with session_scope(settings, immediate=True) as session:
        session.execute(update(Alert).where(Alert.id == alert.id, Alert.state == "firing",
                                            Alert.episode == alert.episode)
                        .values(state="resolved", resolved_at=now).execution_options(synchronize_session=False))
        row = session.get(Alert, alert.id, populate_existing=True)
        if row is None or row.state != "resolved" or row.episode != alert.episode:
            return None  # reopened meanwhile: that episode is still on
        return row


def firing_alerts(settings: Settings) -> list[Alert]:
    with session_scope(settings) as session:
        return list(session.scalars(select(Alert).where(Alert.state == "firing").order_by(Alert.id)))


def claim_notice(settings: Settings, alert: Alert | None, *, key: str, episode: int, kind: str, seq: int,
                 title: str, body: str, now: datetime, runner: str) -> AlertNotice | None:
    """Claim the right to send this notice (see module doc); None when it is someone else's (or sent)."""
    with session_scope(settings, immediate=True) as session:
        taken = session.scalar(select(AlertNotice.id).where(
            AlertNotice.alert_key == key, AlertNotice.episode == episode, AlertNotice.kind == kind,
            AlertNotice.seq == seq))
        if taken is not None:
            return None
        notice = AlertNotice(oms_alert_id=alert.id if alert else None, alert_key=key, episode=episode, kind=kind,
                             seq=seq, status="claimed", claimed_until=now + timedelta(seconds=CLAIM_SECONDS),
                             claimed_by=runner, title=title[:255], body=body)
        return notice if _insert(session, notice) else None


def reclaim_due(settings: Settings, now: datetime, runner: str) -> list[AlertNotice]:
    """Take over notices whose sender died or whose send failed and is due again (compare-and-swap each)."""
    claimed = []
    with session_scope(settings) as session:
        due = session.execute(select(AlertNotice.id, AlertNotice.status, AlertNotice.claimed_until).where(
            AlertNotice.status.in_(("claimed", "failed", "partial")), AlertNotice.kind != "test",
            AlertNotice.claimed_until.is_not(None), AlertNotice.claimed_until <= now,
            AlertNotice.attempts < settings.alert_send_attempts)).all()
    for notice_id, status, until in due:
        with session_scope(settings, immediate=True) as session:
            result = session.execute(
                update(AlertNotice).where(AlertNotice.id == notice_id, AlertNotice.status == status,
                                          AlertNotice.claimed_until == until)
                .values(status="claimed", claimed_by=runner, claimed_until=now + timedelta(seconds=CLAIM_SECONDS))
                .execution_options(synchronize_session=False))
            if result.rowcount == 1:
                claimed.append(session.get(AlertNotice, notice_id, populate_existing=True))
    return claimed


@dataclass(frozen=True)
class Delivered:
    """How one target took one notice."""

    target_id: int
    target: str
    ok: bool
    error: str | None = None


def record_outcome(settings: Settings, notice: AlertNotice, results: Iterable[Delivered], now: datetime,
                   runner: str) -> str:
    """Store how the send went (status, targets still owed, retry time); returns the new status."""
    results = list(results)
    failed = [r for r in results if not r.ok]
    if not results:
        status = "unsent"
    elif not failed:
        status = "sent"
    else:
        status = "partial" if len(failed) < len(results) or notice.targets_ok else "failed"
    attempts = notice.attempts + 1
    retry = status in ("failed", "partial") and attempts < settings.alert_send_attempts
    errors = "; ".join(f"{r.target}: {r.error or 'not accepted'}" for r in failed) or None
    if status == "unsent":
        errors = "no active alert target is configured (`oms-bridge alerts target add`, or the Alerts page)"
    with session_scope(settings, immediate=True) as session:
        session.execute(
            update(AlertNotice).where(AlertNotice.id == notice.id, AlertNotice.status == "claimed",
                                      AlertNotice.claimed_by == runner)
            .values(status=status, attempts=attempts, error_text=errors,
                    targets_ok=AlertNotice.targets_ok + sum(1 for r in results if r.ok),
                    pending_targets=",".join(str(r.target_id) for r in failed)[:255] or None,
                    sent_at=now if len(failed) < len(results) else notice.sent_at,
                    claimed_until=now + retry_delay(attempts) if retry else None)
            .execution_options(synchronize_session=False))
        for r in results:
            values = {"last_sent": now, "last_error": None} if r.ok else {"last_error": r.error or "not accepted"}
            session.execute(update(AlertTarget).where(AlertTarget.id == r.target_id).values(**values)
                            .execution_options(synchronize_session=False))
    return status


def next_test_seq(session: Session, key: str) -> int:
    return int(session.scalar(select(func.coalesce(func.max(AlertNotice.seq), 0))
                              .where(AlertNotice.alert_key == key)) or 0) + 1


def current_alerts(session: Session, *, include_resolved: bool = False, limit: int = 200) -> list[Alert]:
    """Firing alerts first (oldest first), then (optionally) the recently resolved ones."""
    firing = list(session.scalars(select(Alert).where(Alert.state == "firing").order_by(Alert.fired_at)))
    if not include_resolved:
        return firing
    resolved = list(session.scalars(select(Alert).where(Alert.state == "resolved")
                                    .order_by(Alert.resolved_at.desc()).limit(limit)))
    return firing + resolved


def notice_history(session: Session, *, limit: int = 100) -> list[AlertNotice]:
    """The latest notifications, newest first (the alert history)."""
    return list(session.scalars(select(AlertNotice).order_by(AlertNotice.id.desc()).limit(limit)))
