"""Jobs follow the channel table: reconcile what *should* be scheduled with what *is*.

:func:`desired_jobs` reads the channels and says which jobs must exist with which interval:

- ``getorder:<channel id>`` for every active channel on an active platform that has been
  authorized at least once (``auth_state`` other than ``new``; a channel in ``reauth_required``
  keeps its job so each run reports the state loudly instead of going silent);
- ``refreshtoken:<channel id>`` for those whose platform uses OAuth tokens
  (:func:`channels.binding.needs_token_refresh`);
- ``erp-delivery``, ``logistics-delivery`` and ``cancel-answers``, every ``delivery_seconds``;
- ``oms-delivery`` every ``delivery_seconds`` when the OMS needs a worker: ``oms.order_notify =
  "push"`` (order events) or ``oms.product_reference = "hold"`` (orders held before the OMS reads
  them); in pull mode without holds the OMS reads and nothing has to run.
- ``alerts`` (the alert evaluation, :mod:`oms_bridge.alerts`), every ``alert_interval_seconds``;
- ``reconcile`` (:mod:`oms_bridge.reconcile`), once a day at ``reconcile_time`` (Asia/Taipei), when set.

:func:`reconcile` adds the missing jobs (first run after ``scheduler_first_run_delay_seconds``, spread
over ``scheduler_first_run_spread_seconds`` per job), removes jobs of channels that were disabled or
deleted, and re-times jobs whose interval changed. Every job's trigger keeps a fixed phase inside its
interval (:meth:`scheduler.config.ScheduleConfig.phase`), so many channels never start in the same
second. It runs at start-up and then every ``sync_seconds`` in each instance (a thread of
:class:`scheduler.builder.BridgeScheduler`), so channel changes take effect without a restart. Several
instances may reconcile at once against one job store: a job another instance just added or removed is
simply left as it is.

One bad channel never stops the others: a channel whose job cannot be built or changed (e.g. an
interval written past the validation, straight into the table) keeps its current job, if any, and is
reported in :attr:`SyncResult.problems` (logged once, shown by ``/healthz``); every other job is still
reconciled.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from channels.binding import needs_token_refresh
from channels.tokens import TAIPEI
from oms_bridge.oms.config import oms_config
from oms_bridge.settings import Settings, SettingsError, check_setting
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel
from oms_bridge.vault import Vault
from scheduler.config import ScheduleConfig
from scheduler.jobs import (
    alerts_job,
    cancel_answers_job,
    erp_delivery_job,
    getorder_job,
    logistics_delivery_job,
    oms_delivery_job,
    reconcile_job,
    refreshtoken_job,
)
from scheduler.jobstore import BridgeJobStore

__all__ = ["JobSpec", "SyncResult", "desired_jobs", "reconcile", "JOBSTORE"]

log = logging.getLogger(__name__)

#: the shared (database) job store every per-channel and delivery job lives in
JOBSTORE = "default"


@dataclass(frozen=True)
class JobSpec:
    """One job as it should be: id, callable, arguments, and either an interval or a daily time."""

    id: str
    func: Callable[..., None]
    args: tuple[int, ...]
    seconds: float
    name: str
    #: "HH:MM" in Asia/Taipei: the job runs once a day then (``seconds`` is ignored); see :func:`trigger_for`
    daily_at: str | None = None


@dataclass
class SyncResult:
    """What one reconcile changed (job ids), and the jobs it could not reconcile (job id -> why)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retimed: list[str] = field(default_factory=list)
    problems: dict[str, str] = field(default_factory=dict)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.removed or self.retimed)


def _schedulable(channel: Channel) -> bool:
    platform = channel.platform
    return bool(channel.isactive and platform is not None and platform.isactive and channel.auth_state != "new")


def _wants_refresh(channel: Channel, vault: Vault) -> bool:
    """Whether to schedule RefreshToken; when the adapter cannot say (misconfigured platform), schedule it:
    the run then reports the configuration problem on the channel instead of the scheduler hiding it."""
    try:
        return needs_token_refresh(channel, vault=vault)
    except Exception as exc:  # noqa: BLE001 - any adapter construction error: keep scheduling, say why
        log.warning("cannot tell whether channel %s uses OAuth (%s); scheduling RefreshToken anyway",
                    channel.value, exc)
        return True


