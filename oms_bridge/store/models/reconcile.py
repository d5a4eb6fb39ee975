"""``oms_reconciliation``: one reconciliation of a channel over a range of days, and what it found.

Counts are the totals over the range (listed by the marketplace, stored, found in the ERP, taken by the
OMS, and each kind of difference); ``report_json`` holds the per-day rows and every difference by order
number and reason (capped; ``differences_total`` says how many there were). ``missing`` counts the
differences that are not explained (not held, not waiting, not inside the expected lag): the alert rule
``reconcile_missing`` fires on it.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["Reconciliation"]


class Reconciliation(ADColumns, Base):
    """The outcome of one reconciliation run for one channel."""

    __tablename__ = "oms_reconciliation"

    oms_channel_id: Mapped[int] = mapped_column(
        ForeignKey("oms_channel.oms_channel_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True)
    oms_process_run_id: Mapped[int | None] = mapped_column(Integer)
    # Asia/Taipei calendar days, inclusive.
    first_day: Mapped[date] = mapped_column(Date, nullable=False)
    last_day: Mapped[date] = mapped_column(Date, nullable=False)
    started: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    ended: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # match | differences | missing | failed
    outcome: Mapped[str] = mapped_column(String(20), nullable=False, default="running", server_default="running")
    listed: Mapped[int | None] = mapped_column(Integer)
    stored: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    in_erp: Mapped[int | None] = mapped_column(Integer)
    oms_taken: Mapped[int | None] = mapped_column(Integer)
    missing: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    differences_total: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    api_calls_marketplace: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    api_calls_erp: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error_text: Mapped[str | None] = mapped_column(Text)
    report_json: Mapped[str | None] = mapped_column(Text)
