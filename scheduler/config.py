"""Scheduler timing: intervals, misfire grace and the reconcile period.

Defaults come from :class:`oms_bridge.settings.Settings` (``getorder_interval_minutes``,
``refreshtoken_interval_minutes``, ``delivery_interval_seconds``, ``alert_interval_seconds``, and
``reconcile_time``: the daily reconciliation's time of day in Asia/Taipei); a channel's own
``getorder_interval_minutes`` / ``refreshtoken_interval_minutes`` win. Scheduler-only knobs are read
from the config file's ``[oms_bridge]`` table (``Settings.extra``):

- ``scheduler_sync_seconds`` (default 30): how often the jobs are reconciled with the channel table,
  i.e. the longest time a new, disabled or re-timed channel waits to be reflected in the jobs;
- ``scheduler_misfire_grace_seconds`` (default 300): a run missed by less than this (instance busy or
  briefly down) still happens; older misses coalesce into one run;
- ``scheduler_max_workers`` (default 4): threads running jobs in one instance;
- ``scheduler_first_run_delay_seconds`` (default 0): delay of a newly added job's first run (0: run a
  newly authorized channel right away);
- ``scheduler_minute_seconds`` (default 60): the length of one "minute" of a channel interval. Only
  the tests and the demo shorten it, to see several runs without waiting minutes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from oms_bridge.settings import Settings, SettingsError

__all__ = ["ScheduleConfig"]


def _number(extra: dict[str, Any], key: str, default: float) -> float:
    raw = extra.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {key!r}: {raw!r} is not a number") from None
    if value <= 0:
        raise SettingsError(f"setting {key!r} must be positive, got {raw!r}")
    return value


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
    alert_seconds: float = 60.0
    #: HH:MM (Asia/Taipei) of the daily reconciliation; empty: not scheduled
    reconcile_time: str = "06:30"

    @classmethod
    def from_settings(cls, settings: Settings) -> ScheduleConfig:
        extra = settings.extra
        return cls(
            getorder_minutes=settings.getorder_interval_minutes,
            refreshtoken_minutes=settings.refreshtoken_interval_minutes,
            delivery_seconds=float(settings.delivery_interval_seconds),
            sync_seconds=_number(extra, "scheduler_sync_seconds", 30),
            misfire_grace_seconds=int(_number(extra, "scheduler_misfire_grace_seconds", 300)),
            max_workers=int(_number(extra, "scheduler_max_workers", 4)),
            minute_seconds=_number(extra, "scheduler_minute_seconds", 60),
            first_run_delay_seconds=float(extra.get("scheduler_first_run_delay_seconds", 0) or 0),
            alert_seconds=float(settings.alert_interval_seconds),
            reconcile_time=settings.reconcile_time,
        )

    def channel_seconds(self, minutes: int | None, default_minutes: int) -> float:
        """A channel interval in seconds (the channel's own value, else the default)."""
        return float(minutes if minutes and minutes > 0 else default_minutes) * self.minute_seconds