def _wants_oms_delivery(settings: Settings) -> bool:
    """Whether the OMS needs its worker; a broken [oms_bridge.oms] table schedules it, so its runs say what is
    wrong instead of the other jobs stopping with it."""
    try:
        oms = oms_config(settings)
    except SettingsError as exc:
        log.warning("the [oms_bridge.oms] settings are invalid (%s); scheduling the OMS delivery run to report it", exc)
        return True
    return oms.order_notify == "push" or oms.product_reference == "hold"


def _channel_specs(ch: Channel, cfg: ScheduleConfig, vault: Vault) -> list[JobSpec]:
    specs = [JobSpec(f"getorder:{ch.id}", getorder_job, (ch.id,),
                     cfg.channel_seconds(_minutes(ch, "getorder_interval_minutes"), cfg.getorder_minutes),
                     f"GetOrder {ch.value}")]
    if _wants_refresh(ch, vault):
        specs.append(JobSpec(f"refreshtoken:{ch.id}", refreshtoken_job, (ch.id,),
                             cfg.channel_seconds(_minutes(ch, "refreshtoken_interval_minutes"),
                                                 cfg.refreshtoken_minutes),
                             f"RefreshToken {ch.value}"))
    return specs


def _minutes(ch: Channel, name: str) -> int | None:
    """The channel's own interval, range-checked again: a row written past the validation (SQL, an older
    version) must not reach APScheduler, where it overflowed and stopped the jobs of every channel."""
    raw = getattr(ch, name)  # the model validates what is set, not what is loaded
    if raw is None:
        return None
    try:
        return check_setting(name, raw)
    except SettingsError as exc:
        raise SettingsError(f"channel {ch.value}: {exc}; fix it with `oms-bridge channel update {ch.value}`") \
            from None


def desired_jobs(settings: Settings, cfg: ScheduleConfig,
                 problems: dict[str, str] | None = None) -> dict[str, JobSpec]:
    """The jobs the channel table asks for right now (a channel that cannot be scheduled goes to ``problems``)."""
    specs = [
        JobSpec("erp-delivery", erp_delivery_job, (), cfg.delivery_seconds, "ERP delivery"),
        JobSpec("logistics-delivery", logistics_delivery_job, (), cfg.delivery_seconds, "logistics delivery"),
        JobSpec("cancel-answers", cancel_answers_job, (), cfg.delivery_seconds, "cancellation answers"),
        JobSpec("alerts", alerts_job, (), cfg.alert_seconds, "alert evaluation"),
    ]
    if _wants_oms_delivery(settings):
        specs.append(JobSpec("oms-delivery", oms_delivery_job, (), cfg.delivery_seconds, "OMS delivery"))
    if cfg.reconcile_time:
        specs.append(JobSpec("reconcile", reconcile_job, (), 86400.0, "daily reconciliation",
                             daily_at=cfg.reconcile_time))
    vault = Vault.from_settings(settings)
    with session_scope(settings, readonly=True) as session:
        channels = session.scalars(select(Channel).options(selectinload(Channel.platform)).order_by(Channel.id))
        for ch in channels:
            if not _schedulable(ch):
                continue
            try:
                specs.extend(_channel_specs(ch, cfg, vault))
            except Exception as exc:  # noqa: BLE001 - one bad channel must not stop the others' jobs
                if problems is not None:
                    problems[f"getorder:{ch.id}"] = str(exc)
                    problems[f"refreshtoken:{ch.id}"] = str(exc)
    return {spec.id: spec for spec in specs}


#: Phases are measured from this instant (any fixed time works; every instance must use the same).
PHASE_ANCHOR = datetime(2024, 1, 1, tzinfo=UTC)


def trigger_for(spec: JobSpec) -> IntervalTrigger | CronTrigger:
    """The job's trigger: a daily time (Asia/Taipei), or its interval at its fixed phase inside the interval
    (see :meth:`ScheduleConfig.phase`)."""
    if spec.daily_at:
        hour, minute = spec.daily_at.split(":")
        return CronTrigger(hour=int(hour), minute=int(minute), timezone=TAIPEI)
    start = PHASE_ANCHOR + timedelta(seconds=ScheduleConfig.phase(spec.id) * spec.seconds)
    return IntervalTrigger(seconds=spec.seconds, start_date=start, timezone=UTC)


