"""A store wired to the momo sandbox: many momo channels with orders waiting, for the scheduler's tests and
``benchmarks/bench_scale.py`` (one place, so both set channels up the way an admin would)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channels.authorization import check_credentials
from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.vault import Vault
from sandboxes.momo import MomoSandbox

__all__ = ["add_momo_channels", "generate_orders"]


def add_momo_channels(settings: Settings, sandbox: MomoSandbox, count: int, orders: int, *,
                      window: timedelta = timedelta(minutes=8)) -> dict[str, str]:
    """``count`` channels ``momo-1`` … on one momo platform (credential login, GetOrder every minute), each
    checked against the sandbox so it is active, and ``orders`` orders per shop placed within the last
    ``window``; returns channel value → shop id."""
    vault = Vault.from_settings(settings)
    shops = {}
    with session_scope(settings) as s:
        add_platform(s, vault, value="momo-app", platform_type="momo", host=sandbox.base_url)
        for i in range(1, count + 1):
            shop = sandbox.add_shop()
            add_channel(s, vault, value=f"momo-{i}", platform="momo-app", shop_id=shop["shop_id"],
                        credentials=shop["credentials"], getorder_interval_minutes=1)
            shops[f"momo-{i}"] = shop["shop_id"]
    for value, shop_id in shops.items():
        ok, message = check_credentials(value, settings=settings)
        assert ok, message
        generate_orders(sandbox, shop_id, orders, window=window)
    return shops


def generate_orders(sandbox: MomoSandbox, shop_id: str, count: int, *, window: timedelta = timedelta(minutes=8)
                    ) -> None:
    """``count`` new orders in the shop, placed within the last ``window`` (the newest a minute ago)."""
    now = datetime.now(UTC)
    sandbox.generate_orders(shop_id, count, start=now - window, end=now - timedelta(minutes=1))
