"""Authorizing a channel: OAuth start + callback, or a credential check for non-OAuth platforms.

OAuth (:func:`start_authorization` → merchant approves → :func:`complete_authorization`):

- ``start`` makes a random single-use ``state`` (``secrets.token_urlsafe``), stores only its
  SHA-256 hash on the channel with a 10-minute expiry (``STATE_TTL``), and returns the marketplace
  URL from the adapter. A new start replaces any earlier pending state of the channel.
- ``complete`` finds the channel by the hash of the returned ``state`` and consumes it in the same
  locked transaction (PostgreSQL row lock / SQLite ``BEGIN IMMEDIATE``) *before* calling the
  marketplace, so a replayed or concurrent callback with the same state is refused. Then it
  exchanges the code and stores the tokens encrypted (token version bumped, state ``active``).
  The callback must carry ``state`` back (the adapter puts it on the redirect URI when the platform
  has no state parameter of its own). The redirect URI used at the start is remembered with the
  state, because OAuth 2 code exchanges (Cyberbiz V2, Shopline) must repeat it exactly.

Credential platforms (Cyberbiz V1, momo): :func:`check_credentials` makes the adapter's one cheap
authenticated call and says plainly whether the credentials work (channel becomes ``active`` or
``error`` with the message).
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import select, update

from channels.binding import BindingError, adapter_for, channel_label, load_channel, needs_token_refresh
from channels.tokens import StaleTokenWrite, store_tokens
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, utcnow
from oms_bridge.vault import Vault, VaultError
from platforms.base import CredentialsInvalid, OutcomeUnknown, PlatformError, TransientError
from platforms.registry import adapter_class

__all__ = ["AuthorizationError", "start_authorization", "complete_authorization", "check_credentials",
           "default_redirect_uri", "authorization_link_validity", "STATE_TTL"]

STATE_TTL = timedelta(minutes=10)


class AuthorizationError(Exception):
    """Authorization cannot proceed; the message tells the admin or merchant why and what to do."""


def _hash_state(state: str) -> str:
    return hashlib.sha256(state.encode("utf-8")).hexdigest()


def default_redirect_uri(platform_type: str, settings: Settings) -> str:
    """Where the marketplace sends the merchant back: the app's callback route."""
    return f"{settings.base_url.rstrip('/')}/oauth/callback/{platform_type}"


def start_authorization(channel_value: str, redirect_uri: str | None = None, *, settings: Settings | None = None,
                        clock: Callable[[], datetime] | None = None) -> str:
    """The marketplace URL where the merchant approves the app for this channel."""
    settings = settings or get_settings()
    now_fn = clock or utcnow
    now = now_fn()
    vault = Vault.from_settings(settings)
    state = secrets.token_urlsafe(32)
    try:
        with session_scope(settings, immediate=True) as session:
            channel = load_channel(session, channel_value, lock=True)
            label = channel_label(channel)
            if not needs_token_refresh(channel, session, vault=vault):
                raise AuthorizationError(
                    f"channel {label} does not use OAuth; its credentials are checked instead "
                    f"(`oms-bridge channel authorize {label}` does that)")
            adapter = adapter_for(channel, vault, clock=now_fn, session=session)
            redirect_uri = redirect_uri or default_redirect_uri(channel.platform.platform_type, settings)
            url = adapter.authorize_url(redirect_uri, state)
            channel.oauth_state_hash = _hash_state(state)
            channel.oauth_state_expires_at = now + STATE_TTL
            channel.oauth_redirect_uri = redirect_uri
    except (BindingError, VaultError) as exc:
        raise AuthorizationError(str(exc)) from exc
    except PlatformError as exc:
        raise AuthorizationError(f"cannot build the authorization URL: {exc}") from exc
    return url


