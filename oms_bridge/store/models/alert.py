"""``oms_alert_target``, ``oms_alert``, ``oms_alert_notice``: where alerts go, what is wrong, what was sent.

- ``oms_alert_target``: one notification target (an apprise URL: email, Slack, Teams, Telegram, LINE, a
  webhook, ...). The URL carries the service's secrets, so it is stored encrypted by the vault
  (``url_enc``); ``url_hint`` is the masked form every output shows.
- ``oms_alert``: one row per problem key (``channel_stale:shop-a``, ``dead:erp``, ...), unique on
  ``alert_key``. ``state`` is ``firing`` or ``resolved``; ``episode`` counts how often it started again.
  State changes are compare-and-swap updates (``WHERE state = ... AND episode = ...``), so several
  evaluators agree on one episode.
- ``oms_alert_notice``: every notification (fired, repeat, recovered, test), unique on
  (``alert_key``, ``episode``, ``kind``, ``seq``). Inserting the row *is* the claim to send it: the
  evaluator whose insert wins sends, every other one meets the unique key and does not. The row then
  keeps the outcome (sent / failed / ...), which is the alert history the admin reads.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from oms_bridge.store.models.base import ADColumns, Base
from oms_bridge.store.types import UtcDateTime

__all__ = ["AlertTarget", "Alert", "AlertNotice", "ALERT_STATES", "NOTICE_KINDS", "NOTICE_STATES"]

ALERT_STATES = ("firing", "resolved")
#: fired: the problem started; repeat: still there (digest); recovered: it cleared; test: "send test".
NOTICE_KINDS = ("fired", "repeat", "recovered", "test")
#: claimed: being sent (or the sender died: re-claimed when ``claimed_until`` passed); sent; partial (some
#: targets failed; retried); failed (every target failed; retried up to ``alert_send_attempts``);
#: unsent (no active target was configured).
NOTICE_STATES = ("claimed", "sent", "partial", "failed", "unsent")


class AlertTarget(ADColumns, Base):
    """One place alerts are sent to."""

    __tablename__ = "oms_alert_target"

    value: Mapped[str] = mapped_column(String(60), nullable=False, unique=True)
    # The apprise URL, encrypted by the vault (it holds passwords, tokens, webhook keys).
    url_enc: Mapped[str] = mapped_column(Text, nullable=False)
    # Shown instead of the URL: scheme and (for host-based services) host, the rest masked.
    url_hint: Mapped[str] = mapped_column(String(255), nullable=False)
    description: Mapped[str | None] = mapped_column(String(255))
    last_sent: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)


class Alert(ADColumns, Base):
    """The current state of one problem key."""

    __tablename__ = "oms_alert"

    alert_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    # Which rule raised it (channel_stale, dead, erp_unreachable, ...) and what it is about.
    rule: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    subject: Mapped[str | None] = mapped_column(String(120))
    state: Mapped[str] = mapped_column(String(10), nullable=False, default="firing", server_default="firing")
    episode: Mapped[int] = mapped_column(Integer, nullable=False, default=1, server_default="1")
    # When the problem itself started (as the rule sees it) and when this episode was opened.
    since: Mapped[datetime | None] = mapped_column(UtcDateTime())
    fired_at: Mapped[datetime] = mapped_column(UtcDateTime(), nullable=False)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime())
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    # What is wrong and what to do, as last evaluated (no personal data, no secrets).
    message: Mapped[str | None] = mapped_column(Text)
    fix: Mapped[str | None] = mapped_column(Text)


class AlertNotice(ADColumns, Base):
    """One notification: claimed by its unique key, then its outcome."""

    __tablename__ = "oms_alert_notice"
    __table_args__ = (UniqueConstraint("alert_key", "episode", "kind", "seq", name="oms_alert_notice_claim_uq"),)

    oms_alert_id: Mapped[int | None] = mapped_column(
        ForeignKey("oms_alert.oms_alert_id", ondelete="CASCADE", deferrable=True, initially="DEFERRED"), index=True)
    alert_key: Mapped[str] = mapped_column(String(255), nullable=False)
    episode: Mapped[int] = mapped_column(Integer, nullable=False)
    kind: Mapped[str] = mapped_column(String(10), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="claimed", server_default="claimed")
    # A claim (or a failed send's retry time) holds until then; past it another evaluator may take it over.
    claimed_until: Mapped[datetime | None] = mapped_column(UtcDateTime(), index=True)
    claimed_by: Mapped[str | None] = mapped_column(String(120))
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    title: Mapped[str] = mapped_column(String(255), nullable=False)
    body: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    # Targets (ids, comma-separated) that still have to receive it; empty once every target has it.
    pending_targets: Mapped[str | None] = mapped_column(String(255))
    targets_ok: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    error_text: Mapped[str | None] = mapped_column(Text)
