"""Foundation commands: init, db, keys, platform, channel (placeholder until built)."""

from __future__ import annotations

import click


@click.command("init")
def init_command() -> None:
    """Create the data directory, key file and schema (safe to run twice)."""


@click.group("db")
def db_group() -> None:
    """Schema versions (Alembic)."""


@click.group("keys")
def keys_group() -> None:
    """Encryption keys."""


@click.group("platform")
def platform_group() -> None:
    """Marketplace apps (oms_platform)."""


@click.group("channel")
def channel_group() -> None:
    """Store accounts (oms_channel)."""
