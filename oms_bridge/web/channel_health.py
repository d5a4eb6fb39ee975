"""A channel's health as its page shows it: the authorization state that is true now, sync lag,
held and dead deliveries, recent runs and backfills with their progress.

``auth_state`` is what the last authorization or refresh wrote; a token can run out after that without
anyone writing it. :func:`true_auth_state` reads the expiry times too, so an "active" channel whose
refresh token or merchant authorization has ended is shown as needing re-authorization.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oms_bridge.settings import Settings
from oms_bridge.store.models import Channel, Delivery, Order, ProcessRun
from oms_bridge.store.models.backfill import Backfill
from oms_bridge.store.runs import effective_outcome

__all__ = ["true_auth_state", "channel_health", "backfill_progress"]


def true_auth_state(channel: Channel, now: datetime) -> tuple[str, str]:
    """(state, why) from the stored state and the expiry times; ``why`` is '' when the state says it all."""
    if not channel.isactive:
        return "disabled", "no process runs for a disabled channel"
    if channel.auth_state != "active":
        return channel.auth_state, channel.auth_message or ""
    if channel.auth_expires_at is not None and channel.auth_expires_at <= now:
        return "reauth_required", "the merchant's authorization has ended: authorize the channel again"
    if channel.refresh_token_enc and channel.refresh_expires_at is not None and channel.refresh_expires_at <= now:
        return "reauth_required", "the refresh token has expired: authorize the channel again"
    if (channel.access_token_enc and not channel.refresh_token_enc and channel.access_expires_at is not None
            and channel.access_expires_at <= now):
        return "reauth_required", "the access token has expired and there is no refresh token"
    return "active", ""


def backfill_progress(row: Backfill) -> dict[str, Any]:
    """A backfill's range, state and how far it got (0-100 %, from its checkpoint)."""
    span = (row.until - row.since).total_seconds()
    done = (row.next_start - row.since).total_seconds()
    percent = 100 if row.state == "done" or span <= 0 else max(0, min(100, round(100 * done / span)))
    return {"id": row.id, "since": row.since, "until": row.until, "next_start": row.next_start, "state": row.state,
            "percent": percent, "fetched": row.fetched, "new": row.new, "changed": row.changed, "held": row.held,
            "error": row.last_error, "run_id": row.oms_process_run_id}


def channel_health(session: Session, channel: Channel, settings: Settings, now: datetime) -> dict[str, Any]:
    """Everything the channel page shows about how the channel is doing (aggregates and the last rows)."""
    state, why = true_auth_state(channel, now)
    counts = dict(session.execute(
        select(Delivery.state, func.count()).join(Order, Order.id == Delivery.oms_order_id)
        .where(Order.oms_channel_id == channel.id, Delivery.state.in_(("held", "dead", "retry")))
        .group_by(Delivery.state)).all())
    runs = [{"id": r.id, "process": r.process, "started": r.started, "ended": r.ended,
             "outcome": effective_outcome(r, settings, now), "fetched": r.fetched, "new": r.new,
             "changed": r.changed, "held": r.held, "error": r.error_text}
            for r in session.scalars(select(ProcessRun).where(ProcessRun.oms_channel_id == channel.id)
                                     .order_by(ProcessRun.id.desc()).limit(10))]
    last_ok = session.scalar(select(func.max(ProcessRun.ended)).where(
        ProcessRun.oms_channel_id == channel.id, ProcessRun.process == "getorder", ProcessRun.outcome == "success"))
    mark = channel.order_watermark or last_ok
    backfills = [backfill_progress(b) for b in session.scalars(
        select(Backfill).where(Backfill.oms_channel_id == channel.id).order_by(Backfill.id.desc()).limit(5))]
    return {"auth_state": state, "auth_why": why, "held": counts.get("held", 0), "dead": counts.get("dead", 0),
            "retry": counts.get("retry", 0), "runs": runs, "watermark": mark, "last_success": last_ok,
            "lag": (now - mark) if mark else None, "backfills": backfills,
            "busy": any(r["outcome"] == "running" for r in runs)}  # a lost run is not busy: the page stops refreshing
