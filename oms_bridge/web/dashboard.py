"""What the admin dashboard shows, read from the store: per-channel health and outbox counts.

Kept apart from the routes so the same rows can be tested and reused (e.g. by ``/metrics``).
Warnings a channel can raise:

- **re-authorization required** / token or authorization expiring: from
  :func:`channels.tokens.token_warnings`;
- **credentials rejected**: ``auth_state == "error"`` with the channel's message;
- **sync stale**: no successful GetOrder for longer than ``admin_stale_factor`` (config file,
  default 3) times the channel's GetOrder interval;
- **last run failed**: the most recent GetOrder ended ``failed`` (its error text is shown).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session, selectinload

from channels.tokens import token_warnings
from oms_bridge.settings import Settings
from oms_bridge.store.models import DELIVERY_STATES, DESTINATIONS, Channel, Delivery, ProcessRun
from oms_bridge.store.runs import effective_outcome

__all__ = ["ChannelStatus", "channel_statuses", "delivery_counts", "countdown", "scheduled_runs"]

#: APScheduler's job table in the bridge's database (see :mod:`scheduler.builder`)
JOB_TABLE = "apscheduler_jobs"


@dataclass
class ChannelStatus:
    """One dashboard row."""

    value: str
    name: str
    platform: str
    platform_type: str
    active: bool
    auth_state: str
    access_expires_in: str
    refresh_expires_in: str
    last_run: dict[str, Any] | None
    last_success: datetime | None
    next_getorder: datetime | None = None
    warnings: list[str] = field(default_factory=list)


def countdown(when: datetime | None, now: datetime) -> str:
    """'3 d 4 h', '42 min', 'expired 5 min ago', or '' when unknown."""
    if when is None:
        return ""
    delta = when - now
    past = delta < timedelta(0)
    delta = abs(delta)
    if delta >= timedelta(days=1):
        text = f"{delta.days} d {delta.seconds // 3600} h"
    elif delta >= timedelta(hours=1):
        text = f"{delta.seconds // 3600} h {delta.seconds % 3600 // 60} min"
    else:
        text = f"{delta.seconds // 60} min"
    return f"expired {text} ago" if past else text


def _last_runs(session: Session, process: str) -> tuple[dict[int, ProcessRun], dict[int, datetime]]:
    latest_ids = (select(func.max(ProcessRun.id)).where(ProcessRun.process == process)
                  .group_by(ProcessRun.oms_channel_id))
    last = {r.oms_channel_id: r for r in session.scalars(select(ProcessRun).where(ProcessRun.id.in_(latest_ids)))}
    success = dict(session.execute(
        select(ProcessRun.oms_channel_id, func.max(ProcessRun.ended))
        .where(ProcessRun.process == process, ProcessRun.outcome == "success")
        .group_by(ProcessRun.oms_channel_id)).all())
    return last, success


def scheduled_runs(session: Session) -> dict[str, datetime]:
    """Next run time per scheduler job id (``getorder:<channel id>`` ...), read from APScheduler's shared
    job table, so a web-only instance shows them too; empty when no scheduler ever ran here."""
    if not inspect(session.connection()).has_table(JOB_TABLE):  # the session's own connection
        return {}
    rows = session.execute(text(f"SELECT id, next_run_time FROM {JOB_TABLE} WHERE next_run_time IS NOT NULL"))
    return {job_id: datetime.fromtimestamp(float(ts), UTC) for job_id, ts in rows}


def channel_statuses(session: Session, settings: Settings, now: datetime) -> list[ChannelStatus]:
    """Every channel with its auth state, token countdowns, last and next GetOrder, and warnings."""
    last, success = _last_runs(session, "getorder")
    scheduled = scheduled_runs(session)
    stale_factor = float(settings.extra.get("admin_stale_factor", 3))
    rows = []
    for ch in session.scalars(select(Channel).options(selectinload(Channel.platform)).order_by(Channel.value)):
        run = last.get(ch.id)
        ok_at = success.get(ch.id)
        warnings = list(token_warnings(ch, now, settings=settings)) if ch.isactive else []
        if ch.isactive and ch.auth_state == "error":
            warnings.append(ch.auth_message or f"the credentials of channel {ch.value} were rejected")
        if ch.isactive and ch.auth_state == "active":
            interval = timedelta(minutes=ch.getorder_interval_minutes or settings.getorder_interval_minutes)
            if ok_at is None or now - ok_at > interval * stale_factor:
                since = f"since {ok_at:%Y-%m-%d %H:%M} UTC" if ok_at else "yet"
                warnings.append(f"sync stale: no successful GetOrder for channel {ch.value} {since}")
            if run is not None and run.outcome == "failed":
                warnings.append(f"the last GetOrder of channel {ch.value} failed: {run.error_text or 'no message'}")
        rows.append(ChannelStatus(
            value=ch.value, name=ch.name, platform=ch.platform.value, platform_type=ch.platform.platform_type,
            active=bool(ch.isactive), auth_state=ch.auth_state,
            access_expires_in=countdown(ch.access_expires_at, now),
            refresh_expires_in=countdown(ch.refresh_expires_at, now),
            last_run=None if run is None else {
                "started": run.started, "outcome": effective_outcome(run, settings, now), "fetched": run.fetched,
                "new": run.new, "changed": run.changed, "held": run.held, "error": run.error_text},
            last_success=ok_at, next_getorder=scheduled.get(f"getorder:{ch.id}"), warnings=warnings))
    return rows


def delivery_counts(session: Session) -> dict[str, dict[str, int]]:
    """``{destination: {state: count}}`` with every destination and state present."""
    counts = {d: dict.fromkeys(DELIVERY_STATES, 0) for d in DESTINATIONS}
    for dest, state, n in session.execute(select(Delivery.destination, Delivery.state, func.count())
                                          .group_by(Delivery.destination, Delivery.state)):
        counts.setdefault(dest, dict.fromkeys(DELIVERY_STATES, 0))[state] = n
    return counts
