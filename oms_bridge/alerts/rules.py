"""The alert rules: read the store, say what is wrong right now (a list of :class:`Finding`).

Every rule is a plain function ``rule(ctx) -> list[Finding]`` in :data:`RULES`; the evaluation runs
each one on its own, so a rule that fails (a bug, a database hiccup) is reported and never resolves the
alerts it raised before. Thresholds are settings (``oms_bridge.settings``; docs/alerts.md):

==================  =========================================================================================
rule                fires when
==================  =========================================================================================
channel_stale       an authorized channel had no successful GetOrder for ``alert_stale_intervals`` intervals
channel_failing     the last ``alert_failing_runs`` GetOrder runs of a channel failed
channel_auth        a channel needs re-authorization, or the marketplace rejected its credentials
channel_token       a refresh token or the merchant's authorization ends soon (``refresh_token_warn_days``,
                    ``auth_warn_days``; the same warnings as the dashboard)
held                more than ``alert_held_max`` deliveries of a destination are held, or one has been held
                    longer than ``alert_held_max_age_hours`` (``intake``: orders held before any delivery)
dead                a destination has deliveries that gave up (``dead``)
unreachable         the last ``alert_failing_runs`` delivery runs of a destination that had work delivered
                    nothing and failed (the ERP, the OMS or the marketplaces' shipment API is not answering)
pending_old         a row has waited for its destination longer than ``alert_pending_max_minutes``
scheduler_silent    jobs are scheduled but no scheduled process started for ``alert_scheduler_silence_minutes``
reconcile_missing   the latest reconciliation of a channel found orders missing beyond the expected lag
reconcile_failed    the latest reconciliation of a channel could not be completed
==================  =========================================================================================

Destinations are those of ``monitored_destinations`` that are connected
(:func:`oms_bridge.store.destinations.destinations_in_use`: no OMS connected, no alert about the OMS).
Texts name channels, destinations, counts, hold codes and order numbers only; quoted error texts go
through :func:`~oms_bridge.alerts.findings.safe_text` (no secrets, no personal data).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session, selectinload

from channels.tokens import token_warnings
from oms_bridge.alerts.findings import Finding, duration, local_time, safe_text
from oms_bridge.settings import Settings
from oms_bridge.store.causes import UNREADABLE, Cause, cause_of_hold
from oms_bridge.store.destinations import destinations_in_use
from oms_bridge.store.models import Channel, Delivery, Order, ProcessRun, Reconciliation

__all__ = ["RuleContext", "RULES", "DELIVERY_PROCESSES", "destination_of"]

#: APScheduler's job table in the bridge's database (scheduler.builder creates it)
JOB_TABLE = "apscheduler_jobs"
#: processes the alert evaluation and reconciliation record themselves: not evidence of scheduled work
OWN_PROCESSES = ("alerts", "reconcile")
#: delivery processes per destination (a process named ``<destination>_delivery`` is recognised too)
DELIVERY_PROCESSES = {"erp_delivery": "erp", "logistics_delivery": "logistics", "oms_delivery": "oms"}
GOOD_GETORDER = ("success", "partial")
COUNTED_GETORDER = ("success", "partial", "failed", "interrupted")

DESTINATION_NAMES = {"erp": "the ERP (iDempiere)", "oms": "the OMS", "logistics": "the marketplaces' shipment API",
                     "intake": "intake (orders that could not be read)"}
RETRY_HINTS = {
    "erp": "`oms-bridge erp retry --all-held` (or Retry on the Held page)",
    "logistics": "`oms-bridge oms retry-shipments` (or Retry on the Held page)",
}


@dataclass
class RuleContext:
    """What every rule reads: a read-only session, the settings and one fixed "now"."""

    session: Session
    settings: Settings
    now: datetime
    _channels: list[Channel] | None = field(default=None, repr=False)
    _destinations: tuple[str, ...] | None = field(default=None, repr=False)

    @property
    def channels(self) -> list[Channel]:
        """Active channels on active platforms (others are switched off on purpose: nothing to watch)."""
        if self._channels is None:
            rows = self.session.scalars(select(Channel).options(selectinload(Channel.platform))
                                        .order_by(Channel.value)).all()
            self._channels = [c for c in rows if c.isactive and c.platform is not None and c.platform.isactive]
        return self._channels

    @property
    def destinations(self) -> tuple[str, ...]:
        """The monitored destinations that are connected (no OMS: no alert about the OMS)."""
        if self._destinations is None:
            self._destinations = destinations_in_use(self.session, self.settings.destinations)
        return self._destinations

    def base(self) -> str:
        return self.settings.base_url.rstrip("/")


def destination_of(process: str) -> str | None:
    """The destination a delivery process serves (``erp_delivery`` → ``erp``), or None."""
    if process in DELIVERY_PROCESSES:
        return DELIVERY_PROCESSES[process]
    return process[: -len("_delivery")] if process.endswith("_delivery") else None


def _aware(when: datetime | None) -> datetime | None:
    return when.replace(tzinfo=UTC) if when is not None and when.tzinfo is None else when


# ---------------------------------------------------------------------------------------------- channels
def _getorder_runs(ctx: RuleContext, channel_id: int, limit: int) -> list[ProcessRun]:
    return list(ctx.session.scalars(
        select(ProcessRun).where(ProcessRun.process == "getorder", ProcessRun.oms_channel_id == channel_id,
                                 ProcessRun.outcome.in_(COUNTED_GETORDER))
        .order_by(ProcessRun.id.desc()).limit(limit)))


def channel_failing(ctx: RuleContext) -> list[Finding]:
    """The last N GetOrder runs of an authorized channel failed."""
    n = ctx.settings.alert_failing_runs
    out = []
    for ch in ctx.channels:
        if ch.auth_state in ("new", "reauth_required", "error"):
            continue  # never authorized, or channel_auth says it better
        runs = _getorder_runs(ctx, ch.id, n)
        if len(runs) < n or any(r.outcome in GOOD_GETORDER for r in runs):
            continue
        last = runs[0]
        out.append(Finding(
            key=f"channel_failing:{ch.value}", rule="channel_failing", subject=ch.value,
            title=f"GetOrder of channel {ch.value} keeps failing",
            detail=(f"the last {n} GetOrder runs of channel {ch.value} ({ch.platform.name}) failed; the last one "
                    f"at {local_time(_aware(last.started))}: {safe_text(last.error_text) or 'no error text'}"),
            fix=(f"read the error above (`oms-bridge process runs --channel {ch.value}`, or Process runs in the "
                 "admin) and fix its cause; nothing is lost meanwhile: the next successful run reads from where "
                 "the last good one stopped"),
            since=_aware(runs[-1].started)))
    return out


def channel_stale(ctx: RuleContext) -> list[Finding]:
    """No successful GetOrder for N intervals (and the runs are not simply failing: channel_failing says that)."""
    failing = {f.subject for f in channel_failing(ctx)}
    out = []
    for ch in ctx.channels:
        if ch.auth_state != "active" or ch.value in failing:
            continue
        interval = timedelta(minutes=ch.getorder_interval_minutes or ctx.settings.getorder_interval_minutes)
        last_ok = _aware(ctx.session.scalar(
            select(func.max(ProcessRun.ended)).where(ProcessRun.process == "getorder",
                                                     ProcessRun.oms_channel_id == ch.id,
                                                     ProcessRun.outcome.in_(GOOD_GETORDER))))
        reference = last_ok or _aware(ch.authorized_at) or _aware(ch.created)
        allowed = interval * ctx.settings.alert_stale_intervals
        if reference is None or ctx.now - reference <= allowed:
            continue
        since = (f"since {local_time(last_ok)}" if last_ok else "yet (authorized " + local_time(reference) + ")")
        out.append(Finding(
            key=f"channel_stale:{ch.value}", rule="channel_stale", subject=ch.value,
            title=f"channel {ch.value} is not syncing",
            detail=(f"no successful GetOrder for channel {ch.value} {since}; it should run every "
                    f"{duration(interval)}, so new marketplace orders are not reaching the bridge"),
            fix=("check that the scheduler runs (`oms-bridge run`, /healthz) and the channel's recent runs "
                 f"(`oms-bridge process runs --channel {ch.value}`); run one now with "
                 f"`oms-bridge process run getorder --channel {ch.value}`"),
            since=reference))
    return out


def channel_auth(ctx: RuleContext) -> list[Finding]:
    """Re-authorization required, or credentials the marketplace rejects."""
    out = []
    for ch in ctx.channels:
        if ch.auth_state == "reauth_required":
            title = f"channel {ch.value} needs re-authorization"
            fix = f"run `oms-bridge channel authorize {ch.value}` (or Authorize on the channel page) with the merchant"
        elif ch.auth_state == "error":
            title = f"the marketplace rejects the credentials of channel {ch.value}"
            fix = (f"correct the credentials (`oms-bridge channel update {ch.value} ...` or the channel page), then "
                   f"`oms-bridge channel authorize {ch.value}`")
        else:
            continue
        out.append(Finding(key=f"channel_auth:{ch.value}", rule="channel_auth", subject=ch.value, title=title,
                           detail=safe_text(ch.auth_message) or title + "; no order is fetched until then",
                           fix=fix))
    return out


def channel_token(ctx: RuleContext) -> list[Finding]:
    """A refresh token or the merchant's authorization ends soon (the dashboard's token warnings)."""
    out = []
    for ch in ctx.channels:
        if ch.auth_state in ("new", "reauth_required", "error"):
            continue
        warnings = token_warnings(ch, ctx.now, settings=ctx.settings)
        if warnings:
            out.append(Finding(
                key=f"channel_token:{ch.value}", rule="channel_token", subject=ch.value,
                title=f"the authorization of channel {ch.value} ends soon",
                detail="; ".join(safe_text(w) for w in warnings),
                fix=(f"have the merchant approve again: `oms-bridge channel authorize {ch.value}` before the date "
                     "above")))
    return out


# ---------------------------------------------------------------------------------------------- deliveries
def _fix_for_causes(dest: str, causes: Counter[Cause]) -> str:
    hints = []
    kinds = {c.code for c in causes}
    if "sku_unmapped" in kinds:
        skus = [c.subject for c in causes if c.code == "sku_unmapped" and c.subject][:5]
        hints.append(f"map the SKUs ({', '.join(skus)}) to ERP products: `oms-bridge sku map <SKU> --product "
                     "<M_Product_ID>` or the Map button on the Held page; held orders go again by themselves")
    if "channel_config" in kinds:
        hints.append("complete the ERP mapping of the channel named in the cause (`oms-bridge erp check`)")
    if "erp_login" in kinds:
        hints.append("fix the ERP login (`oms-bridge erp connection update <name>`)")
    if not hints or kinds - {"sku_unmapped", "channel_config", "erp_login"}:
        hints.append("read each cause on the Held page (/admin/held) or `oms-bridge deliveries problems`, fix it, "
                     f"then retry: {RETRY_HINTS.get(dest, 'Retry on the Held page')}")
    return "; ".join(hints)


def held(ctx: RuleContext) -> list[Finding]:
    """Too many held deliveries per destination, or one held too long; orders held at intake count as ``intake``."""
    limit, max_age = ctx.settings.alert_held_max, timedelta(hours=ctx.settings.alert_held_max_age_hours)
    groups: dict[str, tuple[int, datetime | None, Counter[str]]] = {}
    for dest in ctx.destinations:
        rows = ctx.session.execute(select(Delivery.hold_code, func.count(), func.min(Delivery.updated))
                                   .where(Delivery.destination == dest, Delivery.state == "held")
                                   .group_by(Delivery.hold_code)).all()
        if rows:
            causes: Counter[Cause] = Counter()
            for code, n, _oldest in rows:
                causes[cause_of_hold(code)] += n  # the one cause mechanism (oms_bridge.store.causes)
            oldest = min((_aware(r[2]) for r in rows if r[2] is not None), default=None)
            groups[dest] = (sum(r[1] for r in rows), oldest, causes)
    n_intake, oldest_intake = ctx.session.execute(
        select(func.count(), func.min(Order.updated)).where(Order.is_held.is_(True))).one()
    if n_intake:
        groups["intake"] = (n_intake, _aware(oldest_intake), Counter({Cause(UNREADABLE): n_intake}))
    out = []
    for dest, (count, oldest, causes) in groups.items():
        too_many = count > limit
        too_old = oldest is not None and ctx.now - oldest > max_age
        if not (too_many or too_old):
            continue
        top = ", ".join(f"{cause.label} ({n})" for cause, n in causes.most_common(5))
        why = []
        if too_many:
            why.append(f"more than {limit}")
        if too_old:
            why.append(f"the oldest held since {local_time(oldest)}, longer than {duration(max_age)}")
        fix = (_fix_for_causes(dest, causes) if dest != "intake" else
               "read each reason on the Held page (/admin/held): these orders could not be read from the "
               "marketplace payload; GetOrder re-reads them after the cause is fixed")
        out.append(Finding(
            key=f"held:{dest}", rule="held", subject=dest,
            title=(f"{count} order(s) could not be read at intake" if dest == "intake" else
                   f"{count} order(s) held for {DESTINATION_NAMES.get(dest, dest)}"),
            detail=f"{count} order(s) are held for {DESTINATION_NAMES.get(dest, dest)} ({'; '.join(why)}); "
                   f"causes: {top}",
            fix=fix, since=oldest))
    return out


def dead(ctx: RuleContext) -> list[Finding]:
    """Deliveries that gave up after every attempt."""
    out = []
    for dest in ctx.destinations:
        count, oldest = ctx.session.execute(select(func.count(), func.min(Delivery.updated))
                                            .where(Delivery.destination == dest, Delivery.state == "dead")).one()
        if not count:
            continue
        last = ctx.session.scalar(select(Delivery.last_error).where(Delivery.destination == dest,
                                                                    Delivery.state == "dead")
                                  .order_by(Delivery.updated.desc(), Delivery.id.desc()).limit(1))
        out.append(Finding(
            key=f"dead:{dest}", rule="dead", subject=dest,
            title=f"{count} delivery(ies) to {DESTINATION_NAMES.get(dest, dest)} gave up",
            detail=(f"{count} delivery(ies) to {DESTINATION_NAMES.get(dest, dest)} stopped retrying; the latest "
                    f"error: {safe_text(last) or 'none'}"),
            fix=(f"fix the cause named in the error, then retry them: {RETRY_HINTS.get(dest, 'Retry on the Held page')}"
                 "; they are not retried on their own"),
            since=_aware(oldest)))
    return out


def _delivery_processes(ctx: RuleContext) -> dict[str, str]:
    names = ctx.session.scalars(select(ProcessRun.process).distinct()).all()
    found = {name: destination_of(name) for name in names}
    return {name: dest for name, dest in found.items() if dest and dest in ctx.settings.destinations}


def unreachable(ctx: RuleContext) -> list[Finding]:
    """The last N delivery runs that had work delivered nothing and failed: the destination does not answer."""
    n = ctx.settings.alert_failing_runs
    out = []
    for process, dest in sorted(_delivery_processes(ctx).items()):
        runs = list(ctx.session.scalars(
            select(ProcessRun).where(ProcessRun.process == process, ProcessRun.fetched > 0,
                                     ProcessRun.outcome != "running")
            .order_by(ProcessRun.id.desc()).limit(n)))
        if len(runs) < n or not all(r.sent == 0 and r.failed > 0 for r in runs):
            continue
        last = ctx.session.scalar(select(Delivery.last_error).where(Delivery.destination == dest,
                                                                    Delivery.state.in_(("retry", "dead")),
                                                                    Delivery.last_error.is_not(None))
                                  .order_by(Delivery.updated.desc(), Delivery.id.desc()).limit(1))
        error = safe_text(last or runs[0].error_text) or "no error text"
        name = DESTINATION_NAMES.get(dest, dest)
        fix = {"erp": ("check that iDempiere is up and reachable from this server (the connection URL: "
                       "`oms-bridge erp connection list`; `oms-bridge erp check` tests it)"),
               "logistics": "check the marketplace's status and the channel's authorization; the error names the call",
               }.get(dest, f"check that {name} is up and reachable from this server")
        out.append(Finding(
            key=f"unreachable:{dest}", rule="unreachable", subject=dest,
            title=f"{name} is unreachable",
            detail=(f"the last {n} {process} runs with orders to deliver delivered none; the last error: {error}"),
            fix=fix + "; nothing is lost: the orders wait in the outbox and go as soon as it answers",
            since=_aware(runs[-1].started)))
    return out


def pending_old(ctx: RuleContext) -> list[Finding]:
    """The oldest row still to be delivered has waited too long (e.g. the OMS stopped pulling orders)."""
    down = {f.subject for f in unreachable(ctx)}  # the unreachable alert says it better
    limit = timedelta(minutes=ctx.settings.alert_pending_max_minutes)
    out = []
    for dest in ctx.destinations:
        if dest in down:
            continue
        count, oldest = ctx.session.execute(
            select(func.count(), func.min(func.coalesce(Delivery.armed_at, Delivery.created)))
            .where(Delivery.destination == dest, Delivery.state.in_(("pending", "retry")))).one()
        oldest = _aware(oldest)
        if not count or oldest is None or ctx.now - oldest <= limit:
            continue
        name = DESTINATION_NAMES.get(dest, dest)
        fix = {"oms": ("check that the OMS still pulls orders from the bridge (its order import job, the URL and token "
                       "from `oms-bridge oms settings`)"),
               "erp": "check the ERP delivery runs (`oms-bridge erp status`, Process runs in the admin)",
               }.get(dest, f"check the {dest} delivery runs in Process runs")
        out.append(Finding(
            key=f"pending_old:{dest}", rule="pending_old", subject=dest,
            title=f"orders are not reaching {name}",
            detail=(f"{count} order(s) wait for {name}; the oldest since {local_time(oldest)}, longer than "
                    f"{duration(limit)}"),
            fix=fix, since=oldest))
    return out


# ---------------------------------------------------------------------------------------------- scheduler
def scheduler_silent(ctx: RuleContext) -> list[Finding]:
    """Jobs are scheduled, yet no scheduled process started for a while."""
    if not inspect(ctx.session.connection()).has_table(JOB_TABLE):
        return []
    jobs, overdue_before = ctx.session.execute(text(
        f"SELECT COUNT(*), MIN(next_run_time) FROM {JOB_TABLE} WHERE next_run_time IS NOT NULL")).one()
    if not jobs:
        return []
    newest = _aware(ctx.session.scalar(select(func.max(ProcessRun.started))
                                       .where(ProcessRun.process.notin_(OWN_PROCESSES))))
    limit = timedelta(minutes=ctx.settings.alert_scheduler_silence_minutes)
    if newest is None or ctx.now - newest <= limit:
        return []
    overdue = ""
    if overdue_before is not None:
        due = datetime.fromtimestamp(float(overdue_before), UTC)
        if due < ctx.now:
            overdue = f"; a job was due at {local_time(due)} and has not run"
    return [Finding(
        key="scheduler_silent:jobs", rule="scheduler_silent", subject="scheduler",
        title="the scheduler is not running jobs",
        detail=(f"{jobs} job(s) are scheduled, but no GetOrder, RefreshToken or delivery run started since "
                f"{local_time(newest)} ({duration(ctx.now - newest)}){overdue}"),
        fix=("check that an `oms-bridge run` (or `--scheduler-only`) instance is running and read its log; /healthz "
             "names the scheduler state; restart the service if a job hangs"),
        since=newest)]


# ---------------------------------------------------------------------------------------------- reconciliation
def _latest_reconciliations(ctx: RuleContext) -> list[tuple[Channel, Reconciliation]]:
    latest = (select(func.max(Reconciliation.id)).where(Reconciliation.outcome != "running")
              .group_by(Reconciliation.oms_channel_id))
    rows = {r.oms_channel_id: r for r in ctx.session.scalars(select(Reconciliation)
                                                             .where(Reconciliation.id.in_(latest)))}
    return [(ch, rows[ch.id]) for ch in ctx.channels if ch.id in rows]


def reconcile_missing(ctx: RuleContext) -> list[Finding]:
    """The latest reconciliation of a channel found orders missing beyond the expected lag."""
    out = []
    for ch, rec in _latest_reconciliations(ctx):
        if rec.outcome == "failed" or not rec.missing:
            continue
        try:
            report = json.loads(rec.report_json or "{}")
        except ValueError:
            report = {}
        missing = [d for d in report.get("differences", []) if d.get("reason") in ("missing", "dead")]
        named = ", ".join(f"{d.get('order')} ({d.get('where')})" for d in missing[:10])
        more = f" and {rec.missing - 10} more" if rec.missing > 10 else ""
        out.append(Finding(
            key=f"reconcile_missing:{ch.value}", rule="reconcile_missing", subject=ch.value,
            title=f"reconciliation of channel {ch.value}: {rec.missing} order(s) missing",
            detail=(f"the reconciliation of {rec.first_day} to {rec.last_day} (Asia/Taipei) found {rec.missing} "
                    f"order(s) missing beyond the expected lag: {safe_text(named, 1000)}{more}"),
            fix=(f"see the report (`oms-bridge reconcile --channel {ch.value} --since {rec.first_day}` or "
                 f"{ctx.base()}/admin/reconcile); an order missing in the store is read again by "
                 f"`oms-bridge orders backfill --channel {ch.value} --since {rec.first_day}`; one missing in the "
                 "ERP by `oms-bridge erp retry --order <number> --sent`"),
            since=_aware(rec.ended)))
    return out


def reconcile_failed(ctx: RuleContext) -> list[Finding]:
    """The latest reconciliation of a channel could not be completed (so nothing proves the counts)."""
    out = []
    for ch, rec in _latest_reconciliations(ctx):
        if rec.outcome != "failed":
            continue
        out.append(Finding(
            key=f"reconcile_failed:{ch.value}", rule="reconcile_failed", subject=ch.value,
            title=f"the reconciliation of channel {ch.value} failed",
            detail=f"the reconciliation of {rec.first_day} to {rec.last_day} failed: {safe_text(rec.error_text)}",
            fix=(f"fix the cause, then run it again: `oms-bridge reconcile --channel {ch.value} --since "
                 f"{rec.first_day}`"),
            since=_aware(rec.ended)))
    return out


RULES: dict[str, Callable[[RuleContext], list[Finding]]] = {
    "channel_auth": channel_auth,
    "channel_failing": channel_failing,
    "channel_stale": channel_stale,
    "channel_token": channel_token,
    "held": held,
    "dead": dead,
    "unreachable": unreachable,
    "pending_old": pending_old,
    "scheduler_silent": scheduler_silent,
    "reconcile_missing": reconcile_missing,
    "reconcile_failed": reconcile_failed,
}
