"""The list-only pass on every platform, over real HTTP: it lists what GetOrder reads and sends no detail call,
and the sandbox's detail counter does see one when an order is read by number (so "0" proves something)."""

from __future__ import annotations

import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from channels.backfill import taipei_day_start
from channels.binding import adapter_for
from oms_bridge.reconcile.run import _cuts, _locate
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, utcnow
from oms_bridge.vault import Vault
from platforms.base import OrderRef

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


def test_time_less_orders_are_placed_by_day_and_lag_windows() -> None:
    """The windows cut at each Taipei midnight and at the lag; an order no window lists any more changed after
    the listing's end (inside the lag)."""
    now = datetime(2026, 3, 16, 4, 0, tzinfo=UTC)  # 12:00 Taipei
    start, lag = taipei_day_start(date(2026, 3, 14)), now - timedelta(minutes=60)
    windows = _cuts(start, lag, now)
    assert windows == [(start, taipei_day_start(date(2026, 3, 15))),
                       (taipei_day_start(date(2026, 3, 15)), taipei_day_start(date(2026, 3, 16))),
                       (taipei_day_start(date(2026, 3, 16)), lag), (lag, now)]
    assert _cuts(start, start - timedelta(hours=1), now)[-1] == (taipei_day_start(date(2026, 3, 16)), now)

    class Listing:  # what each window lists: A on the 15th, B changed inside the lag, C in no window any more
        def list_orders(self, since, until):
            listed = {windows[1]: ["A", "X"], windows[3]: ["B"]}
            return [OrderRef(n) for n in listed.get((since, until), [])]

    assert _locate(Listing(), {"A", "B", "C"}, windows) == {"A": windows[1], "B": windows[3], "C": (now, now)}
