"""Failed-login throttling for the web admin, per user name and per client address.

Failures are rows of ``oms_admin_login_failure`` (shared by every instance on the same database, and
kept across restarts). Within the window of ``login_lockout_minutes`` (default 15), a user name with
``login_max_failures`` (5) failures, or an address with ``login_max_failures_per_ip`` (20), is locked:
further logins are refused, without checking the password, until enough failures are older than the
window. A successful login (or a password change) clears the user name's failures; the address's stay,
so one right password does not reopen guessing at other names. Rows older than the window are deleted
as new ones are written.

The per-name limit also lets anyone lock an account out for the window by failing on purpose; that is
the price of stopping password guessing, and the window is short. The per-address limit catches one
client trying many names.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from oms_bridge.settings import Settings
from oms_bridge.store.models import AdminLoginFailure, utcnow
from oms_bridge.web.http_settings import http_settings

__all__ = ["locked_for", "record_failure", "forget"]

_NAME_LENGTH = 60  # the column's length; longer names are cut (an unknown name either way)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def locked_for(session: Session, username: str, client_ip: str, settings: Settings,
               now: datetime | None = None) -> int:
    """Seconds until this user name and address may try again (0: not locked)."""
    config = http_settings(settings)
    now = now or utcnow()
    window = timedelta(minutes=config.login_lockout_minutes)
    waits = [0]
    for column, value, limit in ((AdminLoginFailure.username, username[:_NAME_LENGTH], config.login_max_failures),
                                 (AdminLoginFailure.client_ip, client_ip, config.login_max_failures_per_ip)):
        times = session.scalars(select(AdminLoginFailure.failed_at).where(
            column == value, AdminLoginFailure.failed_at > now - window)
            .order_by(AdminLoginFailure.failed_at.desc()).limit(limit)).all()
        if len(times) >= limit:  # locked until the limit-th newest failure leaves the window
            waits.append(int((_aware(times[-1]) + window - now).total_seconds()) + 1)
    return max(waits)


def record_failure(session: Session, username: str, client_ip: str, settings: Settings,
                   now: datetime | None = None) -> None:
    """Count one failed login (and drop the failures that no longer count)."""
    now = now or utcnow()
    window = timedelta(minutes=http_settings(settings).login_lockout_minutes)
    session.execute(delete(AdminLoginFailure).where(AdminLoginFailure.failed_at < now - window))
    session.add(AdminLoginFailure(username=username[:_NAME_LENGTH], client_ip=client_ip[:45], failed_at=now))


def forget(session: Session, username: str) -> None:
    """A successful login or a new password: the user name's failures no longer count."""
    session.execute(delete(AdminLoginFailure).where(AdminLoginFailure.username == username[:_NAME_LENGTH]))
