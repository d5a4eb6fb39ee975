"""The HTTP app's hardening settings, read from :class:`~oms_bridge.settings.Settings` and checked.

Every value has a safe default and can be set in the config file or as ``OMS_BRIDGE_<NAME>``
(docs/configuration.md lists them):

- ``api_max_body_bytes`` (1 MiB): largest request body of the OMS API and webhooks (``/api/...``);
- ``admin_max_body_bytes`` (64 KiB): largest body anywhere else (admin forms, login);
- ``login_max_failures`` (5) per user name and ``login_max_failures_per_ip`` (20) per client address
  within ``login_lockout_minutes`` (15): more failed logins lock that name / address out until the
  oldest counted failure is that old;
- ``metrics_access`` / ``docs_access``: who may read ``/metrics`` and ``/docs``, ``/redoc``,
  ``/openapi.json``: ``off`` (404), ``local`` (loopback clients only), ``token`` (``Authorization:
  Bearer <metrics_token|docs_token>``; for the docs a logged-in admin too) or ``public``. Defaults:
  metrics ``token`` when ``metrics_token`` is set, else ``local``; docs ``off``.

The numbers are range-checked with every other setting (:data:`oms_bridge.settings.LIMITS`) when the
settings load; the access modes here. A bad value is a :class:`~oms_bridge.settings.SettingsError` naming
the setting; ``oms-bridge run`` checks them before it listens.
"""

from __future__ import annotations

from dataclasses import dataclass

from oms_bridge.settings import Settings, SettingsError

__all__ = ["HttpSettings", "http_settings", "ACCESS_MODES"]

ACCESS_MODES = ("off", "local", "token", "public")


@dataclass(frozen=True)
class HttpSettings:
    api_max_body_bytes: int
    admin_max_body_bytes: int
    login_max_failures: int
    login_max_failures_per_ip: int
    login_lockout_minutes: int
    metrics_access: str
    metrics_token: str
    docs_access: str
    docs_token: str

    def body_limit(self, path: str) -> int:
        """The body cap of a route class: the OMS API and webhooks, or everything else."""
        return self.api_max_body_bytes if path.startswith("/api/") else self.admin_max_body_bytes


def _mode(settings: Settings, name: str, token_name: str, default: str) -> str:
    mode = (getattr(settings, name) or default).strip().lower()
    if mode not in ACCESS_MODES:
        raise SettingsError(f"setting {name!r} must be one of {', '.join(ACCESS_MODES)}, got {mode!r}")
    if mode == "token" and not getattr(settings, token_name):
        raise SettingsError(f"setting {name!r} is 'token' but {token_name!r} is empty "
                            f"(set OMS_BRIDGE_{token_name.upper()} to a long random value)")
    return mode


def http_settings(settings: Settings) -> HttpSettings:
    """The checked hardening settings (raises :class:`SettingsError` naming a bad one)."""
    return HttpSettings(
        api_max_body_bytes=settings.api_max_body_bytes,
        admin_max_body_bytes=settings.admin_max_body_bytes,
        login_max_failures=settings.login_max_failures,
        login_max_failures_per_ip=settings.login_max_failures_per_ip,
        login_lockout_minutes=settings.login_lockout_minutes,
        metrics_access=_mode(settings, "metrics_access", "metrics_token",
                             "token" if settings.metrics_token else "local"),
        metrics_token=settings.metrics_token,
        docs_access=_mode(settings, "docs_access", "docs_token", "off"),
        docs_token=settings.docs_token,
    )
