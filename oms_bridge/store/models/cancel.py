"""``oms_cancel_request``: cancellation / stop-shipping requests the marketplace asks the seller to answer.

One row per request an order received (Shopee ``IN_CANCEL``, momo 攔貨 via ``stopSendingQuery``); a later request
of the same order is a new row, so the history stays. At most one row per order is ``open`` at a time (the order
row is locked while it is written). Life of a row:

- ``open``: the marketplace lists the request. While a row is open the ERP delivery of the order waits (if the ERP
  does not have the order yet) and the OMS is served the order as "cancellation waiting". ``decision``
  (accept | refuse) is taken once, from the package state the OMS reported, and never changes afterwards, so an
  answer sent again after a lost reply is the same answer. ``answer_state`` ``unknown`` means the last answer's
  reply was lost: the next attempt reads the marketplace before sending anything.
- ``answered``: the marketplace took the answer; ``outcome`` ``intercepted`` (the order became cancelled) or
  ``return_expected`` (the goods had left: momo 來不及攔貨; the order stays a sale and comes back as a return).
- ``closed``: the marketplace ended the request without our answer; ``outcome`` ``cancelled_by_marketplace``
  (it cancelled the order itself) or ``withdrawn`` (it lists the order without the request again).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime, YesNo

__all__ = ["OrderCancelRequest", "REQUEST_STATES", "DECISIONS", "OUTCOMES"]

REQUEST_STATES = ("open", "answered", "closed")
DECISIONS = ("accept", "refuse")
OUTCOMES = ("intercepted", "return_expected", "cancelled_by_marketplace", "withdrawn")


class OrderCancelRequest(ADColumns, Base):
    """One cancellation request of one order, and what became of it (see the module doc)."""

    __tablename__ = "oms_cancel_request"

    oms_order_id: Mapped[int] = mapped_column(
        ForeignKey("oms_order.oms_order_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True,
    )
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="open", server_default="open", index=True)
    # What the marketplace needs to answer it (momo: the rows' completeOrderNo list), and its reason text.
    reference: Mapped[str | None] = mapped_column(Text)
    reason: Mapped[str | None] = mapped_column(Text)
    # Whether the marketplace lets the seller answer now (momo allowExecuteYN); NULL: it does not say.
    isallowed: Mapped[bool | None] = mapped_column("isallowed", YesNo(),
                                                   CheckConstraint("isallowed IN ('Y','N')", name="isallowed"))
    requested_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    seen_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    # The order's version that first carried the request: the OMS knows of it once it has read that version.
    order_version: Mapped[int | None] = mapped_column(Integer)
    decision: Mapped[str | None] = mapped_column(String(20))
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    decision_note: Mapped[str | None] = mapped_column(Text)
    # "" / "unknown" (the last answer's reply was lost: read the marketplace before answering again)
    answer_state: Mapped[str | None] = mapped_column(String(20))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    outcome: Mapped[str | None] = mapped_column(String(30))
    outcome_note: Mapped[str | None] = mapped_column(Text)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    order = relationship("Order")
