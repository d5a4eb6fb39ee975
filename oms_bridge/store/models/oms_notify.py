"""Tables of what the OMS is told about orders: product references and order events.

- ``oms_product_ref``: marketplace SKU → Omnitron product id, served as an order item's
  ``product.pk`` (the OMS keeps relying on Omnitron for products; whether it needs the id is not
  public: see ``oms.product_reference``). One row per SKU.
- ``oms_order_event``: one row per order version offered to the OMS, the link between the
  ``oms`` outbox row (``oms_delivery``) and what the OMS received. In push mode it holds the event's
  ``uuid`` and the exact body sent, so a resend after a lost answer repeats the *same* event (the
  receiver deduplicates by uuid); in pull mode it records the version the OMS read. Its
  ``acknowledged_at`` is set when the OMS answered 2xx or acted on the order (package webhook, item
  update, ack call): only then is the outbox row ``sent``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["OmsProductRef", "OmsOrderEvent", "product_hold_code", "PRODUCT_HOLD_PREFIX"]

#: hold code prefix of ``oms`` deliveries waiting for an Omnitron product id (``omnitron_product:<SKU>``)
PRODUCT_HOLD_PREFIX = "omnitron_product:"


def product_hold_code(sku: str | None) -> str:
    """Hold code of an ``oms`` row waiting for the product id of ``sku`` (shared by the check and the map)."""
    return f"{PRODUCT_HOLD_PREFIX}{sku or ''}"[:255]


class OmsProductRef(ADColumns, Base):
    """One SKU's Omnitron product id."""

    __tablename__ = "oms_product_ref"

    sku: Mapped[str] = mapped_column(String(120), nullable=False, unique=True)
    omnitron_product_id: Mapped[int] = mapped_column(Integer, nullable=False)


class OmsOrderEvent(ADColumns, Base):
    """One order version as offered to the OMS (pushed event or pulled read), see module doc."""

    __tablename__ = "oms_order_event"
    __table_args__ = (UniqueConstraint("oms_order_id", "order_version", name="oms_order_event_order_version_uq"),)

    # No index of its own: the unique (oms_order_id, order_version) index leads with it and serves every lookup by
    # order (and the cascade); a second index cost every event inserted one more index entry (issue 18).
    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False,
    )
    order_version: Mapped[int] = mapped_column(Integer, nullable=False)
    # push | pull
    channel: Mapped[str] = mapped_column(String(10), nullable=False)
    # order.created | order.updated
    event_type: Mapped[str] = mapped_column(String(40), nullable=False)
    # uuid4 hex, as whisperer writes event.uuid; unique: the receiver deduplicates by it.
    event_uuid: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    # The exact body sent (push), kept so a resend repeats it byte for byte.
    body: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    # First time the OMS may have received this version (answered, lost answer, or read).
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_status: Mapped[int | None] = mapped_column(Integer)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # How the OMS acknowledged: "HTTP 201", "package.created 73", "order_item_bulk_update", "ack call".
    acknowledged_by: Mapped[str | None] = mapped_column(String(120))
