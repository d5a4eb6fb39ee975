"""Platforms (one marketplace app: type, host, app id and encrypted secret) added, changed and removed.

Choices where nothing is specified: a platform's type cannot change under its channels (their credentials
and tokens belong to that API); removing a platform that still has channels needs ``cascade``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.configure.channels import remove_channel
from oms_bridge.configure.checks import (
    UNSET,
    ConfigError,
    Duplicate,
    check_host,
    check_type,
    check_value,
    flush,
    masked,
    settings_dict,
    settings_text,
)
from oms_bridge.configure.lookups import get_platform
from oms_bridge.store.models import Channel, Platform
from oms_bridge.vault import Vault

__all__ = ["add_platform", "update_platform", "remove_platform", "decrypt_platform_secret", "platform_view"]


def add_platform(session: Session, vault: Vault, *, value: str, platform_type: str, host: str,
                 name: str | None = None, app_id: str | None = None, app_secret: str | None = None,
                 description: str | None = None, settings: Mapping[str, Any] | None = None) -> Platform:
    """Create a platform (marketplace app); the secret is stored encrypted."""
    value = check_value("platform", value)
    platform_type = check_type(platform_type)
    if session.scalar(select(Platform.id).where(Platform.value == value)) is not None:
        raise Duplicate(f"platform {value!r} already exists; use `platform update` to change it")
    platform = Platform(value=value, name=(name or value).strip(), platform_type=platform_type,
                        host=check_host(host), app_id=(app_id or None), description=description,
                        app_secret_enc=vault.encrypt(app_secret or None), settings_json=settings_text(settings))
    session.add(platform)
    flush(session, f"platform {value!r}")
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
        check_type(platform_type)
        if platform.channels:
            names = ", ".join(sorted(c.value for c in platform.channels))
            raise ConfigError(f"platform {value!r} has channel(s) {names}; its type cannot change under them "
                              "(their credentials and tokens belong to the "
                              f"{platform.platform_type} API)")
        platform.platform_type = platform_type
    if host is not UNSET:
        platform.host = check_host(host)
    if app_id is not UNSET:
        platform.app_id = app_id or None
    if app_secret is not UNSET:
        platform.app_secret_enc = vault.encrypt(app_secret or None)
    if description is not UNSET:
        platform.description = description or None
    if settings is not UNSET:
        platform.settings_json = settings_text(settings)
    flush(session, f"platform {value!r}")
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
        "app_secret": masked(vault, platform.app_secret_enc, f"platform {platform.value!r} app secret"),
        "description": platform.description,
        "settings": settings_dict(platform.settings_json),
        "active": bool(platform.isactive),
        "channels": sorted(c.value for c in platform.channels),
        "created": platform.created,
        "updated": platform.updated,
    }
