"""ERP destination commands: erp check/retry/connection, sku map/unmap/list/import."""

from __future__ import annotations

import click


@click.group("erp")
def erp_group() -> None:
    """The iDempiere destination."""


@click.group("sku")
def sku_group() -> None:
    """Marketplace SKU → iDempiere product mappings."""
