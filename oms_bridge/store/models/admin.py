"""``oms_admin_user``: web admin accounts (scrypt password hash, per-user session signing key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["AdminUser"]


class AdminUser(ADColumns, Base):
    """One admin login. Changing the password replaces ``session_key_enc``, which signs every session out."""

    __tablename__ = "oms_admin_user"

    username: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    # "scrypt$<n>$<r>$<p>$<salt b64>$<hash b64>"
    password_hash: Mapped[str] = mapped_column(String(255), nullable=False)
    # Random key signing this user's session cookies, encrypted by the vault.
    session_key_enc: Mapped[str] = mapped_column(Text, nullable=False)
    password_changed: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_login: Mapped[datetime | None] = mapped_column(UtcDateTime())
