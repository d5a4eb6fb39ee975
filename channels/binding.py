"""Bind a platform adapter to one channel row: decrypt its secrets and tokens, nothing else.

This is the only place that turns ``oms_platform`` / ``oms_channel`` rows into the adapter's
:class:`~platforms.base.PlatformConfig`, :class:`~platforms.base.ChannelConfig` and
:class:`~platforms.base.TokenSet`. The processes (GetOrder, RefreshToken, authorization) never
branch on the platform's name: they ask the adapter (``uses_oauth``, ``refresh``, ``fetch_orders``).

A secret that cannot be decrypted raises :class:`BindingError` naming the channel and which secret,
so the admin knows what to re-enter (never the secret itself).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Platform
from oms_bridge.vault import Vault, VaultError
from platforms.base import Adapter, ChannelConfig, PlatformConfig, PlatformError, TokenSet
from platforms.registry import UnknownPlatform, adapter_class

__all__ = ["BindingError", "ChannelNotFound", "require_channel", "inactive_reason", "adapter_for",
           "needs_token_refresh", "token_set_of", "platform_config", "channel_config", "load_channel", "platform_of",
           "channel_label"]


class BindingError(Exception):
    """The channel cannot be bound to an adapter (bad secret, unknown platform, bad settings JSON)."""


class ChannelNotFound(BindingError):
    """No channel with this name (search key) or id."""


def channel_label(channel: Channel) -> str:
    """How messages name a channel: its search key."""
    return channel.value


def _json_object(text: str | None, what: str) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise BindingError(f"{what} is not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise BindingError(f"{what} must be a JSON object, got {type(data).__name__}")
    return data


def platform_of(channel: Channel, session: Session | None = None) -> Platform:
    """The channel's platform row (loaded relationship, or fetched through ``session``)."""
    platform = channel.__dict__.get("platform")
    if platform is None and session is not None:
        platform = session.get(Platform, channel.oms_platform_id)
    if platform is None:
        platform = channel.platform  # lazy load; needs an attached session
    return platform


def platform_config(platform: Platform, vault: Vault) -> PlatformConfig:
    """The admin's platform row with the app secret decrypted."""
    try:
        secret = vault.decrypt(platform.app_secret_enc, what=f"the app secret of platform {platform.value}")
    except VaultError as exc:
        raise BindingError(str(exc)) from exc
    return PlatformConfig(host=platform.host, app_id=platform.app_id, app_secret=secret,
                          settings=_json_object(platform.settings_json, f"settings of platform {platform.value}"))


def channel_config(channel: Channel, vault: Vault) -> ChannelConfig:
    """The admin's channel row with its static credentials decrypted."""
    label = channel_label(channel)
    try:
        creds_text = vault.decrypt(channel.credentials_enc, what=f"the credentials of channel {label}")
    except VaultError as exc:
        raise BindingError(str(exc)) from exc
    return ChannelConfig(name=label, shop_id=channel.shop_id,
                         credentials=_json_object(creds_text, f"credentials of channel {label}"),
                         settings=_json_object(channel.settings_json, f"settings of channel {label}"))


def token_set_of(channel: Channel, vault: Vault) -> TokenSet | None:
    """The channel's stored tokens decrypted, or ``None`` when it holds no access token."""
    if not channel.access_token_enc:
        return None
    label = channel_label(channel)
    try:
        access = vault.decrypt(channel.access_token_enc, what=f"the access token of channel {label}")
        refresh = vault.decrypt(channel.refresh_token_enc, what=f"the refresh token of channel {label}")
    except VaultError as exc:
        raise BindingError(str(exc)) from exc
    return TokenSet(access_token=access or "", refresh_token=refresh or None,
                    access_expires_at=channel.access_expires_at, refresh_expires_at=channel.refresh_expires_at,
                    auth_expires_at=channel.auth_expires_at)


def _adapter_cls(platform: Platform) -> type[Adapter]:
    try:
        return adapter_class(platform.platform_type)
    except UnknownPlatform as exc:
        raise BindingError(f"platform {platform.value}: {exc}") from exc


def adapter_for(channel: Channel, vault: Vault, *, policy: Any = None,
                clock: Callable[[], datetime] | None = None, session: Session | None = None) -> Adapter:
    """A ready adapter for this channel: platform secret, credentials and current tokens decrypted.

    A platform that refuses its configuration already when built (e.g. no partner key) becomes a
    :class:`BindingError` naming the channel.
    """
    platform = platform_of(channel, session)
    cls = _adapter_cls(platform)
    pconf, cconf = platform_config(platform, vault), channel_config(channel, vault)
    tokens = token_set_of(channel, vault)
    try:
        return cls(pconf, cconf, tokens, policy=policy, clock=clock)
    except PlatformError as exc:
        raise BindingError(f"channel {channel_label(channel)} (platform {platform.value}) is misconfigured: "
                           f"{exc}") from exc


def needs_token_refresh(channel: Channel, session: Session | None = None, *, vault: Vault | None = None) -> bool:
    """True when the channel authorizes by OAuth, so RefreshToken must keep its tokens alive.

    Asked of the channel's adapter (``uses_oauth`` may depend on channel settings, e.g. the Cyberbiz
    auth model); ``vault`` defaults to the configured one.
    """
    vault = vault or Vault.from_settings(get_settings())
    return bool(adapter_for(channel, vault, session=session).uses_oauth)


def load_channel(session: Session, ref: int | str, *, lock: bool = False) -> Channel:
    """A channel by id or search key, with its platform loaded; ``lock`` takes a row lock on PostgreSQL."""
    stmt = select(Channel).where(Channel.id == ref if isinstance(ref, int) else Channel.value == ref)
    if lock and session.get_bind().dialect.name == "postgresql":
        stmt = stmt.with_for_update(of=Channel)
    if lock:
        stmt = stmt.execution_options(populate_existing=True)  # re-read what another process may have written
    channel = session.scalars(stmt).first()
    if channel is None:
        known = ", ".join(session.scalars(select(Channel.value).order_by(Channel.value)).all()) or "none"
        raise ChannelNotFound(f"no channel {ref!r} (known channels: {known})")
    session.get(Platform, channel.oms_platform_id)  # into the identity map, so .platform needs no lazy load
    _ = channel.platform
    return channel


def inactive_reason(settings: Settings, channel_id: int) -> str | None:
    """Why no process may run for this channel now (it or its platform is disabled), or None.

    Checked by every run itself, not only by the scheduler's job list: a job that outlived the
    disabling (job sync failing, another instance, a manual ``process run``) must not pull orders.
    """
    with session_scope(settings, readonly=True) as session:
        channel = load_channel(session, channel_id)
        label = channel_label(channel)
        if not channel.isactive:
            return f"channel {label} is disabled: no process runs for it (`oms-bridge channel enable {label}`)"
        platform = channel.platform
        if platform is not None and not platform.isactive:
            return (f"platform {platform.value} of channel {label} is disabled: no process runs for its channels "
                    f"(enable the platform to resume)")
    return None


def require_channel(settings: Settings, channel_id: int) -> str:
    """The channel's name, or :class:`ChannelNotFound` before a run row would point at nothing."""
    with session_scope(settings, readonly=True) as session:
        return channel_label(load_channel(session, channel_id))
