"""``oms_channel``: one store account on one platform, its secrets, tokens, watermark and ERP mapping."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates

from oms_bridge.settings import check_setting
from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["Channel", "AUTH_STATES"]

# new: configured, never authorized; active: tokens valid (or credentials checked);
# reauth_required: the merchant must authorize again (refresh token rejected/expired);
# error: credentials rejected (credential platforms).
AUTH_STATES = ("new", "active", "reauth_required", "error")


class Channel(ADColumns, Base):
    """A store account. Secrets (``*_enc``) are vault tokens; times are aware UTC."""

    __tablename__ = "oms_channel"

    value: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    oms_platform_id: Mapped[int] = mapped_column(
        ForeignKey("oms_platform.oms_platform_id", deferrable=True, initially="DEFERRED"), nullable=False, index=True
    )
    # Shop id (Shopee), shop domain (Cyberbiz), vendor code (momo), merchant id (Shopline).
    shop_id: Mapped[str | None] = mapped_column(String(255))
    # Static credentials as an encrypted JSON object (Cyberbiz V1 HMAC key/secret, momo login info,
    # Shopline API token, ...). Keys are adapter-specific.
    credentials_enc: Mapped[str | None] = mapped_column(Text)
    # Non-secret adapter options as JSON text (e.g. Cyberbiz auth model "v1"/"v2").
    settings_json: Mapped[str | None] = mapped_column(Text)

    # --- OAuth tokens (encrypted) and their lifecycle ------------------------------------------
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    access_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    refresh_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    authorized_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When the merchant's authorization itself ends (Shopee: at most 365 days).
    auth_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    auth_state: Mapped[str] = mapped_column(String(20), nullable=False, default="new", server_default="new")
    auth_message: Mapped[str | None] = mapped_column(Text)
    # Incremented on every token write; a writer holding an older version must not overwrite.
    token_version: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # When the stored tokens were last written (authorization or refresh): a forced refresh requested before
    # then is already satisfied (channels/tokens.py, single flight).
    token_refreshed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Single-use OAuth state (hash) and its expiry.
    oauth_state_hash: Mapped[str | None] = mapped_column(String(128))
    oauth_state_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # The redirect URI the pending authorization was started with (OAuth 2 code exchanges must repeat it).
    oauth_redirect_uri: Mapped[str | None] = mapped_column(String(500))

    # --- GetOrder -------------------------------------------------------------------------------
    # Upper bound of the last committed GetOrder window (the next run starts at this minus overlap).
    order_watermark: Mapped[datetime | None] = mapped_column(UtcDateTime())
    getorder_interval_minutes: Mapped[int | None] = mapped_column(Integer)
    refreshtoken_interval_minutes: Mapped[int | None] = mapped_column(Integer)

    # --- ERP mapping (iDempiere ids) ------------------------------------------------------------
    oms_erp_connection_id: Mapped[int | None] = mapped_column(
        ForeignKey("oms_erp_connection.oms_erp_connection_id", deferrable=True, initially="DEFERRED")
    )
    erp_org_id: Mapped[int | None] = mapped_column(Integer)
    erp_warehouse_id: Mapped[int | None] = mapped_column(Integer)
    erp_doctype_id: Mapped[int | None] = mapped_column(Integer)
    erp_pricelist_id: Mapped[int | None] = mapped_column(Integer)
    erp_bpartner_id: Mapped[int | None] = mapped_column(Integer)
    erp_ordersource_id: Mapped[int | None] = mapped_column(Integer)
    erp_payment_rule: Mapped[str | None] = mapped_column(String(10))
    erp_shipping_charge_id: Mapped[int | None] = mapped_column(Integer)
    erp_discount_charge_id: Mapped[int | None] = mapped_column(Integer)
    # How a buyer becomes a business partner: email | phone | buyer_id | default
    erp_bp_identifier: Mapped[str | None] = mapped_column(String(20))
    # OMS channel code sent with orders in per-channel mode (default: the bridge's static channel).
    oms_channel_code: Mapped[str | None] = mapped_column(String(60))

    platform = relationship("Platform", back_populates="channels")

    @validates("getorder_interval_minutes", "refreshtoken_interval_minutes")
    def _check_interval(self, key: str, value: int | None) -> int | None:
        """The range of the setting of the same name (:data:`oms_bridge.settings.LIMITS`), for every writer."""
        return None if value is None else check_setting(key, value)
