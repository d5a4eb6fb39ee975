"""Channels (one store account on one platform) added, changed, enabled, removed and shown.

Choices where nothing is specified:

- Credential keys a channel may hold come from the adapter's ``credential_fields``; unknown keys
  are refused when the adapter declares any. Missing ones are allowed (a channel can be created
  before the merchant sends them) and listed in the view as ``credentials_missing``: the ones the
  adapter needs for the channel's settings (``required_credentials``: a Cyberbiz token channel is
  asked for its API token, not for HMAC keys).
- A channel's settings are shown to its adapter when they are added or changed
  (``Adapter.required_credentials``): a value it refuses (an ``auth_model`` typo) is an error then,
  with nothing saved, not at the channel's first run.
- A channel with stored orders or runs cannot be removed (history would be lost); disable it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.configure.checks import (
    UNSET,
    ConfigError,
    Duplicate,
    NotFound,
    check_type,
    check_value,
    flush,
    masked,
    settings_dict,
    settings_text,
)
from oms_bridge.configure.lookups import get_channel, get_platform
from oms_bridge.settings import SettingsError, check_setting
from oms_bridge.store.models import Channel, ErpConnection, Order, Platform
from oms_bridge.vault import DecryptionFailed, Vault, mask
from platforms.base import PlatformError
from platforms.registry import adapter_class

__all__ = ["ERP_FIELDS", "BP_IDENTIFIERS", "add_channel", "update_channel", "set_channel_active", "remove_channel",
           "channel_view", "credential_fields", "required_credentials", "decrypt_channel_credentials"]

#: ERP mapping columns of ``oms_channel`` an admin may set (iDempiere ids unless noted).
ERP_FIELDS: dict[str, type] = {
    "erp_org_id": int, "erp_warehouse_id": int, "erp_doctype_id": int, "erp_pricelist_id": int,
    "erp_bpartner_id": int, "erp_ordersource_id": int, "erp_payment_rule": str, "erp_shipping_charge_id": int,
    "erp_discount_charge_id": int, "erp_bp_identifier": str, "oms_channel_code": str,
}
#: How a buyer becomes an ERP business partner.
BP_IDENTIFIERS = ("email", "phone", "buyer_id", "default")

def _check_erp(mapping: Mapping[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(mapping) - set(ERP_FIELDS))
    if unknown:
        raise ConfigError(f"unknown ERP mapping field(s) {', '.join(unknown)}; known: {', '.join(ERP_FIELDS)}")
    out: dict[str, Any] = {}
    for key, raw in mapping.items():
        if raw is UNSET:
            continue
        if raw is None or raw == "":
            out[key] = None
            continue
        if ERP_FIELDS[key] is int:
            try:
                number = int(raw)
            except (TypeError, ValueError):
                raise ConfigError(f"{key} must be an integer iDempiere id, got {raw!r}") from None
            if number < 0:
                raise ConfigError(f"{key} must not be negative, got {number}")
            out[key] = number
        else:
            out[key] = str(raw).strip()
    rule = out.get("erp_payment_rule")
    if rule is not None and len(rule) > 10:
        raise ConfigError(f"erp_payment_rule {rule!r} is too long (iDempiere PaymentRule codes are short, e.g. 'P')")
    ident = out.get("erp_bp_identifier")
    if ident is not None and ident not in BP_IDENTIFIERS:
        raise ConfigError(f"erp_bp_identifier {ident!r} is not one of {', '.join(BP_IDENTIFIERS)}")
    return out


def _check_interval(name: str, minutes: Any) -> int | None:
    """A channel's own interval (None: the default), in the range of the setting of the same name."""
    if minutes is None or minutes == "":
        return None
    try:
        return check_setting(name, minutes)
    except SettingsError as exc:
        raise ConfigError(f"channel {exc}") from None


def credential_fields(platform_type: str) -> dict[str, str]:
    """Static credential keys a channel of this platform type takes (name -> help text)."""
    return dict(adapter_class(check_type(platform_type)).credential_fields)


