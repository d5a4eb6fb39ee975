"""``oms_process_run``: one row per GetOrder / RefreshToken / delivery run, with counts and errors."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["ProcessRun"]


class ProcessRun(ADColumns, Base):
    """What a run did: window, counts, outcome and the error an admin needs to read."""

    __tablename__ = "oms_process_run"

    # getorder | refreshtoken | backfill | erp | logistics | ...
    process: Mapped[str] = mapped_column(String(30), nullable=False, index=True)
    oms_channel_id: Mapped[int | None] = mapped_column(
        ForeignKey("oms_channel.oms_channel_id", ondelete="SET NULL", deferrable=True, initially="DEFERRED"),
        index=True,
    )
    started: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    ended: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Refreshed by a live run every run_heartbeat_seconds; a `running` row whose heartbeat is older than
    # run_lost_after_seconds belongs to a run that died (see oms_bridge.store.runs.effective_outcome).
    heartbeat: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # running | success | partial | failed | skipped | not_due | reauth_required | interrupted
    # (shown as "lost": running with a stale heartbeat)
    outcome: Mapped[str] = mapped_column(String(20), nullable=False, default="running", server_default="running")
    window_from: Mapped[datetime | None] = mapped_column(UtcDateTime())
    window_to: Mapped[datetime | None] = mapped_column(UtcDateTime())
    fetched: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    new: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    changed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    unchanged: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    held: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    sent: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    failed: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    api_calls: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error_text: Mapped[str | None] = mapped_column(Text)
    # Free-form details (JSON text): per-window checkpoints, warnings, host/pid of the runner.
    details_json: Mapped[str | None] = mapped_column(Text)
