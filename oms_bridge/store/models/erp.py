"""``oms_erp_connection``: login data for one iDempiere server (SOAP ADInterface)."""

from __future__ import annotations

from sqlalchemy import Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base

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