def _same_trigger(job, wanted: IntervalTrigger | CronTrigger) -> bool:
    """Whether the stored job already fires as wanted (interval and phase, or daily time and zone)."""
    trigger = job.trigger
    if isinstance(trigger, IntervalTrigger) and isinstance(wanted, IntervalTrigger):
        return trigger.interval == wanted.interval and trigger.start_date == wanted.start_date
    if isinstance(trigger, CronTrigger) and isinstance(wanted, CronTrigger):
        return str(trigger) == str(wanted) and str(trigger.timezone) == str(wanted.timezone)
    return False


def reconcile(scheduler: BaseScheduler, settings: Settings, cfg: ScheduleConfig, *,
              spread_overdue: bool = False) -> SyncResult:
    """Make the scheduler's shared jobs match :func:`desired_jobs` (see module doc).

    ``spread_overdue`` (at start-up): jobs that fell due while no instance ran (overdue by more than
    ``sync_seconds``) get their catch-up run spread like new jobs, instead of all starting in the first
    second after a restart.
    """
    result = SyncResult()
    desired = desired_jobs(settings, cfg, result.problems)
    existing = {job.id: job for job in scheduler.get_jobs(jobstore=JOBSTORE)}
    now = datetime.now(UTC)
    for job_id, spec in desired.items():
        try:
            _reconcile_one(scheduler, existing.get(job_id), spec, cfg, now, result)
            job = existing.get(job_id)
            late = timedelta(seconds=cfg.sync_seconds)  # less late: a live instance is about to run it
            if (spread_overdue and not spec.daily_at and job is not None and job.next_run_time is not None
                    and job.next_run_time < now - late):
                # only if nobody claimed or ran it since it was read: another instance may be running it now, and
                # overwriting its lease would make the job due again (run twice in one cycle)
                until = now + timedelta(seconds=cfg.first_run_offset(job_id, spec.seconds))
                store = scheduler._lookup_jobstore(JOBSTORE)
                if isinstance(store, BridgeJobStore):
                    store.retime_if_unchanged(job, until)
                else:
                    scheduler.modify_job(job_id, jobstore=JOBSTORE, next_run_time=until)
        except Exception as exc:  # noqa: BLE001 - e.g. a job-store hiccup: the others still go on
            result.problems[job_id] = f"{type(exc).__name__}: {exc}"
    for job_id in existing.keys() - desired.keys() - result.problems.keys():
        try:
            scheduler.remove_job(job_id, jobstore=JOBSTORE)
            result.removed.append(job_id)
        except JobLookupError:  # another instance removed it already
            pass
        except Exception as exc:  # noqa: BLE001
            result.problems[job_id] = f"{type(exc).__name__}: {exc}"
    if result.changed:
        log.info("jobs reconciled: added %s, removed %s, re-timed %s", result.added, result.removed, result.retimed)
    return result


def _reconcile_one(scheduler: BaseScheduler, job, spec: JobSpec, cfg: ScheduleConfig, now: datetime,
                   result: SyncResult) -> None:
    trigger = trigger_for(spec)
    if job is None:
        # a daily job waits for its time; an interval job's first run is spread (ScheduleConfig.first_run_offset)
        timing = {} if spec.daily_at else {
            "next_run_time": now + timedelta(seconds=cfg.first_run_offset(spec.id, spec.seconds))}
        try:
            scheduler.add_job(spec.func, trigger, args=spec.args, id=spec.id, name=spec.name, jobstore=JOBSTORE,
                              **timing)
            result.added.append(spec.id)
        except ConflictingIdError:  # another instance added it a moment ago
            pass
    elif not _same_trigger(job, trigger) or job.func is not spec.func:
        try:
            scheduler.modify_job(spec.id, jobstore=JOBSTORE, func=spec.func, args=spec.args, name=spec.name)
            scheduler.reschedule_job(spec.id, jobstore=JOBSTORE, trigger=trigger)
            result.retimed.append(spec.id)
        except JobLookupError:
            pass
