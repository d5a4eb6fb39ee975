"""Momo adapter (placeholder until the Momo issue lands: every call says it is not built yet)."""

from __future__ import annotations

from platforms.base import Adapter, NotSupported


class MomoAdapter(Adapter):
    platform_type = "momo"
    display_name = "Momo"

    def check_credentials(self) -> str:
        raise NotSupported("Momo adapter is not implemented yet", platform=self.platform_type)

    def fetch_orders(self, since, until):
        raise NotSupported("Momo adapter is not implemented yet", platform=self.platform_type)

    def get_orders(self, external_ids):
        raise NotSupported("Momo adapter is not implemented yet", platform=self.platform_type)

    def ship(self, order, shipment):
        raise NotSupported("Momo adapter is not implemented yet", platform=self.platform_type)
