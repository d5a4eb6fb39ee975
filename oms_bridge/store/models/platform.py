"""``oms_platform``: a marketplace app (Shopee partner app, Cyberbiz app, momo vendor, Shopline app)."""

from __future__ import annotations

from sqlalchemy import String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oms_bridge.store.models.base import ADColumns, Base

__all__ = ["Platform"]


class Platform(ADColumns, Base):
    """One marketplace application. ``app_secret_enc`` is a vault token, never clear text."""

    __tablename__ = "oms_platform"

    value: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    # Registry key of the adapter: shopee | cyberbiz | momo | shopline (or a plug-in's).
    platform_type: Mapped[str] = mapped_column(String(40), nullable=False)
    # Base URL of the marketplace API (production, test host, or a local sandbox).
    host: Mapped[str] = mapped_column(String(255), nullable=False)
    # Partner id / client id / app key: public identifier of the app.
    app_id: Mapped[str | None] = mapped_column(String(255))
    # Partner key / client secret, encrypted by the vault.
    app_secret_enc: Mapped[str | None] = mapped_column(Text)
    # Non-secret adapter options as JSON text (e.g. Shopline shipment call style).
    settings_json: Mapped[str | None] = mapped_column(Text)

    channels = relationship("Channel", back_populates="platform")
