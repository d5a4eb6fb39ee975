"""Jobs follow the channel table: reconcile what *should* be scheduled with what *is*.

:func:`desired_jobs` reads the channels and says which jobs must exist with which interval:

- ``getorder:<channel id>`` for every active channel on an active platform that has been
  authorized at least once (``auth_state`` other than ``new``; a channel in ``reauth_required``
  keeps its job so each run reports the state loudly instead of going silent);
- ``refreshtoken:<channel id>`` for those whose platform uses OAuth tokens
  (:func:`channels.binding.needs_token_refresh`);
- ``erp-delivery`` and ``logistics-delivery``, every ``delivery_seconds``;
- ``alerts`` (the alert evaluation, :mod:`oms_bridge.alerts`), every ``alert_interval_seconds``;
- ``reconcile`` (:mod:`oms_bridge.reconcile`), once a day at ``reconcile_time`` (Asia/Taipei), when set.

:func:`reconcile` adds the missing jobs (first run right away, or after
``scheduler_first_run_delay_seconds``), removes jobs of channels that were
disabled or deleted, and re-times jobs whose interval changed. It runs at start-up and then every
``sync_seconds`` in each instance (a thread of :class:`scheduler.builder.BridgeScheduler`), so
channel changes take effect without a restart. Several instances may reconcile at once against one
job store: a job another instance just added or removed is simply left as it is.
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
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel
from oms_bridge.vault import Vault
from scheduler.config import ScheduleConfig
from scheduler.jobs import (
    alerts_job,
    erp_delivery_job,
    getorder_job,
    logistics_delivery_job,
    reconcile_job,
    refreshtoken_job,
)

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
    #: "HH:MM" in Asia/Taipei: the job runs once a day then (``seconds`` is ignored)
    daily_at: str | None = None

    def trigger(self) -> IntervalTrigger | CronTrigger:
        if self.daily_at:
            hour, minute = self.daily_at.split(":")
            return CronTrigger(hour=int(hour), minute=int(minute), timezone=TAIPEI)
        return IntervalTrigger(seconds=self.seconds, timezone=UTC)


@dataclass
class SyncResult:
    """What one reconcile changed (job ids)."""

    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    retimed: list[str] = field(default_factory=list)

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


def desired_jobs(settings: Settings, cfg: ScheduleConfig) -> dict[str, JobSpec]:
    """The jobs the channel table asks for right now."""
    specs = [
        JobSpec("erp-delivery", erp_delivery_job, (), cfg.delivery_seconds, "ERP delivery"),
        JobSpec("logistics-delivery", logistics_delivery_job, (), cfg.delivery_seconds, "logistics delivery"),
        JobSpec("alerts", alerts_job, (), cfg.alert_seconds, "alert evaluation"),
    ]
    if cfg.reconcile_time:
        specs.append(JobSpec("reconcile", reconcile_job, (), 86400.0, "daily reconciliation",
                             daily_at=cfg.reconcile_time))
    vault = Vault.from_settings(settings)
    with session_scope(settings) as session:
        channels = session.scalars(select(Channel).options(selectinload(Channel.platform)).order_by(Channel.id))
        for ch in channels:
            if not _schedulable(ch):
                continue
            specs.append(JobSpec(f"getorder:{ch.id}", getorder_job, (ch.id,),
                                 cfg.channel_seconds(ch.getorder_interval_minutes, cfg.getorder_minutes),
                                 f"GetOrder {ch.value}"))
            if _wants_refresh(ch, vault):
                specs.append(JobSpec(f"refreshtoken:{ch.id}", refreshtoken_job, (ch.id,),
                                     cfg.channel_seconds(ch.refreshtoken_interval_minutes, cfg.refreshtoken_minutes),
                                     f"RefreshToken {ch.value}"))
    return {spec.id: spec for spec in specs}


def _same_trigger(job, spec: JobSpec) -> bool:
    """Whether the stored job already fires as ``spec`` says (interval length, or daily time and zone)."""
    trigger, wanted = job.trigger, spec.trigger()
    if isinstance(trigger, IntervalTrigger) and isinstance(wanted, IntervalTrigger):
        return trigger.interval.total_seconds() == spec.seconds
    if isinstance(trigger, CronTrigger) and isinstance(wanted, CronTrigger):
        return str(trigger) == str(wanted) and str(trigger.timezone) == str(wanted.timezone)
    return False


def reconcile(scheduler: BaseScheduler, settings: Settings, cfg: ScheduleConfig) -> SyncResult:
    """Make the scheduler's shared jobs match :func:`desired_jobs`."""
    desired = desired_jobs(settings, cfg)
    existing = {job.id: job for job in scheduler.get_jobs(jobstore=JOBSTORE)}
    result = SyncResult()
    first_run = datetime.now(UTC) + timedelta(seconds=cfg.first_run_delay_seconds)
    for job_id, spec in desired.items():
        job = existing.get(job_id)
        if job is None:
            # a daily job waits for its time; an interval job runs right away (or after the first-run delay)
            timing = {} if spec.daily_at else {"next_run_time": first_run}
            try:
                scheduler.add_job(spec.func, spec.trigger(), args=spec.args, id=job_id, name=spec.name,
                                  jobstore=JOBSTORE, **timing)
                result.added.append(job_id)
            except ConflictingIdError:  # another instance added it a moment ago
                pass
        elif not _same_trigger(job, spec) or job.func is not spec.func:
            try:
                scheduler.modify_job(job_id, jobstore=JOBSTORE, func=spec.func, args=spec.args, name=spec.name)
                scheduler.reschedule_job(job_id, jobstore=JOBSTORE, trigger=spec.trigger())
                result.retimed.append(job_id)
            except JobLookupError:
                pass
    for job_id in existing.keys() - desired.keys():
        try:
            scheduler.remove_job(job_id, jobstore=JOBSTORE)
            result.removed.append(job_id)
        except JobLookupError:  # another instance removed it already
            pass
    if result.changed:
        log.info("jobs reconciled: added %s, removed %s, re-timed %s", result.added, result.removed, result.retimed)
    return result
