"""Token lifecycle of a channel: single-flight refresh, compare-and-swap writes, expiry warnings.

Why this shape (see DESIGN principle 3 and the peers' token races):

- **Single flight.** :func:`refresh_channel_tokens` holds a per-channel lock for the whole
  read → refresh call → write sequence. PostgreSQL: ``SELECT … FOR UPDATE`` on the channel row.
  SQLite: an exclusive per-channel ``flock`` (:func:`channels.locks.sqlite_channel_mutex`; SQLite is
  a single-host store) around the same sequence, whose read runs in ``BEGIN IMMEDIATE`` - but the
  file-wide write lock is *released before the network call* (held across a slow refresh it would
  stall every writer of the file past their busy timeout), and the write is a separate short
  transaction guarded by the token-version compare-and-swap. A second process waiting on the lock
  re-reads the row afterwards and finds the token fresh (or its ``token_version`` moved on), so it
  makes no call: Shopee refresh tokens are single-use, a second call with the old one would burn
  the channel.
- **Forced refreshes are single-flight too.** ``force`` skips the "is it due?" test, never the lock: a
  forced refresh passes ``requested_at`` (when the admin asked: the CLI's start) and, under the lock,
  finds the tokens already refreshed at or after that moment (``oms_channel.token_refreshed_at``,
  written with every token set) when another run did it while this one started up or waited. It then
  uses those tokens and makes no call. Six ``process run refreshtoken --force`` started together make
  one refresh call (before: one per process that read the token version after the first had finished).
- **Lost answers.** The refresh call changes state (the refresh token is single-use), so it is never
  retried blindly by the HTTP layer (:class:`~platforms.base.OutcomeUnknown`). Under the lock, it is asked
  once more with the *same* refresh token: if the lost call never reached the marketplace, this one
  refreshes; if it did, the marketplace refuses the used token and the channel needs re-authorization -
  and the message says that an answer was lost rather than blaming the token.
- **Compare and swap.** Every token write is ``UPDATE … WHERE token_version = <version read>`` and
  bumps the version. A writer holding an older version (e.g. one that did not take the lock) gets
  :class:`StaleTokenWrite` instead of overwriting a newer token.
- **Commit before use.** The new token set is returned only after the transaction that stores the
  rotated refresh token has committed; callers hand it to the adapter after that.
- **Retries.** Transient failures (network, 5xx, 429) are retried with backoff by the adapter's
  HTTP policy (``oms_bridge/remote/http.py``, the one place that decides retry vs fail). If they still fail,
  the outcome is ``transient``: tokens and channel state stay untouched and the next run tries again.
- **Rejected refresh token.** ``ReauthRequired`` (or a refresh token known to be expired) sets
  ``auth_state='reauth_required'`` with a message telling the admin exactly what to do.

Warnings ahead of expiry (:func:`token_warnings`): refresh token within ``refresh_token_warn_days``
(default 5; Shopee refresh tokens live 30 days but rotate every refresh, so this only fires when
refreshing has been failing for weeks) *and* late - the refresh is already due and has not happened,
or the refresh token dies before it would be due (a short-lived refresh token such as Shopline's,
one day past the access token, is normal and not reported while refreshing keeps up) and
authorization within ``auth_warn_days`` (default 14;
Shopee authorizations end after at most 365 days, Shopee itself warns 7 days ahead). Both are
settings (``OMS_BRIDGE_REFRESH_TOKEN_WARN_DAYS``, ``OMS_BRIDGE_AUTH_WARN_DAYS``). Times in
messages are shown in Asia/Taipei, the merchants' zone.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.orm import Session

from channels.binding import adapter_for, channel_label, load_channel, needs_token_refresh, platform_of, token_set_of
from channels.locks import sqlite_channel_mutex
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, utcnow
from oms_bridge.vault import Vault
from platforms.base import AuthExpired, OutcomeUnknown, PermanentError, ReauthRequired, TokenSet, TransientError
from platforms.registry import adapter_class

__all__ = ["RefreshResult", "StaleTokenWrite", "refresh_channel_tokens", "store_tokens", "mark_reauth_required",
           "reauth_message", "token_warnings", "TAIPEI"]

TAIPEI = ZoneInfo("Asia/Taipei")

# Outcomes of refresh_channel_tokens.
REFRESHED, NOT_DUE, SKIPPED, NOT_AUTHORIZED, REAUTH, TRANSIENT, FAILED = (
    "refreshed", "not_due", "skipped", "not_authorized", "reauth_required", "transient", "failed")


class StaleTokenWrite(Exception):
    """A token write lost the compare-and-swap: a newer token version is already stored."""


@dataclass
class RefreshResult:
    """What a refresh attempt did. ``tokens`` is the channel's current (committed) token set."""

    channel_id: int
    channel: str
    outcome: str
    message: str = ""
    tokens: TokenSet | None = None
    token_version: int = 0
    api_calls: int = 0
    warnings: list[str] = field(default_factory=list)


