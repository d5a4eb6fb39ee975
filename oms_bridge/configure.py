"""Configuration services: platforms and channels, added, changed, listed and removed.

The CLI (``oms-bridge platform|channel ...``) and the web admin are thin layers over these
functions, so both validate and mask the same way. Every function works inside the caller's
session (the caller commits) and raises :class:`ConfigError` with a message meant for the admin.
Secrets are encrypted with the vault before they touch the session; views never show them in
clear (:func:`oms_bridge.vault.mask`).

Example::

    with session_scope(settings) as s:
        vault = Vault.from_settings(settings)
        add_platform(s, vault, value="shopee-tw", platform_type="shopee", host="https://partner.shopeemobile.com",
                     app_id="2001234", app_secret="...")
        add_channel(s, vault, value="shop-a", platform="shopee-tw", shop_id="123456", erp_org_id=11)
        print(channel_view(get_channel(s, "shop-a"), vault))

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
import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.settings import SettingsError, check_setting
from oms_bridge.store.models import Channel, ErpConnection, Order, Platform
from oms_bridge.vault import DecryptionFailed, Vault, mask
from platforms.base import PlatformError
from platforms.registry import UnknownPlatform, adapter_class, platform_types

__all__ = [
    "ConfigError", "NotFound", "Duplicate", "ERP_FIELDS", "BP_IDENTIFIERS", "UNSET",
    "add_platform", "update_platform", "remove_platform", "get_platform", "list_platforms", "platform_view",
    "add_channel", "update_channel", "set_channel_active", "remove_channel", "get_channel", "list_channels",
    "channel_view", "credential_fields", "required_credentials", "decrypt_channel_credentials",
    "decrypt_platform_secret",
]


class ConfigError(ValueError):
    """Invalid configuration input; the message says what to fix."""


class NotFound(ConfigError):
    """The named platform/channel does not exist."""


class Duplicate(ConfigError):
    """The value is already taken."""


class _Unset:
    def __repr__(self) -> str:
        return "UNSET"


#: Marks "leave unchanged" in update functions (``None`` means "clear").
UNSET: Any = _Unset()

#: ERP mapping columns of ``oms_channel`` an admin may set (iDempiere ids unless noted).
ERP_FIELDS: dict[str, type] = {
    "erp_org_id": int, "erp_warehouse_id": int, "erp_doctype_id": int, "erp_pricelist_id": int,
    "erp_bpartner_id": int, "erp_ordersource_id": int, "erp_payment_rule": str, "erp_shipping_charge_id": int,
    "erp_discount_charge_id": int, "erp_bp_identifier": str, "oms_channel_code": str,
}
#: How a buyer becomes an ERP business partner.
BP_IDENTIFIERS = ("email", "phone", "buyer_id", "default")
_VALUE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,59}$")


# ------------------------------------------------------------------------------------ validation
def _check_value(kind: str, value: str) -> str:
    value = (value or "").strip()
    if not _VALUE_RE.match(value):
        raise ConfigError(f"{kind} value {value!r} is invalid: use 1-60 letters, digits, '.', '_' or '-' "
                          "(starting with a letter or digit)")
    return value


def _check_type(platform_type: str) -> str:
    try:
        adapter_class(platform_type)
    except UnknownPlatform:
        raise ConfigError(f"unknown platform type {platform_type!r}; known types: {', '.join(platform_types())}") \
            from None
    return platform_type


def _check_host(host: str) -> str:
    host = (host or "").strip().rstrip("/")
    parsed = urlparse(host)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ConfigError(f"host {host!r} is not an http(s) URL, e.g. https://partner.shopeemobile.com")
    return host


def _settings_text(settings: Mapping[str, Any] | None) -> str | None:
    if settings is None:
        return None
    if not isinstance(settings, Mapping):
        raise ConfigError("settings must be a JSON object (key/value pairs)")
    try:
        return json.dumps(dict(settings), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"settings are not JSON-serialisable: {exc}") from None


def _settings_dict(text: str | None) -> dict[str, Any]:
    if not text:
        return {}
    try:
        data = json.loads(text)
    except ValueError:
        return {"_invalid_json": text[:80]}
    return data if isinstance(data, dict) else {"_value": data}


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
    return dict(adapter_class(_check_type(platform_type)).credential_fields)


def required_credentials(platform: Platform, settings: Mapping[str, Any] | None,
                         credentials: Mapping[str, Any] | None = None) -> dict[str, str]:
    """The credential keys a channel with these settings needs on this platform (name -> help text).

    Asks the adapter (channel settings over the platform's); a setting it refuses is a :class:`ConfigError`.
    """
    merged = {**_settings_dict(platform.settings_json), **dict(settings or {})}
    try:
        cls = adapter_class(_check_type(platform.platform_type))
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


def _flush(session: Session, what: str) -> None:
    try:
        session.flush()
    except IntegrityError as exc:
        session.rollback()
        raise Duplicate(f"{what} already exists") from exc


# -------------------------------------------------------------------------------------- lookups
def get_platform(session: Session, value: str) -> Platform:
    """The platform by its value, or :class:`NotFound` naming the known ones."""
    platform = session.scalar(select(Platform).where(Platform.value == value))
    if platform is None:
        known = session.scalars(select(Platform.value).order_by(Platform.value)).all()
        raise NotFound(f"no platform {value!r}" + (f"; known platforms: {', '.join(known)}" if known else
                                                   "; add one with `oms-bridge platform add`"))
    return platform


def get_channel(session: Session, value: str) -> Channel:
    """The channel by its value, or :class:`NotFound`."""
    channel = session.scalar(select(Channel).where(Channel.value == value))
    if channel is None:
        known = session.scalars(select(Channel.value).order_by(Channel.value)).all()
        raise NotFound(f"no channel {value!r}" + (f"; known channels: {', '.join(known)}" if known else ""))
    return channel


def list_platforms(session: Session) -> list[Platform]:
    return list(session.scalars(select(Platform).order_by(Platform.value)))


def list_channels(session: Session, platform: str | None = None) -> list[Channel]:
    stmt = select(Channel).order_by(Channel.value)
    if platform:
        stmt = stmt.where(Channel.oms_platform_id == get_platform(session, platform).id)
    return list(session.scalars(stmt))


# ------------------------------------------------------------------------------------ platforms
def add_platform(session: Session, vault: Vault, *, value: str, platform_type: str, host: str,
                 name: str | None = None, app_id: str | None = None, app_secret: str | None = None,
                 description: str | None = None, settings: Mapping[str, Any] | None = None) -> Platform:
    """Create a platform (marketplace app); the secret is stored encrypted."""
    value = _check_value("platform", value)
    platform_type = _check_type(platform_type)
    if session.scalar(select(Platform.id).where(Platform.value == value)) is not None:
        raise Duplicate(f"platform {value!r} already exists; use `platform update` to change it")
    platform = Platform(value=value, name=(name or value).strip(), platform_type=platform_type,
                        host=_check_host(host), app_id=(app_id or None), description=description,
                        app_secret_enc=vault.encrypt(app_secret or None), settings_json=_settings_text(settings))
    session.add(platform)
    _flush(session, f"platform {value!r}")
    return platform


def update_platform(session: Session, vault: Vault, value: str, *, name: Any = UNSET, host: Any = UNSET,
                    app_id: Any = UNSET, app_secret: Any = UNSET, description: Any = UNSET,
                    settings: Any = UNSET, platform_type: Any = UNSET) -> Platform:
    """Change the given fields (``UNSET`` keeps a field; ``None`` clears an optional one)."""
    platform = get_platform(session, value)
    if name is not UNSET:
        if not name:
            raise ConfigError("a platform name cannot be empty")
        platform.name = name
    if platform_type is not UNSET and platform_type != platform.platform_type:
        _check_type(platform_type)
        if platform.channels:
            names = ", ".join(sorted(c.value for c in platform.channels))
            raise ConfigError(f"platform {value!r} has channel(s) {names}; its type cannot change under them "
                              "(their credentials and tokens belong to the "
                              f"{platform.platform_type} API)")
        platform.platform_type = platform_type
    if host is not UNSET:
        platform.host = _check_host(host)
    if app_id is not UNSET:
        platform.app_id = app_id or None
    if app_secret is not UNSET:
        platform.app_secret_enc = vault.encrypt(app_secret or None)
    if description is not UNSET:
        platform.description = description or None
    if settings is not UNSET:
        platform.settings_json = _settings_text(settings)
    _flush(session, f"platform {value!r}")
    return platform


def remove_platform(session: Session, value: str, *, cascade: bool = False) -> list[str]:
    """Delete a platform; with ``cascade`` its channels too. Returns the removed channel values."""
    platform = get_platform(session, value)
    channels = list(session.scalars(select(Channel).where(Channel.oms_platform_id == platform.id)
                                    .order_by(Channel.value)))
    if channels and not cascade:
        raise ConfigError(f"platform {value!r} still has channel(s) {', '.join(c.value for c in channels)}; "
                          "remove them first or pass --cascade")
    removed = []
    for channel in channels:
        remove_channel(session, channel.value)
        removed.append(channel.value)
    session.delete(platform)
    session.flush()
    return removed


def decrypt_platform_secret(vault: Vault, platform: Platform) -> str | None:
    """The app secret in clear (for the adapter only); DecryptionFailed names the platform."""
    return vault.decrypt(platform.app_secret_enc, what=f"platform {platform.value!r} app secret")


def platform_view(platform: Platform, vault: Vault | None = None) -> dict[str, Any]:
    """A plain dict for output: the secret masked (last 4 characters only when a vault is given)."""
    return {
        "value": platform.value,
        "name": platform.name,
        "type": platform.platform_type,
        "host": platform.host,
        "app_id": platform.app_id,
        "app_secret": _masked(vault, platform.app_secret_enc, f"platform {platform.value!r} app secret"),
        "description": platform.description,
        "settings": _settings_dict(platform.settings_json),
        "active": bool(platform.isactive),
        "channels": sorted(c.value for c in platform.channels),
        "created": platform.created,
        "updated": platform.updated,
    }


def _masked(vault: Vault | None, token: str | None, what: str) -> str:
    if not token:
        return ""
    if vault is None:
        return "****"
    return mask(vault.decrypt(token, what=what))


# ------------------------------------------------------------------------------------- channels
def add_channel(session: Session, vault: Vault, *, value: str, platform: str, name: str | None = None,
                shop_id: str | None = None, credentials: Mapping[str, Any] | None = None,
                settings: Mapping[str, Any] | None = None, getorder_interval_minutes: int | None = None,
                refreshtoken_interval_minutes: int | None = None, erp_connection: str | None = None,
                **erp_mapping: Any) -> Channel:
    """Create a channel of an existing platform; credentials are stored encrypted as one JSON object."""
    value = _check_value("channel", value)
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
        settings_json=_settings_text(settings),
        getorder_interval_minutes=_check_interval("getorder_interval_minutes", getorder_interval_minutes),
        refreshtoken_interval_minutes=_check_interval("refreshtoken_interval_minutes", refreshtoken_interval_minutes),
        oms_erp_connection_id=_erp_connection_id(session, erp_connection),
        **_check_erp(erp_mapping),
    )
    session.add(channel)
    _flush(session, f"channel {value!r}")
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
        channel.settings_json = _settings_text(settings)
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
        _check_settings(value, channel.platform, _settings_dict(channel.settings_json),
                        decrypt_channel_credentials(vault, channel))
    _flush(session, f"channel {value!r}")
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
        declared = list(required_credentials(platform, _settings_dict(channel.settings_json), creds))
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
        "settings": _settings_dict(channel.settings_json),
        "auth_state": channel.auth_state,
        "auth_message": channel.auth_message,
        "authorized_at": channel.authorized_at,
        "auth_expires_at": channel.auth_expires_at,
        "access_token": _masked(vault, channel.access_token_enc, f"{label} access token"),
        "access_expires_at": channel.access_expires_at,
        "refresh_token": _masked(vault, channel.refresh_token_enc, f"{label} refresh token"),
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
