"""What the admin dashboard shows, read from the store: status tiles, warnings with severity,
per-channel health (sync lag included) and outbox counts.

Kept apart from the routes so the same rows can be tested and reused (e.g. by ``/metrics``).
Every query is an aggregate (``GROUP BY`` / ``MIN``) so the page stays fast on a large store.

Tiles (:func:`status_tiles`), each linked to the page that fixes it, and each raising a warning
when it is not zero: held, dead and retrying deliveries, stale and failing channels, and the age of
the oldest pending delivery (a warning past ``alert_pending_max_minutes``). The dashboard never says
"nothing needs attention" while any tile is raised.

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
from oms_bridge.web.display import age_text

__all__ = ["ChannelStatus", "Tile", "WarningLine", "channel_statuses", "delivery_counts", "countdown", "scheduled_runs",
           "status_tiles", "dashboard_warnings", "oldest_pending"]

#: Severity of a warning and level of a tile, mildest first.
LEVELS = ("ok", "warning", "critical")

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
    #: orders are committed up to here (the GetOrder watermark); ``lag`` is now minus it
    watermark: datetime | None = None
    lag: timedelta | None = None
    stale: bool = False
    failing: bool = False
    #: each warning's severity, same order as ``warnings``
    severities: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Tile:
    """One status tile: what it counts, the number (or age text), its level and the page that fixes it."""

    key: str
    label: str
    value: str
    level: str
    href: str


@dataclass(frozen=True)
class WarningLine:
    """One line under "Warnings": how bad, what, and where to fix it."""

    severity: str
    text: str
    href: str | None = None


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
        severities = ["warning"] * len(warnings)
        stale = failing = False
        if ch.isactive and ch.auth_state in ("error", "reauth_required"):
            failing = True
            if ch.auth_state == "error":
                warnings.append(ch.auth_message or f"the credentials of channel {ch.value} were rejected")
                severities.append("critical")
            elif severities:  # token_warnings put the re-authorization message first
                severities[0] = "critical"
        if ch.isactive and ch.auth_state == "active":
            interval = timedelta(minutes=ch.getorder_interval_minutes or settings.getorder_interval_minutes)
            if ok_at is None or now - ok_at > interval * stale_factor:
                stale = True
                since = f"since {ok_at:%Y-%m-%d %H:%M} UTC" if ok_at else "yet"
                warnings.append(f"sync stale: no successful GetOrder for channel {ch.value} {since}")
                severities.append("warning")
            if run is not None and run.outcome == "failed":
                failing = True
                warnings.append(f"the last GetOrder of channel {ch.value} failed: {run.error_text or 'no message'}")
                severities.append("critical")
        mark = ch.order_watermark or ok_at
        rows.append(ChannelStatus(
            value=ch.value, name=ch.name, platform=ch.platform.value, platform_type=ch.platform.platform_type,
            active=bool(ch.isactive), auth_state=ch.auth_state,
            access_expires_in=countdown(ch.access_expires_at, now),
            refresh_expires_in=countdown(ch.refresh_expires_at, now),
            last_run=None if run is None else {
                "started": run.started, "outcome": effective_outcome(run, settings, now), "fetched": run.fetched,
                "new": run.new, "changed": run.changed, "held": run.held, "error": run.error_text},
            last_success=ok_at, next_getorder=scheduled.get(f"getorder:{ch.id}"), warnings=warnings,
            watermark=mark, lag=(now - mark) if mark else None, stale=stale, failing=failing,
            severities=severities))
    return rows


def oldest_pending(session: Session) -> datetime | None:
    """When the oldest delivery still due (pending or retry) became due (one ``MIN``)."""
    return session.scalar(select(func.min(func.coalesce(Delivery.armed_at, Delivery.created)))
                          .where(Delivery.state.in_(("pending", "retry"))))


def _total(counts: dict[str, dict[str, int]], state: str) -> int:
    return sum(by_state.get(state, 0) for by_state in counts.values())


def status_tiles(counts: dict[str, dict[str, int]], statuses: list[ChannelStatus], oldest: datetime | None,
                 settings: Settings, now: datetime) -> list[Tile]:
    """The six tiles at the top of the dashboard (see module doc), each linked to the page that fixes it."""
    held, dead, retry = _total(counts, "held"), _total(counts, "dead"), _total(counts, "retry")
    stale = sum(1 for s in statuses if s.stale)
    failing = sum(1 for s in statuses if s.failing)
    age = (now - oldest) if oldest else None
    late = age is not None and age > timedelta(minutes=settings.alert_pending_max_minutes)
    return [
        Tile("held", "held deliveries", str(held), "warning" if held else "ok", "/admin/held?state=held"),
        Tile("dead", "dead deliveries", str(dead), "critical" if dead else "ok", "/admin/held?state=dead"),
        Tile("retrying", "deliveries retrying", str(retry), "warning" if retry else "ok", "/admin/held?state=retry"),
        Tile("stale", "stale channels", str(stale), "warning" if stale else "ok", "/admin/channels?health=stale"),
        Tile("failing", "failing channels", str(failing), "critical" if failing else "ok",
             "/admin/channels?health=failing"),
        Tile("oldest", "oldest pending delivery", age_text(age) if age is not None else "none",
             "warning" if late else "ok", "/admin/runs?process=erp_delivery"),
    ]


def dashboard_warnings(tiles: list[Tile], statuses: list[ChannelStatus]) -> list[WarningLine]:
    """Every raised tile and every channel warning, worst first."""
    found: list[WarningLine] = []
    texts = {"held": "{v} {deliveries} held: a cause someone must fix (an unmapped SKU, a missing price)",
             "dead": "{v} {deliveries} dead: they gave up after every attempt; retry them once the cause is fixed",
             "retrying": "{v} {deliveries} retrying after a failure of the destination",
             "oldest": "the oldest pending delivery has waited {v}"}
    for tile in tiles:
        if tile.level != "ok" and tile.key in texts:
            deliveries = "delivery is" if tile.value == "1" else "deliveries are"
            text_ = texts[tile.key].format(v=tile.value, deliveries=deliveries)
            found.append(WarningLine(tile.level, text_, tile.href))
    for status in statuses:
        severities = status.severities or ["warning"] * len(status.warnings)
        for text_, severity in zip(status.warnings, severities, strict=True):
            found.append(WarningLine(severity, text_, f"/admin/channels/{status.value}"))
    return sorted(found, key=lambda w: -LEVELS.index(w.severity))


def delivery_counts(session: Session) -> dict[str, dict[str, int]]:
    """``{destination: {state: count}}`` with every destination and state present."""
    counts = {d: dict.fromkeys(DELIVERY_STATES, 0) for d in DESTINATIONS}
    for dest, state, n in session.execute(select(Delivery.destination, Delivery.state, func.count())
                                          .group_by(Delivery.destination, Delivery.state)):
        counts.setdefault(dest, dict.fromkeys(DELIVERY_STATES, 0))[state] = n
    return counts
