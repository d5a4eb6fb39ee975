"""GetOrder / RefreshToken commands: channel authorize, process run/runs, orders list/show/backfill."""

from __future__ import annotations

import click


@click.command("authorize")
@click.argument("name")
def authorize_command(name: str) -> None:
    """Authorize a channel (OAuth URL) or check its credentials."""


@click.group("process")
def process_group() -> None:
    """Run and inspect the GetOrder / RefreshToken processes."""


@click.group("orders")
def orders_group() -> None:
    """Orders in the bridge's store."""
