"""Shopline adapter (placeholder until the Shopline issue lands: every call says it is not built yet)."""

from __future__ import annotations

from platforms.base import Adapter, NotSupported


class ShoplineAdapter(Adapter):
    platform_type = "shopline"
    display_name = "Shopline"

    def check_credentials(self) -> str:
        raise NotSupported("Shopline adapter is not implemented yet", platform=self.platform_type)

    def fetch_orders(self, since, until):
        raise NotSupported("Shopline adapter is not implemented yet", platform=self.platform_type)

    def get_orders(self, external_ids):
        raise NotSupported("Shopline adapter is not implemented yet", platform=self.platform_type)

    def ship(self, order, shipment):
        raise NotSupported("Shopline adapter is not implemented yet", platform=self.platform_type)
