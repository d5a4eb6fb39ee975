"""``oms_package``: packages the OMS reports by webhook, with their state codes and tracking."""

from __future__ import annotations

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oms_bridge.store.models.base import ADColumns, Base

__all__ = ["Package"]


class Package(ADColumns, Base):
    """One OMS package (key: the OMS package id)."""

    __tablename__ = "oms_package"

    oms_order_id: Mapped[int | None] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="SET NULL", deferrable=True, initially="DEFERRED"),
        index=True,
    )
    # The OMS's package id (webhook payload.id), unique.
    external_id: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    order_number: Mapped[str | None] = mapped_column(String(64))
    state_code: Mapped[str | None] = mapped_column(String(20))
    state_name: Mapped[str | None] = mapped_column(String(120))
    tracking_number: Mapped[str | None] = mapped_column(String(120))
    carrier: Mapped[str | None] = mapped_column(String(120))
    invoice_number: Mapped[str | None] = mapped_column(String(120))
    raw_payload: Mapped[str | None] = mapped_column(Text)

    order = relationship("Order")
