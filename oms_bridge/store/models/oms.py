"""Tables of the OMS destination: API tokens, address catalogue, order items, webhook events,
package state history, carrier map and cancellation plans.

- ``oms_api_token``: one row per served endpoint (``orders``, ``cities``, …, ``webhooks``); only the
  SHA-256 of the token is stored, so a token is shown once (when rotated) and never again. The
  optional webhook HMAC secret is the one value that must be readable later, so it is kept
  encrypted by the vault (``secret_enc``) instead.
- ``oms_country`` → ``oms_city`` → ``oms_township`` → ``oms_district``: the address catalogue the
  OMS copies; seeded with Taiwan's divisions and grown by the places orders bring (``source``).
- ``oms_order_item``: one row per *unit* of an order line (the OMS item has no quantity), with
  the status, tracking and invoice numbers the OMS reports through ``order_item_bulk_update``.
- ``oms_webhook_event``: every received webhook, unique on the OMS's ``event.uuid`` (idempotency).
- ``oms_package_state``: the state history of each ``oms_package``.
- ``oms_package_push``: a shipped package waiting for (or done with) its tracking push to the
  marketplace; written by the webhook, worked by channels/logistics.py (one per package).
- ``oms_carrier``: OMS cargo company → the platform's carrier code, per platform type.
- ``oms_cancellation_plan``: one plan per marketplace cancellation (``cancel``) or return (``refund``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base, yes_no
from oms_bridge.store.types import UtcDateTime

__all__ = ["OmsApiToken", "OmsCountry", "OmsCity", "OmsTownship", "OmsDistrict", "OmsOrderItem",
           "OmsWebhookEvent", "OmsPackageState", "OmsCarrier", "OmsCancellationPlan", "OmsPackagePush",
           "carrier_hold_code"]


class OmsApiToken(ADColumns, Base):
    """The token of one endpoint the OMS calls (hash only), or the encrypted webhook HMAC secret."""

    __tablename__ = "oms_api_token"

    endpoint: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    token_hash: Mapped[str | None] = mapped_column(String(64))
    # Last characters of the token, so an admin can tell which one the OMS holds.
    token_hint: Mapped[str | None] = mapped_column(String(12))
    secret_enc: Mapped[str | None] = mapped_column(Text)
    rotated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OmsCountry(ADColumns, Base):
    """A country of the catalogue (ISO alpha-2 ``code``, upper case)."""

    __tablename__ = "oms_country"

    code: Mapped[str] = mapped_column(String(2), nullable=False, unique=True)
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    # seed | order
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="seed", server_default="seed")


class OmsCity(ADColumns, Base):
    """A county or city (縣市)."""

    __tablename__ = "oms_city"
    __table_args__ = (UniqueConstraint("oms_country_id", "name", name="oms_city_country_name_uq"),)

    oms_country_id: Mapped[int] = mapped_column(
        ForeignKey("oms_country.oms_country_id", deferrable=True, initially="DEFERRED"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    postcode: Mapped[str | None] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="seed", server_default="seed")


class OmsTownship(ADColumns, Base):
    """A township or district (鄉鎮市區) with its 3-digit postcode."""

    __tablename__ = "oms_township"
    __table_args__ = (UniqueConstraint("oms_city_id", "name", name="oms_township_city_name_uq"),)

    oms_city_id: Mapped[int] = mapped_column(
        ForeignKey("oms_city.oms_city_id", deferrable=True, initially="DEFERRED"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    postcode: Mapped[str | None] = mapped_column(String(10), index=True)
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="seed", server_default="seed")


class OmsDistrict(ADColumns, Base):
    """The OMS's lowest level; in Taiwan one per township (same name and postcode), see addresses.py."""

    __tablename__ = "oms_district"
    __table_args__ = (UniqueConstraint("oms_township_id", "name", name="oms_district_township_name_uq"),)

    oms_city_id: Mapped[int] = mapped_column(
        ForeignKey("oms_city.oms_city_id", deferrable=True, initially="DEFERRED"), nullable=False
    )
    oms_township_id: Mapped[int] = mapped_column(
        ForeignKey("oms_township.oms_township_id", deferrable=True, initially="DEFERRED"), nullable=False
    )
    name: Mapped[str] = mapped_column(String(120), nullable=False)
    postcode: Mapped[str | None] = mapped_column(String(10))
    source: Mapped[str] = mapped_column(String(10), nullable=False, default="seed", server_default="seed")


