"""Runtime settings: data directory, database URL, and the optional config file.

Precedence (lowest to highest): built-in defaults < config file < environment.

- ``OMS_BRIDGE_HOME`` is the data directory (default ``~/.oms-bridge``). It holds the
  embedded SQLite database (``oms-bridge.db``), the vault key file (``secret.key``) and caches.
- ``OMS_BRIDGE_CONFIG`` names the config file (default ``$OMS_BRIDGE_HOME/config.toml``).
  The file is TOML; every key of the ``[oms_bridge]`` table matches a field below.
- Every field can also be set as ``OMS_BRIDGE_<FIELD NAME IN UPPER CASE>``
  (e.g. ``OMS_BRIDGE_DATABASE_URL``, ``OMS_BRIDGE_GETORDER_OVERLAP_MINUTES``).

Settings are read once per process through :func:`get_settings`; tests call
:func:`reset_settings` after changing the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Settings", "SettingsError", "get_settings", "reset_settings", "load_settings"]

ENV_PREFIX = "OMS_BRIDGE_"


class SettingsError(Exception):
    """The configuration cannot be read or holds an invalid value."""


@dataclass(frozen=True)
class Settings:
    """Everything the bridge reads from its environment; immutable once loaded."""

    home: Path
    # repr=False: the URL may hold the database password, the keys decrypt every stored secret
    database_url: str = field(default="", repr=False)
    secret_keys: str = field(default="", repr=False)
    config_file: Path | None = None
    # GetOrder / RefreshToken defaults (a channel may override intervals).
    getorder_overlap_minutes: int = 10
    getorder_lag_seconds: int = 30
    getorder_interval_minutes: int = 5
    refreshtoken_interval_minutes: int = 30
    refresh_margin_minutes: int = 60
    # GetOrder first-run lookback, upsert batch size; token expiry warning thresholds (channels/).
    getorder_initial_lookback_minutes: int = 1440
    getorder_batch_size: int = 200
    refresh_token_warn_days: int = 5
    auth_warn_days: int = 14
    # Delivery (ERP / logistics) retry policy.
    delivery_interval_seconds: int = 60
    delivery_max_attempts: int = 8
    erp_batch_size: int = 10
    # Alerts (oms_bridge/alerts): evaluation interval, digest, rule thresholds; see docs/alerts.md.
    alert_interval_seconds: int = 60
    alert_digest_minutes: int = 240
    alert_stale_intervals: int = 3
    alert_failing_runs: int = 2
    alert_held_max: int = 10
    alert_held_max_age_hours: int = 24
    alert_pending_max_minutes: int = 60
    alert_scheduler_silence_minutes: int = 10
    alert_send_attempts: int = 5
    monitored_destinations: str = "erp,oms,logistics"
    # Reconciliation (oms_bridge/reconcile): daily run time (Asia/Taipei, empty = off), days, lag, ERP batch.
    reconcile_time: str = "06:30"
    reconcile_days: int = 1
    reconcile_lag_minutes: int = 60
    reconcile_erp_batch_size: int = 200
    # HTTP app
    base_url: str = "http://127.0.0.1:8765"
    http_host: str = "127.0.0.1"
    http_port: int = 8765
    log_level: str = "INFO"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def effective_database_url(self) -> str:
        """The SQLAlchemy URL in use: PostgreSQL when configured, else the embedded SQLite file."""
        if self.database_url:
            return normalize_database_url(self.database_url)
        return f"sqlite:///{self.home / 'oms-bridge.db'}"

    @property
    def key_file(self) -> Path:
        return self.home / "secret.key"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    @property
    def destinations(self) -> tuple[str, ...]:
        """The outbox destinations the alert rules and reconciliation watch (``monitored_destinations``)."""
        return tuple(d for d in self.monitored_destinations.split(",") if d)

    @property
    def is_sqlite(self) -> bool:
        return self.effective_database_url.startswith("sqlite")


def normalize_database_url(url: str) -> str:
    """Map plain ``postgresql://`` URLs onto the psycopg 3 driver SQLAlchemy should use."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name not in ("home", "extra", "config_file")}

#: Whole-number settings with a lower bound (0 where "off" makes sense); a value below it is refused.
_MINIMUM = {
    "alert_interval_seconds": 5, "alert_digest_minutes": 0, "alert_stale_intervals": 1, "alert_failing_runs": 1,
    "alert_held_max": 0, "alert_held_max_age_hours": 1, "alert_pending_max_minutes": 1,
    "alert_scheduler_silence_minutes": 1, "alert_send_attempts": 1, "reconcile_days": 0,
    "reconcile_lag_minutes": 0, "reconcile_erp_batch_size": 1,
}
#: Destinations the alert rules and reconciliation watch (the outbox's destinations).
KNOWN_DESTINATIONS = ("erp", "oms", "logistics")
_DAILY_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _coerce(name: str, raw: Any) -> Any:
    """Convert a file or environment value to the field's declared type, with a clear error."""
    ftype = _FIELDS[name].type
    try:
        if ftype in ("int", int):
            return int(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name!r}: {raw!r} is not a valid {ftype}") from exc


def _validate(values: dict[str, Any]) -> None:
    """Refuse values of the right type that still cannot work, naming the setting and what is allowed."""
    for name, minimum in _MINIMUM.items():
        if name in values and values[name] < minimum:
            raise SettingsError(f"setting {name!r}: {values[name]!r} is below the minimum {minimum}")
    if "monitored_destinations" in values:
        names = [d.strip() for d in values["monitored_destinations"].split(",") if d.strip()]
        unknown = sorted(set(names) - set(KNOWN_DESTINATIONS))
        if unknown:
            raise SettingsError(f"setting 'monitored_destinations': unknown destination(s) {', '.join(unknown)}; "
                                f"use a comma-separated list of {', '.join(KNOWN_DESTINATIONS)}")
        values["monitored_destinations"] = ",".join(names)
    if values.get("reconcile_time") and not _DAILY_TIME_RE.match(values["reconcile_time"]):
        raise SettingsError(f"setting 'reconcile_time': {values['reconcile_time']!r} is not a time of day HH:MM "
                            "(Asia/Taipei), or empty to switch the daily reconciliation off")


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    """Build settings from defaults, the config file, then the environment."""
    env = dict(os.environ if environ is None else environ)
    home = Path(env.get(ENV_PREFIX + "HOME") or Path.home() / ".oms-bridge").expanduser()
    config_file = Path(env.get(ENV_PREFIX + "CONFIG") or home / "config.toml").expanduser()
    values: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    if config_file.exists():
        try:
            data = tomllib.loads(config_file.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise SettingsError(f"cannot read config file {config_file}: {exc}") from exc
        section = data.get("oms_bridge", data)
        for key, raw in section.items():
            if key in _FIELDS:
                values[key] = _coerce(key, raw)
            else:
                extra[key] = raw
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
    _validate(values)
    return Settings(home=home, config_file=config_file if config_file.exists() else None, extra=extra, **values)


_current: Settings | None = None


def get_settings() -> Settings:
    """The process-wide settings, loaded on first use."""
    global _current
    if _current is None:
        _current = load_settings()
    return _current


def reset_settings() -> None:
    """Forget the loaded settings so the next :func:`get_settings` re-reads the environment."""
    global _current
    _current = None
