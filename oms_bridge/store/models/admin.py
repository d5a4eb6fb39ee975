"""Web admin tables: accounts (``oms_admin_user``), their sessions (``oms_admin_session``) and failed
logins (``oms_admin_login_failure``, for throttling)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["AdminUser", "AdminSession", "AdminLoginFailure"]


class AdminUser(ADColumns, Base):
    """One admin login. Changing the password ends every session of the account (``oms_admin_session``)."""

    __tablename__ = "oms_admin_user"

    username: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    # "scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>"
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # Unused since sessions are stored server-side (oms_admin_session); kept (nullable) for existing stores.
    session_key_enc: Mapped[str | None] = mapped_column(Text, nullable=True)
    password_changed: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login: Mapped[datetime | None] = mapped_column(UtcDateTime())


class AdminSession(ADColumns, Base):
    """One logged-in browser. The cookie holds a random token; only its SHA-256 is stored, so the table
    cannot be replayed. Logout deletes the row, a password change deletes all rows of the account."""

    __tablename__ = "oms_admin_session"

    oms_admin_user_id: Mapped[int] = mapped_column(
        Integer, ForeignKey("oms_admin_user.oms_admin_user_id", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)


class AdminLoginFailure(ADColumns, Base):
    """One failed login, counted per user name and per client address within the lockout window."""

    __tablename__ = "oms_admin_login_failure"

    username: Mapped[str] = mapped_column(String(60), nullable=False, index=True)
    client_ip: Mapped[str] = mapped_column(String(45), nullable=False, index=True)
    failed_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False, index=True)