def _fmt_local(when: datetime, *, seconds: bool = False) -> str:
    return when.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M" + (":%S" if seconds else "")) + " (Asia/Taipei)"


def reauth_message(platform_name: str, channel_name: str, reason: str) -> str:
    """The sentence an admin reads when a channel can no longer refresh."""
    return (f"{platform_name} refused the refresh token for channel {channel_name} ({reason}). "
            f"Run `oms-bridge channel authorize {channel_name}` and have the merchant approve again.")


def store_tokens(session: Session, channel_id: int, expected_version: int, tokens: TokenSet, vault: Vault, *,
                 now: datetime, authorized: bool = False) -> int:
    """Write a token set if the stored version is still ``expected_version``; returns the new version.

    Raises :class:`StaleTokenWrite` when another writer stored a newer token meanwhile.
    """
    values: dict[str, Any] = {
        "access_token_enc": vault.encrypt(tokens.access_token),
        "refresh_token_enc": vault.encrypt(tokens.refresh_token) if tokens.refresh_token else None,
        "access_expires_at": tokens.access_expires_at,
        "refresh_expires_at": tokens.refresh_expires_at,
        "token_version": expected_version + 1,
        "token_refreshed_at": now,
        "auth_state": "active",
        "auth_message": None,
        "updated": now,
    }
    if tokens.auth_expires_at is not None:
        values["auth_expires_at"] = tokens.auth_expires_at
    if authorized:
        values["authorized_at"] = now
    result = session.execute(
        update(Channel).where(Channel.id == channel_id, Channel.token_version == expected_version)
        .values(**values).execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise StaleTokenWrite(f"channel {channel_id}: token version {expected_version} is no longer current; "
                              "a newer token was stored meanwhile, this write was dropped")
    return expected_version + 1


def mark_reauth_required(session: Session, channel_id: int, message: str, *, now: datetime) -> None:
    """Say loudly that the merchant must authorize again (state + the admin's message)."""
    session.execute(update(Channel).where(Channel.id == channel_id)
                    .values(auth_state="reauth_required", auth_message=message, updated=now)
                    .execution_options(synchronize_session=False))


def refresh_channel_tokens(channel_id: int, *, settings: Settings | None = None,
                           clock: Callable[[], datetime] | None = None, force: bool = False,
                           margin: timedelta | None = None, policy: Any = None,
                           if_version: int | None = None, requested_at: datetime | None = None) -> RefreshResult:
    """Refresh the channel's tokens if due, as the only process doing so (see module doc).

    ``margin``: refresh when the access token expires within it (default ``refresh_margin_minutes``).
    ``force``: refresh even if not due. ``if_version``: the token version the caller saw rejected;
    if the stored version differs, another process already refreshed and its tokens are returned
    without a call (GetOrder's AuthExpired path and concurrent forced runs use this). ``requested_at``
    (with ``force``): when the refresh was asked for; tokens stored at or after it satisfy it, no call.
    """
    settings = settings or get_settings()
    now_fn = clock or utcnow
    margin = margin if margin is not None else timedelta(minutes=settings.refresh_margin_minutes)
    vault = Vault.from_settings(settings)
    with sqlite_channel_mutex(settings, "refresh", channel_id), session_scope(settings, immediate=True) as session:
        channel = load_channel(session, channel_id, lock=True)
        label = channel_label(channel)
        result = RefreshResult(channel_id=channel.id, channel=label, outcome=NOT_DUE,
                               token_version=channel.token_version)
        if not needs_token_refresh(channel, session, vault=vault):
            result.outcome, result.message = SKIPPED, f"channel {label} does not use OAuth tokens; nothing to refresh"
            return result
        if channel.auth_state == "reauth_required":
            result.outcome = REAUTH
            result.message = channel.auth_message or reauth_message(
                _platform_name(channel, session), label, "authorization required")
            return result
        tokens = token_set_of(channel, vault)
        result.tokens = tokens
        if tokens is None or not tokens.refresh_token:
            result.outcome = NOT_AUTHORIZED
            result.message = (f"channel {label} holds no tokens yet: run `oms-bridge channel authorize {label}` "
                              "and have the merchant approve the app")
            return result
        now = now_fn()
        if if_version is not None and channel.token_version != if_version:
            result.message = "another process refreshed the tokens meanwhile; using its tokens"
            return result
        refreshed_at = channel.token_refreshed_at
        if force and requested_at is not None and refreshed_at is not None and refreshed_at >= requested_at:
            result.message = (f"another run refreshed the tokens at {_fmt_local(refreshed_at, seconds=True)}, after "
                              "this forced refresh was asked for; using its tokens")
            return result
        if not force and not tokens.expires_within(now, margin):
            result.message = f"access token valid until {_fmt_local(tokens.access_expires_at)}; not due"
            return result
        if tokens.refresh_expires_at is not None and tokens.refresh_expires_at <= now:
            return _reauth(session, result, channel,
                           f"its refresh token expired on {_fmt_local(tokens.refresh_expires_at)}", now)
        adapter = adapter_for(channel, vault, policy=policy, clock=now_fn, session=session)
        platform_name = _platform_name(channel, session)
        if settings.is_sqlite:
            # Single flight is held by the mutex; release SQLite's file-wide write lock before the
            # network call (it would stall every other writer). The write below is a fresh, short
            # transaction whose first statement is the compare-and-swap UPDATE.
            session.commit()
        try:
            new_tokens = _refresh_call(adapter, tokens, label)
        except _LostRefresh as exc:
            result.api_calls = adapter.api_calls
            if exc.refused:
                return _reauth(session, result, channel, "", now, platform_name, message=str(exc))
            result.outcome, result.message = TRANSIENT, str(exc)
            return result
        except (ReauthRequired, AuthExpired) as exc:
            result.api_calls = adapter.api_calls
            return _reauth(session, result, channel, str(exc), now, platform_name)
        except TransientError as exc:
            result.api_calls = adapter.api_calls
            result.outcome = TRANSIENT
            result.message = (f"could not refresh channel {label} ({exc}); the tokens are unchanged and the "
                              "next RefreshToken run tries again")
            return result
        except PermanentError as exc:
            result.api_calls = adapter.api_calls
            result.outcome, result.message = FAILED, f"refresh of channel {label} failed: {exc}"
            return result
        result.api_calls = adapter.api_calls
        result.token_version = store_tokens(session, channel.id, channel.token_version, new_tokens, vault, now=now)
        result.outcome, result.tokens = REFRESHED, new_tokens
        result.message = (f"refreshed; access token valid until {_fmt_local(new_tokens.access_expires_at)}"
                          if new_tokens.access_expires_at else "refreshed")
    # session_scope committed the rotated refresh token above; only now may anyone use it.
    return result


class _LostRefresh(Exception):
    """The answer to a refresh call was lost; ``refused``: asking again showed the refresh token used up."""

    def __init__(self, message: str, *, refused: bool):
        super().__init__(message)
        self.refused = refused


def _refresh_call(adapter: Any, tokens: TokenSet, label: str) -> TokenSet:
    """``adapter.refresh``; after a lost answer, asked once more with the same refresh token (module doc)."""
    try:
        return adapter.refresh(tokens)
    except OutcomeUnknown as lost:
        first = lost
    name = adapter.display_name
    try:
        return adapter.refresh(tokens)
    except (ReauthRequired, AuthExpired) as exc:
        raise _LostRefresh(
            f"the answer to the last refresh of channel {label} was lost ({first.message}), and {name} no longer "
            f"accepts the refresh token ({exc.message}): its refresh tokens are single-use, so the lost call most "
            f"likely used it and the new tokens never arrived. Run `oms-bridge channel authorize {label}` and "
            "have the merchant approve again", refused=True) from exc
    except (OutcomeUnknown, TransientError) as exc:
        raise _LostRefresh(
            f"the answer to a refresh of channel {label} was lost ({first.message}) and asking again failed too "
            f"({exc.message}); the stored tokens are unchanged and the next RefreshToken run asks again. If {name} "
            "then refuses the refresh token, a lost call used it (refresh tokens are single-use) and the merchant "
            "must authorize again", refused=False) from exc


def _platform_name(channel: Channel, session: Session) -> str:
    platform = platform_of(channel, session)
    try:
        return adapter_class(platform.platform_type).display_name
    except Exception:  # noqa: BLE001 - an unknown type still deserves a message
        return platform.name


def _reauth(session: Session, result: RefreshResult, channel: Channel, reason: str, now: datetime,
            platform_name: str | None = None, *, message: str | None = None) -> RefreshResult:
    message = message or reauth_message(platform_name or _platform_name(channel, session), result.channel, reason)
    mark_reauth_required(session, channel.id, message, now=now)
    result.outcome, result.message = REAUTH, message
    return result


def token_warnings(channel: Channel, now: datetime, *, settings: Settings | None = None) -> list[str]:
    """Sentences for the dashboard: re-authorization needed, or refresh/authorization expiry ahead."""
    settings = settings or get_settings()
    label = channel_label(channel)
    warnings: list[str] = []
    if channel.auth_state == "reauth_required":
        warnings.append(channel.auth_message or f"channel {label} needs re-authorization: run "
                                                f"`oms-bridge channel authorize {label}`")
        return warnings
    authorize = f"run `oms-bridge channel authorize {label}` and have the merchant approve again"
    refresh_at = channel.refresh_expires_at
    if refresh_at is not None:
        if refresh_at <= now:
            warnings.append(f"the refresh token of channel {label} expired on {_fmt_local(refresh_at)}: {authorize}")
        elif (refresh_at - now <= timedelta(days=settings.refresh_token_warn_days)
              and _refresh_is_late(channel, refresh_at, now, settings)):
            warnings.append(f"the refresh token of channel {label} expires on {_fmt_local(refresh_at)} "
                            f"(in {_human(refresh_at - now)}); RefreshToken has not succeeded for a long time - "
                            f"check its runs, or {authorize}")
    auth_at = channel.auth_expires_at
    if auth_at is not None:
        if auth_at <= now:
            warnings.append(f"the merchant's authorization of channel {label} ended on {_fmt_local(auth_at)}: "
                            f"{authorize}")
        elif auth_at - now <= timedelta(days=settings.auth_warn_days):
            warnings.append(f"the merchant's authorization of channel {label} ends on {_fmt_local(auth_at)} "
                            f"(in {_human(auth_at - now)}): {authorize} before then")
    return warnings


def _refresh_is_late(channel: Channel, refresh_at: datetime, now: datetime, settings: Settings) -> bool:
    """Whether a soon-expiring refresh token means trouble, i.e. RefreshToken will not roll it in time.

    A refresh token that simply has a short life (Shopline: one day after the access token) is not
    a problem while the next refresh - due when the access token enters the refresh margin - comes
    before it expires. It is one when that refresh is already due and has not happened, or when the
    refresh token expires before the refresh would even be due.
    """
    access_at = channel.access_expires_at
    if access_at is None:
        return True
    due_at = access_at - timedelta(minutes=settings.refresh_margin_minutes)
    return due_at <= now or refresh_at <= due_at


def _human(delta: timedelta) -> str:
    if delta >= timedelta(days=1):
        return f"{delta.days} day{'s' if delta.days != 1 else ''}"
    hours = int(delta.total_seconds() // 3600)
    return f"{hours} hour{'s' if hours != 1 else ''}" if hours else "less than an hour"
