"""``oms_delivery``: the outbox. One row per order per destination with its own delivery state.

Destinations: ``erp`` (iDempiere sales order), ``oms`` (made available to the OMS),
``logistics`` (tracking number pushed back to the marketplace), ``cancel_answer`` (the seller's answer to a
cancellation / stop-shipping request, sent to the marketplace).
States: ``pending`` → ``sent``; ``held`` (a cause the admin must fix; retried when fixed);
``retry`` (transient failure, ``next_attempt_at`` set); ``waiting`` (not ready for this destination
yet, e.g. unpaid, or the order could not be read at intake; no one has to act on the delivery); ``dead`` (gave
up after N attempts); ``resolved`` (an admin settled a held/dead row outside the bridge, with a note).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["Delivery", "DESTINATIONS", "DELIVERY_STATES"]

DESTINATIONS = ("erp", "oms", "logistics", "cancel_answer")
DELIVERY_STATES = ("pending", "retry", "sent", "held", "waiting", "dead", "resolved")


class Delivery(ADColumns, Base):
    """Delivery state of one order to one destination."""

    __tablename__ = "oms_delivery"
    __table_args__ = (
        UniqueConstraint("oms_order_id", "destination", name="oms_delivery_order_dest_uq"),
        # the held/dead page and `deliveries problems` group and filter by these (50,000 orders stay fast)
        Index("oms_delivery_state_cause_ix", "state", "destination", "cause_code", "cause_subject"),
    )

    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False,
    )
    destination: Mapped[str] = mapped_column(String(20), nullable=False)
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="pending", server_default="pending")
    # What the destination should do: create | cancel | ship | answer (adapter/sink specific)
    action: Mapped[str | None] = mapped_column(String(20))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    # End of the lease a worker holds on this row while it talks to the destination (None: not leased).
    # A leased row is invisible to other workers and to every re-arm (GetOrder, admin retry) until the
    # worker records its outcome or the lease ends: see oms_bridge.store.outbox.
    leased_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    # Machine-readable cause of a hold, e.g. "missing_sku:ABC-1"; lets a fix re-arm exactly these rows.
    hold_code: Mapped[str | None] = mapped_column(String(255), index=True)
    # Why the row is held/retrying/dead, as a key that groups (oms_bridge.store.causes): a family such as
    # "sku_unmapped" and what it is about ("SAUCE-CHILI"); never an order number or personal data.
    cause_code: Mapped[str | None] = mapped_column(String(40))
    cause_subject: Mapped[str | None] = mapped_column(String(255))
    # The last attempt's request and the destination's answer, as the admin reads them (personal data
    # masked: oms_bridge.store.outbox.record_exchange).
    last_request: Mapped[str | None] = mapped_column(Text)
    last_answer: Mapped[str | None] = mapped_column(Text)
    # Order version this row must deliver, and the version last delivered.
    order_version: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    delivered_version: Mapped[int | None] = mapped_column(Integer)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # When the row last became due (armed for a version, or re-armed by a fix or an admin retry): the age of
    # the oldest undelivered row per destination is measured from here (/metrics, alert rule pending_old).
    armed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Destination record: C_Order_ID / DocumentNo for the ERP; tracking number for logistics.
    erp_record_id: Mapped[int | None] = mapped_column(Integer)
    erp_document_no: Mapped[str | None] = mapped_column(String(60))
    external_ref: Mapped[str | None] = mapped_column(String(255))

    order = relationship("Order")
