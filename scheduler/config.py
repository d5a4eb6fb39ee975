"""Scheduler timing: intervals, misfire grace, the reconcile period, spreading and health thresholds.

Defaults come from :class:`oms_bridge.settings.Settings` (``getorder_interval_minutes``,
``refreshtoken_interval_minutes``, ``delivery_interval_seconds``, ``alert_interval_seconds``, and
``reconcile_time``: the daily reconciliation's time of day in Asia/Taipei); a channel's own
``getorder_interval_minutes`` / ``refreshtoken_interval_minutes`` win. Scheduler-only knobs are read
from the config file's ``[oms_bridge]`` table (``Settings.extra``), each range-checked by
:func:`oms_bridge.settings.check_setting` (ranges in ``docs/configuration.md``):

- ``scheduler_sync_seconds`` (default 30): how often the jobs are reconciled with the channel table,
  i.e. the longest time a new, disabled or re-timed channel waits to be reflected in the jobs;
- ``scheduler_misfire_grace_seconds`` (default 300): a run missed by less than this (instance busy or
  briefly down) still happens; older misses coalesce into one run;
- ``scheduler_max_workers`` (default 4): threads running jobs in one instance;
- ``scheduler_first_run_delay_seconds`` (default 0): delay of a newly added job's first run (0: run a
  newly authorized channel right away);
- ``scheduler_first_run_spread_seconds`` (default 60): first runs of jobs added together (a restart,
  many channels at once) are spread over this many seconds after the delay, each job at its own fixed
  offset, so they never all start in the same second;
- ``scheduler_heartbeat_seconds`` (default 10): the scheduler loop wakes at least this often and
  records that it is alive;
- ``scheduler_stall_seconds`` (default 120): ``/healthz`` reports ``degraded`` when the loop has not
  completed a round for this long, or a job's run is overdue by this much;
- ``scheduler_lease_seconds`` (default 30): how long a claimed job stays this instance's without a renewal
  (:mod:`scheduler.jobstore`); a job whose instance died mid-run is run again by another one this long
  after its last renewal. Renewed every round while the run goes on (at least every third of it);
- ``scheduler_minute_seconds`` (default 60): the length of one "minute" of a channel interval. Only
  the tests and the demo shorten it, to see several runs without waiting minutes.

Every job's runs keep a fixed phase inside its interval (:meth:`ScheduleConfig.phase`, derived from the
job id), so the jobs of many channels with the same interval start at different seconds, and every
instance computes the same schedule.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from oms_bridge.settings import Settings, check_setting

__all__ = ["ScheduleConfig"]


def _knob(settings: Settings, key: str, default: float) -> float:
    return float(check_setting(key, settings.extra.get(key, default)))


@dataclass(frozen=True)
class ScheduleConfig:
    """Everything that decides when jobs run."""

    getorder_minutes: int = 5
    refreshtoken_minutes: int = 30
    delivery_seconds: float = 60.0
    sync_seconds: float = 30.0
    misfire_grace_seconds: int = 300
    max_workers: int = 4
    minute_seconds: float = 60.0
    first_run_delay_seconds: float = 0.0
    first_run_spread_seconds: float = 60.0
    heartbeat_seconds: float = 10.0
    stall_seconds: float = 120.0
    alert_seconds: float = 60.0
    lease_seconds: float = 30.0
    #: HH:MM (Asia/Taipei) of the daily reconciliation; empty: not scheduled
    reconcile_time: str = "06:30"

    @classmethod
    def from_settings(cls, settings: Settings) -> ScheduleConfig:
        return cls(
            getorder_minutes=settings.getorder_interval_minutes,
            refreshtoken_minutes=settings.refreshtoken_interval_minutes,
            delivery_seconds=float(settings.delivery_interval_seconds),
            sync_seconds=_knob(settings, "scheduler_sync_seconds", 30),
            misfire_grace_seconds=int(_knob(settings, "scheduler_misfire_grace_seconds", 300)),
            max_workers=int(_knob(settings, "scheduler_max_workers", 4)),
            minute_seconds=_knob(settings, "scheduler_minute_seconds", 60),
            first_run_delay_seconds=_knob(settings, "scheduler_first_run_delay_seconds", 0),
            first_run_spread_seconds=_knob(settings, "scheduler_first_run_spread_seconds", 60),
            heartbeat_seconds=_knob(settings, "scheduler_heartbeat_seconds", 10),
            stall_seconds=_knob(settings, "scheduler_stall_seconds", 120),
            lease_seconds=_knob(settings, "scheduler_lease_seconds", 30),
            alert_seconds=float(settings.alert_interval_seconds),
            reconcile_time=settings.reconcile_time,
        )

    def channel_seconds(self, minutes: int | None, default_minutes: int) -> float:
        """A channel interval in seconds (the channel's own value, else the default)."""
        return float(minutes if minutes and minutes > 0 else default_minutes) * self.minute_seconds

    @staticmethod
    def phase(job_id: str) -> float:
        """A fixed fraction in [0, 1) per job id: where in its interval (and in the first-run spread) it runs."""
        return zlib.crc32(job_id.encode()) / 2**32

    def first_run_offset(self, job_id: str, interval_seconds: float) -> float:
        """Seconds after now for a new job's first run: the delay plus its share of the spread."""
        spread = min(self.first_run_spread_seconds, interval_seconds)
        return self.first_run_delay_seconds + self.phase(job_id) * spread