class OmsOrderItem(ADColumns, Base):
    """One unit of an order line as the OMS sees it; its id is the OMS item's ``omnitron_id``."""

    __tablename__ = "oms_order_item"
    __table_args__ = (UniqueConstraint("oms_orderline_id", "unit_no", name="oms_order_item_line_unit_uq"),)

    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True,
    )
    oms_orderline_id: Mapped[int] = mapped_column(
        ForeignKey("oms_orderline.oms_orderline_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False,
    )
    unit_no: Mapped[int] = mapped_column(Integer, nullable=False)
    # Status code the OMS set (None: follow the order's status).
    status: Mapped[str | None] = mapped_column(String(10))
    tracking_number: Mapped[str | None] = mapped_column(String(120))
    invoice_number: Mapped[str | None] = mapped_column(String(120))
    invoice_date: Mapped[datetime | None] = mapped_column(UtcDateTime())
    oms_updated_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OmsWebhookEvent(ADColumns, Base):
    """One webhook delivery from the OMS (unique ``event_uuid``: the second copy is a no-op)."""

    __tablename__ = "oms_webhook_event"

    event_uuid: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    event_type: Mapped[str] = mapped_column(String(80), nullable=False)
    package_external_id: Mapped[str | None] = mapped_column(String(64), index=True)
    # applied | stale | unknown_state | unlinked
    outcome: Mapped[str] = mapped_column(String(20), nullable=False)
    message: Mapped[str | None] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    raw_body: Mapped[str | None] = mapped_column(Text)


class OmsPackageState(ADColumns, Base):
    """One state a package was reported in, with the OMS's time for it (ordering rule: webhooks.py)."""

    __tablename__ = "oms_package_state"

    oms_package_id: Mapped[int] = mapped_column(
        ForeignKey("oms_package.oms_package_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True,
    )
    state_code: Mapped[str | None] = mapped_column(String(20))
    state_name: Mapped[str | None] = mapped_column(String(120))
    # Our name for the code (shipped, delivered, …) or None when the code is unknown.
    state_slug: Mapped[str | None] = mapped_column(String(60))
    is_known = yes_no("is_known", True)
    # Did this event become the package's current state (N: older than the current one).
    is_applied = yes_no("is_applied", True)
    event_uuid: Mapped[str | None] = mapped_column(String(64))
    event_type: Mapped[str | None] = mapped_column(String(80))
    state_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)


class OmsPackagePush(ADColumns, Base):
    """The tracking number of one shipped package, to be told to the marketplace (state pending → sent)."""

    __tablename__ = "oms_package_push"

    oms_package_id: Mapped[int] = mapped_column(
        ForeignKey("oms_package.oms_package_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, unique=True,
    )
    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True,
    )
    tracking_number: Mapped[str | None] = mapped_column(String(120))
    # The OMS's cargo company (name or erp_code), mapped through oms_carrier.
    carrier: Mapped[str | None] = mapped_column(String(120))
    # pending | sent
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="pending", server_default="pending")
    pushed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # What the marketplace reported back (may differ from ours, e.g. Shopee's own number).
    platform_tracking: Mapped[str | None] = mapped_column(String(120))
    # Set just before the marketplace call that ships it; cleared when the marketplace answered that it did not
    # ship. Still set on a pending push: the outcome is in doubt (lost answer, worker died mid-call), so the
    # next attempt reads the marketplace's shipment state first instead of sending again.
    attempted_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


class OmsCarrier(ADColumns, Base):
    """OMS cargo company (name or erp_code) → the carrier the platform expects."""

    __tablename__ = "oms_carrier"
    __table_args__ = (UniqueConstraint("platform_type", "oms_carrier", name="oms_carrier_platform_carrier_uq"),)

    platform_type: Mapped[str] = mapped_column(String(40), nullable=False)
    oms_carrier: Mapped[str] = mapped_column(String(120), nullable=False)
    platform_carrier: Mapped[str] = mapped_column(String(120), nullable=False)


class OmsCancellationPlan(ADColumns, Base):
    """A marketplace cancellation (``cancel``) or return (``refund``) the OMS must carry out."""

    __tablename__ = "oms_cancellation_plan"
    __table_args__ = (UniqueConstraint("oms_order_id", "plan_type", name="oms_cancellation_plan_order_type_uq"),)

    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False,
    )
    plan_type: Mapped[str] = mapped_column(String(10), nullable=False)
    # waiting | completed
    status: Mapped[str] = mapped_column(String(20), nullable=False, default="waiting", server_default="waiting")
    # JSON list of oms_order_item ids the plan covers.
    items_json: Mapped[str] = mapped_column(Text, nullable=False, default="[]")
    completed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())


def carrier_hold_code(platform_type: str, oms_carrier: str) -> str:
    """Hold code of logistics rows waiting for a carrier mapping (shared by the worker and the fix)."""
    return f"carrier:{platform_type}:{oms_carrier}"[:255]
