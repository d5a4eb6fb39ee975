"""The words of every notification: what is wrong, since when, what to do - and when it is over.

Plain text (apprise turns it into HTML for e-mail and the like). Built only from an alert's stored
title, message and fix, which the rules made free of secrets and personal data.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from oms_bridge.alerts.findings import duration, local_time
from oms_bridge.store.models import Alert

__all__ = ["fired", "repeat", "digest", "recovered", "test_message", "PREFIX"]

PREFIX = "[oms-bridge]"


def _footer(base_url: str, alert: Alert | None = None) -> str:
    where = f"{base_url.rstrip('/')}/admin/alerts"
    return f"\n\n-- oms-bridge {where}" + (f" · alert {alert.alert_key}" if alert else "")


def _since(alert: Alert) -> datetime | None:
    return alert.since or alert.fired_at


def fired(alert: Alert, base_url: str) -> tuple[str, str]:
    """The first notice of an episode."""
    body = (f"PROBLEM: {alert.title}\n\n"
            f"What is wrong: {alert.message}\n"
            f"Since: {local_time(_since(alert))}\n"
            f"What to do: {alert.fix}")
    return f"{PREFIX} PROBLEM: {alert.title}", body + _footer(base_url, alert)


def _still(alert: Alert, now: datetime) -> str:
    since = _since(alert)
    lasting = f" ({duration(now - since)})" if since else ""
    return (f"STILL WRONG: {alert.title}\n"
            f"What is wrong: {alert.message}\n"
            f"Since: {local_time(since)}{lasting}\n"
            f"What to do: {alert.fix}")


def repeat(alert: Alert, now: datetime, base_url: str) -> tuple[str, str]:
    """A reminder while the problem lasts (one alert)."""
    return f"{PREFIX} STILL WRONG: {alert.title}", _still(alert, now) + _footer(base_url, alert)


def digest(alerts: Sequence[Alert], now: datetime, base_url: str) -> tuple[str, str]:
    """One reminder for several alerts that are still on (the digest)."""
    if len(alerts) == 1:
        return repeat(alerts[0], now, base_url)
    parts = [_still(a, now) for a in alerts]
    title = f"{PREFIX} still wrong: {len(alerts)} problems"
    return title, f"{len(alerts)} problems are still on:\n\n" + "\n\n".join(parts) + _footer(base_url)


def recovered(alert: Alert, now: datetime, base_url: str) -> tuple[str, str]:
    """The problem cleared."""
    since = _since(alert)
    lasted = f" after {duration((alert.resolved_at or now) - since)}" if since else ""
    body = (f"RESOLVED: {alert.title}\n\n"
            f"It cleared at {local_time(alert.resolved_at or now)}{lasted}.\n"
            f"It was: {alert.message}\n"
            "Nothing more to do.")
    return f"{PREFIX} RESOLVED: {alert.title}", body + _footer(base_url, alert)


def test_message(target: str, base_url: str, now: datetime) -> tuple[str, str]:
    """The "send test" message: proves the target works, and says how real alerts will look."""
    body = (f"This is a test of the alert target {target!r}, sent at {local_time(now)}.\n"
            "Real alerts say what is wrong, since when and what to do, repeat as a digest while the problem "
            "lasts, and end with a RESOLVED notice.")
    return f"{PREFIX} test notification", body + _footer(base_url)
