"""Shopee adapter (placeholder until the Shopee issue lands: every call says it is not built yet)."""

from __future__ import annotations

from platforms.base import Adapter, NotSupported


class ShopeeAdapter(Adapter):
    platform_type = "shopee"
    display_name = "Shopee"

    def check_credentials(self) -> str:
        raise NotSupported("Shopee adapter is not implemented yet", platform=self.platform_type)

    def fetch_orders(self, since, until):
        raise NotSupported("Shopee adapter is not implemented yet", platform=self.platform_type)

    def get_orders(self, external_ids):
        raise NotSupported("Shopee adapter is not implemented yet", platform=self.platform_type)

    def ship(self, order, shipment):
        raise NotSupported("Shopee adapter is not implemented yet", platform=self.platform_type)