def authorization_link_validity(channel_value: str, *, settings: Settings | None = None) -> str:
    """How long the link of :func:`start_authorization` works, in the admin's words, and what to do after.

    The marketplace may refuse its consent link sooner than our own ``state`` expires (Shopee: 5 minutes,
    then a bare "Invalid timestamp" page); the merchant must *open* it within that time and then has until
    ``STATE_TTL`` to approve.
    """
    settings = settings or get_settings()
    ours = int(STATE_TTL.total_seconds() // 60)
    with session_scope(settings) as session:
        channel = load_channel(session, channel_value)
        label, platform = channel_label(channel), channel.platform
        try:
            ttl = adapter_class(platform.platform_type).consent_link_ttl
            name = adapter_class(platform.platform_type).display_name
        except Exception:  # noqa: BLE001 - an unknown type is reported by the authorization itself
            ttl, name = None, platform.name
    if ttl is None or ttl >= STATE_TTL:
        return f"valid {ours} minutes, single use"
    minutes = max(1, int(ttl.total_seconds() // 60))
    return (f"open it within {minutes} minutes, single use: {name} refuses an older link with \"Invalid "
            f"timestamp\" - then run `oms-bridge channel authorize {label}` again for a fresh one; after opening "
            f"it the merchant has up to {ours} minutes to approve")


def complete_authorization(platform_type: str, params: Mapping[str, str], *, settings: Settings | None = None,
                           clock: Callable[[], datetime] | None = None, policy=None) -> Channel:
    """Check and consume ``state``, exchange the code, store the tokens; returns the channel."""
    settings = settings or get_settings()
    now_fn = clock or utcnow
    vault = Vault.from_settings(settings)
    state = params.get("state")
    if not state:
        raise AuthorizationError("the callback carries no state; start again with `oms-bridge channel authorize`")
    if params.get("error"):
        raise AuthorizationError(f"the marketplace reported an error: {params.get('error')} "
                                 f"{params.get('message') or params.get('error_description') or ''}".strip())
    # 1. Consume the state atomically: a replay (or a second concurrent callback) finds nothing.
    digest = _hash_state(state)
    with session_scope(settings, immediate=True) as session:
        stmt = select(Channel.id).where(Channel.oauth_state_hash == digest)
        if session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update()
        channel_id = session.scalar(stmt)
        if channel_id is None:
            raise AuthorizationError("this authorization link is unknown or was already used; "
                                     "start again with `oms-bridge channel authorize NAME`")
        channel = load_channel(session, channel_id)
        label, expires = channel_label(channel), channel.oauth_state_expires_at
        redirect_uri = channel.oauth_redirect_uri or default_redirect_uri(channel.platform.platform_type, settings)
        actual_type = channel.platform.platform_type
        session.execute(update(Channel).where(Channel.id == channel_id, Channel.oauth_state_hash == digest)
                        .values(oauth_state_hash=None, oauth_state_expires_at=None, oauth_redirect_uri=None)
                        .execution_options(synchronize_session=False))
    if actual_type != platform_type:
        raise AuthorizationError(f"channel {label} is a {actual_type} channel, but the callback came for "
                                 f"{platform_type}; start again with `oms-bridge channel authorize {label}`")
    if expires is None or expires <= now_fn():
        raise AuthorizationError(f"the authorization of channel {label} took longer than "
                                 f"{int(STATE_TTL.total_seconds() // 60)} minutes and expired; "
                                 f"run `oms-bridge channel authorize {label}` again")
    # 2. Exchange the code (no lock held during the call), 3. store under the token version.
    try:
        with session_scope(settings, readonly=True) as session:
            channel = load_channel(session, channel_id)
            adapter = adapter_for(channel, vault, policy=policy, clock=now_fn, session=session)
        tokens = adapter.exchange_code(params, redirect_uri)
    except (BindingError, VaultError) as exc:
        raise AuthorizationError(str(exc)) from exc
    except TransientError as exc:
        raise AuthorizationError(f"the marketplace could not be reached to finish authorizing channel {label} "
                                 f"({exc}); run `oms-bridge channel authorize {label}` again") from exc
    except OutcomeUnknown as exc:
        raise AuthorizationError(f"the answer to the code exchange of channel {label} was lost ({exc}); the code "
                                 f"is single-use and may be spent, so run `oms-bridge channel authorize {label}` "
                                 "again and have the merchant approve once more") from exc
    except PlatformError as exc:
        raise AuthorizationError(f"the marketplace refused the authorization of channel {label}: {exc}; "
                                 f"run `oms-bridge channel authorize {label}` again") from exc
    for _attempt in range(3):
        with session_scope(settings, immediate=True) as session:
            channel = load_channel(session, channel_id, lock=True)
            try:
                store_tokens(session, channel_id, channel.token_version, tokens, vault, now=now_fn(),
                             authorized=True)
            except StaleTokenWrite:
                continue
            shop = tokens.extra.get("shop_id") if tokens.extra else None
            if shop and not channel.shop_id:
                channel.shop_id = str(shop)
        break
    with session_scope(settings, readonly=True) as session:
        return load_channel(session, channel_id)


def check_credentials(channel_value: str, *, settings: Settings | None = None, policy=None,
                      clock: Callable[[], datetime] | None = None) -> tuple[bool, str]:
    """One cheap authenticated call: ``(True, what the platform said)`` or ``(False, why not)``."""
    settings = settings or get_settings()
    try:
        vault = Vault.from_settings(settings)
        with session_scope(settings, readonly=True) as session:
            channel = load_channel(session, channel_value)
            label = channel_label(channel)
            oauth = needs_token_refresh(channel, session, vault=vault)
            adapter = adapter_for(channel, vault, policy=policy, clock=clock, session=session)
    except (BindingError, VaultError) as exc:
        return False, str(exc)
    if oauth and adapter.tokens is None:
        return False, f"channel {label} is not authorized yet: run `oms-bridge channel authorize {label}`"
    state, message, ok = None, "", False
    try:
        message = f"channel {label}: credentials work ({adapter.check_credentials()})"
        ok, state = True, "active"
    except CredentialsInvalid as exc:
        message, state = f"channel {label}: the credentials were rejected ({exc}); correct them and check again", \
            "error"
    except TransientError as exc:
        message = f"channel {label}: the marketplace could not be reached ({exc}); nothing changed, try again"
    except PlatformError as exc:
        message = f"channel {label}: the check failed ({exc})"
    if state is not None and not oauth:
        with session_scope(settings) as session:
            session.execute(update(Channel).where(Channel.value == channel_value)
                            .values(auth_state=state, auth_message=None if ok else message,
                                    authorized_at=utcnow() if ok else Channel.authorized_at)
                            .execution_options(synchronize_session=False))
    return ok, message
