"""OMS destination commands: oms settings, rotate-token, carriers."""

from __future__ import annotations

import click


@click.group("oms")
def oms_group() -> None:
    """The OMS (Akinon-style) destination."""
