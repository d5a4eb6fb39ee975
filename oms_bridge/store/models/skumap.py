"""``oms_sku_map``: marketplace SKU → iDempiere product.

``scope_channel_id`` is 0 for a mapping valid on every channel, else the ``oms_channel_id`` it is
limited to (a channel-specific mapping wins). Unique on (``sku``, ``scope_channel_id``).
"""

from __future__ import annotations

from sqlalchemy import Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base

__all__ = ["SkuMap"]


class SkuMap(ADColumns, Base):
    """One SKU mapping."""

    __tablename__ = "oms_sku_map"
    __table_args__ = (UniqueConstraint("sku", "scope_channel_id", name="oms_sku_map_sku_scope_uq"),)

    sku: Mapped[str] = mapped_column(String(120), nullable=False)
    scope_channel_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    m_product_id: Mapped[int | None] = mapped_column(Integer)
    # Alternatively the product's search key (M_Product.Value).
    m_product_value: Mapped[str | None] = mapped_column(String(120))
