"""``oms_backfill``: one resumable backfill of a channel's orders over a date range.

A backfill reads ``[since, until)`` window by window; ``next_start`` is the checkpoint (everything
before it is committed), so an interrupted backfill resumes there instead of starting over. It never
touches the channel's GetOrder watermark.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["Backfill", "BACKFILL_STATES"]

# running: in progress or interrupted (resumable); done; failed: stopped on an error (resumable).
BACKFILL_STATES = ("running", "done", "failed")


class Backfill(ADColumns, Base):
    """Range, checkpoint, state and counts of one backfill."""

    __tablename__ = "oms_backfill"

    oms_channel_id: Mapped[int] = mapped_column(
        ForeignKey("oms_channel.oms_channel_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"),
        nullable=False, index=True,
    )
    since: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    until: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    # Checkpoint: the start of the first window not yet committed.
    next_start: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    window_minutes: Mapped[int] = mapped_column(Integer, nullable=False, default=1440, server_default="1440")
    state: Mapped[str] = mapped_column(String(20), nullable=False, default="running", server_default="running")
    fetched: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    new: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    changed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    held: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    # The oms_process_run that last worked on it.
    oms_process_run_id: Mapped[int | None] = mapped_column(Integer)
