"""``oms_erp_connection``: login data for one iDempiere server (SOAP ADInterface)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["ErpConnection"]


class ErpConnection(ADColumns, Base):
    """ADLoginRequest data; the password is a vault token."""

    __tablename__ = "oms_erp_connection"

    value: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    # Base URL, e.g. https://erp.example.com:8443/ADInterface/services
    url: Mapped[str] = mapped_column(String(255), nullable=False)
    username: Mapped[str] = mapped_column(String(60), nullable=False)
    password_enc: Mapped[str | None] = mapped_column(Text)
    erp_client_id: Mapped[int] = mapped_column(Integer, nullable=False)
    erp_role_id: Mapped[int] = mapped_column(Integer, nullable=False)
    erp_org_id: Mapped[int] = mapped_column(Integer, nullable=False)
    erp_warehouse_id: Mapped[int] = mapped_column(Integer, nullable=False)
    lang: Mapped[str] = mapped_column(String(10), nullable=False, default="en_US", server_default="en_US")
    stage: Mapped[int] = mapped_column(Integer, nullable=False, default=9, server_default="9")
    # Service type names and other options as JSON text (see oms_bridge.erp).
    settings_json: Mapped[str | None] = mapped_column(Text)
    # The server's answer to the last refused login and when it came. While the row is not edited after
    # that time, deliveries do not log in again (each refused login counts towards locking the ERP user):
    # see oms_bridge.erp.connections.login_refusal.
    login_error: Mapped[str | None] = mapped_column(Text)
    login_error_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
