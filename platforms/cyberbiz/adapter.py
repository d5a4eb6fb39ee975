"""Cyberbiz adapter (placeholder until the Cyberbiz issue lands: every call says it is not built yet)."""

from __future__ import annotations

from platforms.base import Adapter, NotSupported


class CyberbizAdapter(Adapter):
    platform_type = "cyberbiz"
    display_name = "Cyberbiz"

    def check_credentials(self) -> str:
        raise NotSupported("Cyberbiz adapter is not implemented yet", platform=self.platform_type)

    def fetch_orders(self, since, until):
        raise NotSupported("Cyberbiz adapter is not implemented yet", platform=self.platform_type)

    def get_orders(self, external_ids):
        raise NotSupported("Cyberbiz adapter is not implemented yet", platform=self.platform_type)

    def ship(self, order, shipment):
        raise NotSupported("Cyberbiz adapter is not implemented yet", platform=self.platform_type)