def required_credentials(platform: Platform, settings: Mapping[str, Any] | None,
                         credentials: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The credential keys a channel with these settings needs on this platform (name -> help text).

    Asks the adapter (channel settings over the platform's); a setting it refuses is a :class:`ConfigError`.
    """
    merged = {**settings_dict(platform.settings_json), **dict(settings or {})}
    try:
        cls = adapter_class(check_type(platform.platform_type))
        return dict(cls.required_credentials(merged, tuple(credentials or ())))
    except PlatformError as exc:
        raise ConfigError(exc.message) from None


def _check_credentials(platform_type: str, credentials: Mapping[str, Any]) -> dict[str, str]:
    if not isinstance(credentials, Mapping):
        raise ConfigError("credentials must be a JSON object of name -> value")
    allowed = credential_fields(platform_type)
    unknown = sorted(set(credentials) - set(allowed))
    if allowed and unknown:
        raise ConfigError(f"unknown credential(s) {', '.join(unknown)} for a {platform_type} channel; "
                          f"expected: {', '.join(allowed)}")
    return {str(k): ("" if v is None else str(v)) for k, v in credentials.items()}


def add_channel(session: Session, vault: Vault, *, value: str, platform: str, name: str | None = None,
                shop_id: str | None = None, credentials: Mapping[str, Any] | None = None,
                settings: Mapping[str, Any] | None = None, getorder_interval_minutes: int | None = None,
                refreshtoken_interval_minutes: int | None = None, erp_connection: str | None = None,
                **erp_mapping: Any) -> Channel:
    """Create a channel of an existing platform; credentials are stored encrypted as one JSON object."""
    value = check_value("channel", value)
    try:
        parent = get_platform(session, platform)
    except NotFound as exc:
        raise NotFound(f"cannot add channel {value!r}: {exc}") from None
    if session.scalar(select(Channel.id).where(Channel.value == value)) is not None:
        raise Duplicate(f"channel {value!r} already exists; use `channel update` to change it")
    creds = _check_credentials(parent.platform_type, credentials or {})
    _check_settings(value, parent, settings, creds)
    channel = Channel(
        value=value, name=(name or value).strip(), oms_platform_id=parent.id, shop_id=shop_id or None,
        credentials_enc=vault.encrypt(json.dumps(creds, sort_keys=True)) if creds else None,
        settings_json=settings_text(settings),
        getorder_interval_minutes=_check_interval("getorder_interval_minutes", getorder_interval_minutes),
        refreshtoken_interval_minutes=_check_interval("refreshtoken_interval_minutes", refreshtoken_interval_minutes),
        oms_erp_connection_id=_erp_connection_id(session, erp_connection),
        **_check_erp(erp_mapping),
    )
    session.add(channel)
    flush(session, f"channel {value!r}")
    session.refresh(channel)
    return channel


def _check_settings(value: str, platform: Platform, settings: Mapping[str, Any] | None,
                    credentials: Mapping[str, Any]) -> None:
    """Refuse settings the platform's adapter refuses (e.g. ``auth_model: bogus``) before anything is saved."""
    if settings is not None and not isinstance(settings, Mapping):
        return  # _settings_text says what is wrong
    try:
        required_credentials(platform, settings, credentials)
    except ConfigError as exc:
        raise ConfigError(f"channel {value}: {exc}; nothing was saved") from None


def _erp_connection_id(session: Session, value: str | None) -> int | None:
    if not value:
        return None
    conn_id = session.scalar(select(ErpConnection.id).where(ErpConnection.value == value))
    if conn_id is None:
        raise NotFound(f"no ERP connection {value!r}")
    return conn_id


def update_channel(session: Session, vault: Vault, value: str, *, name: Any = UNSET, shop_id: Any = UNSET,
                   credentials: Mapping[str, Any] | None = None, replace_credentials: bool = False,
                   settings: Any = UNSET, getorder_interval_minutes: Any = UNSET,
                   refreshtoken_interval_minutes: Any = UNSET, erp_connection: Any = UNSET,
                   platform: Any = UNSET, **erp_mapping: Any) -> Channel:
    """Change the given fields. ``credentials`` merge into the stored ones (a ``None`` value deletes a
    key) unless ``replace_credentials``; the platform can change only while the channel has no tokens."""
    channel = get_channel(session, value)
    if name is not UNSET:
        if not name:
            raise ConfigError("a channel name cannot be empty")
        channel.name = name
    if platform is not UNSET:
        target = get_platform(session, platform)
        if target.id != channel.oms_platform_id and (channel.access_token_enc or channel.refresh_token_enc):
            raise ConfigError(f"channel {value!r} is authorized on its platform; remove it and add it again to move it")
        channel.oms_platform_id = target.id
        session.flush()
        session.refresh(channel)
    if shop_id is not UNSET:
        channel.shop_id = shop_id or None
    if credentials is not None or replace_credentials:
        current = {} if replace_credentials else decrypt_channel_credentials(vault, channel)
        for key, val in (credentials or {}).items():
            if val is None:
                current.pop(key, None)
            else:
                current[key] = val
        creds = _check_credentials(channel.platform.platform_type, current)
        channel.credentials_enc = vault.encrypt(json.dumps(creds, sort_keys=True)) if creds else None
    if settings is not UNSET:
        channel.settings_json = settings_text(settings)
    if getorder_interval_minutes is not UNSET:
        channel.getorder_interval_minutes = _check_interval("getorder_interval_minutes", getorder_interval_minutes)
    if refreshtoken_interval_minutes is not UNSET:
        channel.refreshtoken_interval_minutes = _check_interval("refreshtoken_interval_minutes",
                                                                refreshtoken_interval_minutes)
    if erp_connection is not UNSET:
        channel.oms_erp_connection_id = _erp_connection_id(session, erp_connection)
    for key, val in _check_erp(erp_mapping).items():
        setattr(channel, key, val)
    if settings is not UNSET or platform is not UNSET:
        _check_settings(value, channel.platform, settings_dict(channel.settings_json),
                        decrypt_channel_credentials(vault, channel))
    flush(session, f"channel {value!r}")
    return channel


def set_channel_active(session: Session, value: str, active: bool) -> Channel:
    """Enable or disable a channel (a disabled channel runs no process; its data stays)."""
    channel = get_channel(session, value)
    channel.isactive = active
    session.flush()
    return channel


def remove_channel(session: Session, value: str) -> None:
    """Delete a channel that has no orders yet (otherwise: disable it, history stays)."""
    channel = get_channel(session, value)
    orders = session.scalar(select(func.count()).select_from(Order).where(Order.oms_channel_id == channel.id))
    if orders:
        raise ConfigError(f"channel {value!r} has {orders} stored order(s); disable it instead "
                          f"(`oms-bridge channel disable {value}`) so its history stays")
    session.delete(channel)
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise ConfigError(f"channel {value!r} is still referenced by other records; disable it instead") from exc


def decrypt_channel_credentials(vault: Vault, channel: Channel) -> dict[str, str]:
    """The channel's static credentials in clear; DecryptionFailed names the channel."""
    what = f"channel {channel.value!r} credentials"
    text = vault.decrypt(channel.credentials_enc, what=what)
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        raise DecryptionFailed(f"{what} are not a JSON object; set them again with `channel update`") from None
    if not isinstance(data, dict):
        raise DecryptionFailed(f"{what} are not a JSON object; set them again with `channel update`")
    return data


def channel_view(channel: Channel, vault: Vault | None = None) -> dict[str, Any]:
    """A plain dict for output: auth state, token expiries, watermark, ERP mapping; secrets masked."""
    label = f"channel {channel.value!r}"
    platform = channel.platform
    if vault is not None:
        creds = {k: mask(v) for k, v in sorted(decrypt_channel_credentials(vault, channel).items())}
    else:
        creds = {"(encrypted)": "****"} if channel.credentials_enc else {}
    try:
        declared = list(required_credentials(platform, settings_dict(channel.settings_json), creds))
    except ConfigError:
        try:  # settings the adapter refuses (stored before they were checked): every declared key
            declared = list(credential_fields(platform.platform_type))
        except ConfigError:
            declared = []
    return {
        "value": channel.value,
        "name": channel.name,
        "platform": platform.value,
        "platform_type": platform.platform_type,
        "shop_id": channel.shop_id,
        "active": bool(channel.isactive),
        "credentials": creds,
        "credentials_missing": [k for k in declared if k not in creds] if vault is not None else [],
        "settings": settings_dict(channel.settings_json),
        "auth_state": channel.auth_state,
        "auth_message": channel.auth_message,
        "authorized_at": channel.authorized_at,
        "auth_expires_at": channel.auth_expires_at,
        "access_token": masked(vault, channel.access_token_enc, f"{label} access token"),
        "access_expires_at": channel.access_expires_at,
        "refresh_token": masked(vault, channel.refresh_token_enc, f"{label} refresh token"),
        "refresh_expires_at": channel.refresh_expires_at,
        "token_version": channel.token_version,
        "order_watermark": channel.order_watermark,
        "getorder_interval_minutes": channel.getorder_interval_minutes,
        "refreshtoken_interval_minutes": channel.refreshtoken_interval_minutes,
        "erp_connection_id": channel.oms_erp_connection_id,
        "erp": {key: getattr(channel, key) for key in ERP_FIELDS},
        "created": channel.created,
        "updated": channel.updated,
    }
