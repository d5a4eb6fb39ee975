"""The list-only pass on every platform, over real HTTP: it lists what GetOrder reads and sends no detail call,
and the sandbox's detail counter does see one when an order is read by number (so "0" proves something)."""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest

from channels.binding import adapter_for
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, utcnow
from oms_bridge.vault import Vault

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "channels"))
from channels_kit import FAST, SANDBOXES, bind  # noqa: E402 - the channel tests' kit


@pytest.mark.parametrize("sandbox_cls", SANDBOXES, ids=lambda cls: cls.platform_type)
def test_listing_reads_no_order_by_number_and_the_counter_would_see_one(sqlite_settings, sandbox_cls) -> None:
    with sandbox_cls() as sandbox:
        bound = bind(sqlite_settings, sandbox)
        now = utcnow()
        numbers = sandbox.generate_orders(bound.shop_id, 3, start=now - timedelta(hours=5),
                                          end=now - timedelta(hours=1), status="paid")
        with session_scope(sqlite_settings, readonly=True) as s:
            adapter = adapter_for(s.get(Channel, bound.channel_id), Vault.from_settings(sqlite_settings),
                                  policy=FAST, session=s)
        sandbox.reset_calls()
        refs = list(adapter.list_orders(now - timedelta(days=1), now))
        assert sorted(r.external_id for r in refs) == sorted(numbers)
        assert sandbox.calls() > 0 and sandbox.detail_calls() == 0
        adapter.get_orders(numbers[:1])
        assert sandbox.detail_calls() >= 1
