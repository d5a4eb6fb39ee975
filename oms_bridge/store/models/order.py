"""``oms_order``, ``oms_orderline``, ``oms_order_status``: each marketplace order stored once.

An order is unique on (``oms_channel_id``, ``external_id``); upserts go through that constraint.
``payload_hash`` is the hash of the canonical content: an unchanged re-read leaves the row alone.
An order that could not be mapped keeps its raw payload with ``is_held='Y'`` and ``held_reason``.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oms_bridge.store.models.base import ADColumns, Base, yes_no
from oms_bridge.store.types import Money, Quantity, UtcDateTime

__all__ = ["Order", "OrderLine", "OrderStatus"]


class Order(ADColumns, Base):
    """The canonical order plus its raw payload."""

    __tablename__ = "oms_order"
    __table_args__ = (
        UniqueConstraint("oms_channel_id", "external_id", name="oms_order_channel_external_uq"),
        # the orders page: newest first, and a number searched across channels (50,000 orders stay fast)
        Index("oms_order_created_ix", "order_created", "oms_order_id"),
        Index("oms_order_external_ix", "external_id"),
        # the few orders unreadable at intake (/admin/held), and the OMS's pages of the others: counted and paged
        # on the index alone (on SQLite ``is_held`` lies behind the raw payload, read row by row without it)
        Index("oms_order_is_held_ix", "is_held", "oms_order_id"),
        # the OMS's incremental poll (``orders/?modified_date__gte=``: what changed since its last poll)
        Index("oms_order_updated_ix", "is_held", "updated"),
    )

    oms_channel_id: Mapped[int] = mapped_column(
        ForeignKey("oms_channel.oms_channel_id", deferrable=True, initially="DEFERRED"), nullable=False
    )
    external_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # Canonical: unpaid, paid, ready_to_ship, shipped, delivered, completed, cancelled, returned
    status: Mapped[str | None] = mapped_column(String(20), index=True)
    platform_status: Mapped[str | None] = mapped_column(String(60))
    order_created: Mapped[datetime | None] = mapped_column(UtcDateTime())
    order_updated: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    paid_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    currency: Mapped[str | None] = mapped_column(String(3))
    total_amount: Mapped[Decimal | None] = mapped_column(Money())
    shipping_fee: Mapped[Decimal | None] = mapped_column(Money())
    discount_amount: Mapped[Decimal | None] = mapped_column(Money())
    payment_method: Mapped[str | None] = mapped_column(String(120))
    buyer_id: Mapped[str | None] = mapped_column(String(120))
    buyer_name: Mapped[str | None] = mapped_column(String(255))
    buyer_email: Mapped[str | None] = mapped_column(String(255))
    buyer_phone: Mapped[str | None] = mapped_column(String(60))
    ship_name: Mapped[str | None] = mapped_column(String(255))
    ship_phone: Mapped[str | None] = mapped_column(String(60))
    ship_country: Mapped[str | None] = mapped_column(String(2))
    ship_state: Mapped[str | None] = mapped_column(String(120))
    ship_city: Mapped[str | None] = mapped_column(String(120))
    ship_district: Mapped[str | None] = mapped_column(String(120))
    ship_zip: Mapped[str | None] = mapped_column(String(20))
    ship_address1: Mapped[str | None] = mapped_column(String(255))
    ship_address2: Mapped[str | None] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    # The tracking number the marketplace holds for the order's shipment (e.g. Shopee PROCESSED); kept once known.
    tracking_number: Mapped[str | None] = mapped_column(String(120))
    # The platform's payload exactly as received (JSON text).
    raw_payload: Mapped[str | None] = mapped_column(Text)
    # Hash of the canonical content; equal hash = unchanged re-read.
    payload_hash: Mapped[str | None] = mapped_column(String(64))
    # Bumped on every change of content; deliveries remember which version they sent.
    version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    is_held = yes_no("is_held", False)
    held_reason: Mapped[str | None] = mapped_column(Text)

    lines: Mapped[list[OrderLine]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderLine.line_no"
    )
    history: Mapped[list[OrderStatus]] = relationship(
        back_populates="order", cascade="all, delete-orphan", order_by="OrderStatus.id"
    )


class OrderLine(ADColumns, Base):
    """One order line; money is Decimal."""

    __tablename__ = "oms_orderline"
    __table_args__ = (UniqueConstraint("oms_order_id", "line_no", name="oms_orderline_order_line_uq"),)

    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False,
    )
    line_no: Mapped[int] = mapped_column(Integer, nullable=False)
    external_line_id: Mapped[str | None] = mapped_column(String(64))
    sku: Mapped[str | None] = mapped_column(String(120), index=True)
    name: Mapped[str | None] = mapped_column(String(255))
    qty: Mapped[Decimal] = mapped_column(Quantity(), nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(Money(), nullable=False)
    discount: Mapped[Decimal | None] = mapped_column(Money())

    order: Mapped[Order] = relationship(back_populates="lines")


class OrderStatus(ADColumns, Base):
    """Status history: one row each time the stored status of an order changes."""

    __tablename__ = "oms_order_status"

    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True,
    )
    status: Mapped[str | None] = mapped_column(String(20))
    platform_status: Mapped[str | None] = mapped_column(String(60))
    changed_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    # The oms_process_run that saw the change, when known.
    oms_process_run_id: Mapped[int | None] = mapped_column(Integer)

    order: Mapped[Order] = relationship(back_populates="history")
