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

Every number has a range (:data:`LIMITS`), checked by :func:`check_setting` wherever a value comes
in: the config file, the environment, a :class:`Settings` built in code, the scheduler's config-file
knobs, and a channel's own intervals (CLI, web form and the ORM model all call it). One setting out of
range is a clear :class:`SettingsError` naming it, never a value that breaks the scheduler later (an
interval of 2**40 minutes was accepted once and then stopped the jobs of every channel).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Settings", "SettingsError", "get_settings", "reset_settings", "load_settings", "check_database_url",
           "Limit", "LIMITS", "check_setting"]

ENV_PREFIX = "OMS_BRIDGE_"
_FIELD_NAMES: list[str] = []  # filled once the dataclass exists (its __post_init__ reads it)


class SettingsError(Exception):
    """The configuration cannot be read or holds an invalid value."""


@dataclass(frozen=True)
class Limit:
    """The allowed range of a numeric setting (inclusive) and what its unit is, for the message."""

    low: float
    high: float
    unit: str = ""
    integer: bool = True

    def check(self, name: str, raw: Any) -> int | float:
        """``raw`` as a number inside the range, else :class:`SettingsError` naming the setting."""
        kind = "whole number" if self.integer else "number"
        if isinstance(raw, bool):
            raise SettingsError(f"setting {name!r}: {raw!r} is not a {kind}")
        try:
            value: int | float = int(raw) if self.integer else float(raw)
            if self.integer and isinstance(raw, float) and raw != int(raw):
                raise ValueError(raw)
        except (TypeError, ValueError, OverflowError):
            raise SettingsError(f"setting {name!r}: {raw!r} is not a {kind}") from None
        if not (self.low <= value <= self.high):  # also refuses NaN
            unit = f" {self.unit}" if self.unit else ""
            raise SettingsError(f"setting {name!r} must be between {_num(self.low)} and {_num(self.high)}{unit}, "
                                f"got {raw!r}")
        return value


