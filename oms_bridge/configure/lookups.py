"""Finding a platform or a channel by its value, or a :class:`NotFound` that names the known ones."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.configure.checks import NotFound
from oms_bridge.store.models import Channel, Platform

__all__ = ["get_platform", "get_channel", "list_platforms", "list_channels"]


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
