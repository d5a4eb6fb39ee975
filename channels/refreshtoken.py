"""RefreshToken: the scheduled process that keeps one channel's OAuth tokens alive.

:func:`run_refreshtoken` records an ``oms_process_run`` around
:func:`channels.tokens.refresh_channel_tokens` and maps its outcome onto the run:

- ``refreshed`` → ``success``; ``not_due`` → ``not_due``;
- a channel that does not use OAuth (a Cyberbiz API token or V1 key, momo) → ``skipped`` with the reason;
- ``reauth_required`` → ``reauth_required`` with the admin's message (also on the channel);
- ``transient`` / ``failed`` / not authorized yet → ``failed`` with the message.

Expiry warnings (:func:`channels.tokens.token_warnings`) are stored in the run's details under
``warnings`` so the dashboard and ``oms-bridge process runs`` show them.

``force=True`` refreshes even when not due, but still single-flight: it passes when it was asked for
(``requested_at``, the CLI's start; else the run's start) and the token version it read, and under the
channel's lock a refresh stored by another run since then satisfies it without a call - so forced runs
started together make one call, however their start-up is staggered.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from channels.binding import BindingError, inactive_reason, load_channel, require_channel
from channels.tokens import NOT_DUE, REAUTH, REFRESHED, SKIPPED, refresh_channel_tokens, token_warnings
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import utcnow
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import VaultError
from platforms.base import PermanentError

__all__ = ["run_refreshtoken"]

_RUN_OUTCOME = {REFRESHED: "success", NOT_DUE: "not_due", SKIPPED: "skipped", REAUTH: "reauth_required"}


def run_refreshtoken(channel_id: int, *, settings: Settings | None = None,
                     clock: Callable[[], datetime] | None = None, force: bool = False,
                     policy: Any = None, requested_at: datetime | None = None) -> RunStats:
    """One RefreshToken run for a channel (see module doc)."""
    settings = settings or get_settings()
    now_fn = clock or utcnow
    requested_at = requested_at or now_fn()
    require_channel(settings, channel_id)  # ChannelNotFound, not a foreign-key error on the run row
    with record_run("refreshtoken", channel_id=channel_id, settings=settings) as stats:
        refused = inactive_reason(settings, channel_id)
        if refused:
            stats.outcome, stats.error_text = "skipped", refused
            return stats
        try:
            version = None
            if force:
                with session_scope(settings, readonly=True) as session:
                    version = load_channel(session, channel_id).token_version
            result = refresh_channel_tokens(channel_id, settings=settings, clock=now_fn, force=force,
                                            policy=policy, if_version=version, requested_at=requested_at)
        except (BindingError, VaultError, PermanentError) as exc:
            # PermanentError: the adapter refuses the channel's own settings (e.g. an unknown auth model)
            # before any call. A failed run says so; raising would stop `process run --all` at this channel.
            label = _label(settings, channel_id)
            stats.outcome, stats.error_text = "failed", f"channel {label} cannot be used: {exc}"
            return stats
        stats.api_calls = result.api_calls
        stats.outcome = _RUN_OUTCOME.get(result.outcome, "failed")
        stats.details["result"] = result.outcome
        stats.details["message"] = result.message
        if stats.outcome in ("failed", "reauth_required", "skipped"):
            stats.error_text = result.message
        with session_scope(settings, readonly=True) as session:
            warnings = token_warnings(load_channel(session, channel_id), now_fn(), settings=settings)
        # reauth_required: the channel's message is already the run's error; saying it twice is noise.
        warnings = [w for w in warnings if w != stats.error_text]
        if warnings:
            stats.details["warnings"] = warnings
    return stats


def _label(settings: Settings, channel_id: int) -> str:
    """The channel's search key for a message (its id if even that cannot be read)."""
    try:
        with session_scope(settings, readonly=True) as session:
            return load_channel(session, channel_id).value
    except Exception:  # noqa: BLE001 - only for the wording of an error already being reported
        return str(channel_id)