def _num(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


_WEEK_MINUTES = 7 * 24 * 60
#: Ranges of the numeric settings: the fields below and the config file's known extra keys.
LIMITS: dict[str, Limit] = {
    "getorder_overlap_minutes": Limit(0, 1440, "minutes"),
    "getorder_lag_seconds": Limit(0, 3600, "seconds"),
    "getorder_interval_minutes": Limit(1, _WEEK_MINUTES, "minutes"),
    "refreshtoken_interval_minutes": Limit(1, _WEEK_MINUTES, "minutes"),
    "refresh_margin_minutes": Limit(0, _WEEK_MINUTES, "minutes"),
    "getorder_initial_lookback_minutes": Limit(1, 366 * 24 * 60, "minutes"),
    "getorder_batch_size": Limit(1, 5000),
    "analyze_after_load_percent": Limit(0, 10000, "percent"),
    "refresh_token_warn_days": Limit(0, 365, "days"),
    "auth_warn_days": Limit(0, 365, "days"),
    "delivery_interval_seconds": Limit(1, 86400, "seconds"),
    "delivery_max_attempts": Limit(1, 1000),
    "erp_batch_size": Limit(1, 500),
    "erp_lease_batches": Limit(1, 100),
    "http_port": Limit(0, 65535),
    "http_threads": Limit(4, 1000, "threads"),
    "database_pool_size": Limit(1, 500, "connections"),
    "database_max_overflow": Limit(0, 1000, "connections"),
    "sqlite_busy_timeout_seconds": Limit(1, 3600, "seconds"),
    "run_heartbeat_seconds": Limit(1, 3600, "seconds"),
    "run_lost_after_seconds": Limit(10, 86400, "seconds"),
    # config-file only ([oms_bridge] table, read through Settings.extra)
    "scheduler_sync_seconds": Limit(0.05, 3600, "seconds", integer=False),
    "scheduler_misfire_grace_seconds": Limit(1, 86400, "seconds"),
    "scheduler_max_workers": Limit(1, 64, "threads"),
    "scheduler_minute_seconds": Limit(0.01, 3600, "seconds", integer=False),
    "scheduler_first_run_delay_seconds": Limit(0, 86400, "seconds", integer=False),
    "scheduler_first_run_spread_seconds": Limit(0, 86400, "seconds", integer=False),
    "scheduler_heartbeat_seconds": Limit(0.05, 600, "seconds", integer=False),
    "scheduler_stall_seconds": Limit(1, 86400, "seconds", integer=False),
    "scheduler_lease_seconds": Limit(1, 86400, "seconds", integer=False),
    "scheduler_processes": Limit(1, 64, "processes"),
    "admin_stale_factor": Limit(1, 1000, integer=False),
    "logistics_lease_seconds": Limit(1, 86400, "seconds", integer=False),
    "erp_recheck_held_minutes": Limit(0, 366 * 24 * 60, "minutes"),
    # HTTP hardening (oms_bridge/web/http_settings.py reads them)
    "api_max_body_bytes": Limit(1024, 1 << 30, "bytes"),
    "admin_max_body_bytes": Limit(1024, 1 << 30, "bytes"),
    "login_max_failures": Limit(1, 1000),
    "login_max_failures_per_ip": Limit(1, 100_000),
    "login_lockout_minutes": Limit(1, _WEEK_MINUTES, "minutes"),
    "max_future_skew_minutes": Limit(0, 366 * 24 * 60, "minutes"),
    # alerts and reconciliation (docs/alerts.md, docs/reconcile.md)
    "alert_interval_seconds": Limit(5, 86400, "seconds"),
    "alert_digest_minutes": Limit(0, 366 * 24 * 60, "minutes"),
    "alert_stale_intervals": Limit(1, 1000),
    "alert_failing_runs": Limit(1, 1000),
    "alert_held_max": Limit(0, 100_000_000),
    "alert_held_max_age_hours": Limit(1, 366 * 24, "hours"),
    "alert_pending_max_minutes": Limit(1, 366 * 24 * 60, "minutes"),
    "alert_scheduler_silence_minutes": Limit(1, _WEEK_MINUTES, "minutes"),
    "alert_send_attempts": Limit(1, 100),
    "reconcile_days": Limit(0, 366, "days"),
    "reconcile_lag_minutes": Limit(0, _WEEK_MINUTES, "minutes"),
    "reconcile_erp_batch_size": Limit(1, 1000),
}


def check_setting(name: str, raw: Any) -> Any:
    """``raw`` converted and range-checked for setting ``name`` (unknown names pass unchanged)."""
    limit = LIMITS.get(name)
    return raw if limit is None else limit.check(name, raw)


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
    # PostgreSQL: ANALYZE the order tables after a load that wrote at least this share of their rows (0: never);
    # see oms_bridge/store/statistics.py.
    analyze_after_load_percent: int = 10
    refresh_token_warn_days: int = 5
    auth_warn_days: int = 14
    # Delivery (ERP / logistics) retry policy.
    delivery_interval_seconds: int = 60
    delivery_max_attempts: int = 8
    erp_batch_size: int = 25  # orders per ERP compositeOperation (docs/erp.md: why 25)
    # compositeOperations one ERP delivery lease covers: its store work (lease, load, record) is shared by them
    erp_lease_batches: int = 4
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
    # HTTP hardening (oms_bridge/web/http_settings.py checks these): request body caps per route class,
    # admin login throttling, who may read /metrics and /docs + /openapi.json, accepted clock skew of dates.
    api_max_body_bytes: int = 1_048_576
    admin_max_body_bytes: int = 65_536
    login_max_failures: int = 5
    login_max_failures_per_ip: int = 20
    login_lockout_minutes: int = 15
    metrics_access: str = ""
    metrics_token: str = field(default="", repr=False)
    docs_access: str = "off"
    docs_token: str = field(default="", repr=False)
    max_future_skew_minutes: int = 1440
    # Capacity: threads serving HTTP requests; PostgreSQL connection pool; SQLite lock wait.
    http_threads: int = 40
    database_pool_size: int = 10
    database_max_overflow: int = 30
    sqlite_busy_timeout_seconds: int = 30
    # Process runs: a live run refreshes its row's heartbeat; a `running` row whose heartbeat is older
    # than run_lost_after_seconds belongs to a run that died (kill -9, crash, host gone): shown as lost.
    run_heartbeat_seconds: int = 30
    run_lost_after_seconds: int = 180
    # Admin pages: the time zone every time is shown in (an IANA name; stored times stay UTC).
    display_timezone: str = "Asia/Taipei"
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in _FIELD_NAMES:
            if name in LIMITS:
                check_setting(name, getattr(self, name))
        for key, raw in self.extra.items():
            check_setting(key, raw)

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


#: SQLAlchemy driver names the bridge runs on (``postgres://`` and ``postgresql://`` are normalised first)
_DRIVERS = ("postgresql+psycopg", "sqlite")


def check_database_url(url: str, source: str = ENV_PREFIX + "DATABASE_URL") -> None:
    """Raise :class:`SettingsError` in one line when ``url`` cannot be the bridge's database.

    Checked when the settings load, so a typo is named at once instead of surfacing as a traceback from
    the first connection. The message names the setting (``source``) and never repeats the password: a
    value that does not parse is not echoed at all, only its scheme.
    """
    from sqlalchemy.engine import make_url  # only when a URL is configured: keeps `import settings` light
    from sqlalchemy.exc import ArgumentError

    scheme = url.split("://", 1)[0] if "://" in url else ""
    expected = "expected postgresql://USER:PASSWORD@HOST:PORT/DATABASE (or leave it empty for the embedded SQLite)"
    try:
        parsed = make_url(normalize_database_url(url))
        port = parsed.port
    except (ValueError, ArgumentError) as exc:  # never str(exc) as such: sqlalchemy's text may quote the URL
        what = "its port is not a number" if "int()" in str(exc) else "it cannot be parsed"
        shown = f" ({scheme}://…)" if scheme.isidentifier() else ""
        raise SettingsError(f"{source} is not a valid database URL{shown}: {what}; {expected}") from None
    if parsed.drivername not in _DRIVERS:
        raise SettingsError(f"{source}: database type {parsed.drivername.split('+')[0]!r} is not supported; {expected}")
    if parsed.drivername.startswith("postgresql"):
        if not parsed.database:
            raise SettingsError(f"{source} names no database (the part after the last '/'); {expected}")
        if port is not None and not 0 < port < 65536:
            raise SettingsError(f"{source}: port {port} is out of range (1-65535)")


_FIELDS = {f.name: f for f in dataclasses.fields(Settings) if f.name not in ("home", "extra", "config_file")}
_FIELD_NAMES.extend(_FIELDS)

#: Whole-number settings with a lower bound (0 where "off" makes sense); a value below it is refused.
#: Destinations the alert rules and reconciliation watch (the outbox's destinations).
KNOWN_DESTINATIONS = ("erp", "oms", "logistics")
_DAILY_TIME_RE = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def _coerce(name: str, raw: Any) -> Any:
    """Convert a file or environment value to the field's declared type, with a clear error."""
    ftype = _FIELDS[name].type
    if name in LIMITS:
        return check_setting(name, raw)
    try:
        if ftype in ("int", int):
            return int(raw)
        return str(raw)
    except (TypeError, ValueError) as exc:
        raise SettingsError(f"setting {name!r}: {raw!r} is not a valid {ftype}") from exc


def _validate(values: dict[str, Any]) -> None:
    """Refuse text values that cannot work, naming the setting and what is allowed (numbers: :data:`LIMITS`)."""
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
    if "display_timezone" in values:
        _check_timezone(values["display_timezone"])


def _check_timezone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError  # only when the setting is given

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingsError(f"setting 'display_timezone': {name!r} is not a time zone name "
                            "(an IANA name such as Asia/Taipei or UTC)") from None


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
                extra[key] = check_setting(key, raw)
    from_env = set()
    for name in _FIELDS:
        raw = env.get(ENV_PREFIX + name.upper())
        if raw is not None and raw != "":
            values[name] = _coerce(name, raw)
            from_env.add(name)
    if values.get("database_url"):
        check_database_url(values["database_url"], ENV_PREFIX + "DATABASE_URL" if "database_url" in from_env
                           else f"database_url in {config_file}")
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
