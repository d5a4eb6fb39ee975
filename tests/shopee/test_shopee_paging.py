"""Paging edges, window splitting and boundaries over real HTTP: each order exactly once, minimal calls."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from platforms.shopee.adapter import window_bounds


@pytest.mark.parametrize("count", [0, 1, 100, 101])
def test_shopee_paging_edges(sandbox, shop, adapter, count):
    now = sandbox.clock.now()
    sns = sandbox.generate_orders(shop["shop_id"], count, start=now - timedelta(days=2), end=now)
    sandbox.reset_calls()
    orders = list(adapter.fetch_orders(now - timedelta(days=2), now))
    ids = [o.external_id for o in orders]
    assert sorted(ids) == sorted(sns) and len(set(ids)) == count
    processed = sum(sandbox.order(shop["shop_id"], sn)["order_status"] == "PROCESSED" for sn in sns)
    assert sandbox.calls("get_order_list") == max(1, math.ceil(count / 100))
    assert sandbox.calls("get_order_detail") == math.ceil(count / 50)
    assert sandbox.calls("get_mass_tracking_number") == math.ceil(processed / 50)  # tracking numbers, 50 a call
    assert adapter.api_calls == max(1, math.ceil(count / 100)) + math.ceil(count / 50) + math.ceil(processed / 50)


def test_shopee_small_pages_follow_cursor(sandbox, shop, make_adapter):
    adapter = make_adapter(page_size=7, detail_batch=3)
    now = sandbox.clock.now()
    sns = sandbox.generate_orders(shop["shop_id"], 20)
    orders = list(adapter.fetch_orders(now - timedelta(days=2), now))
    assert sorted(o.external_id for o in orders) == sorted(sns)
    assert sandbox.calls("get_order_list") == 3  # 7 + 7 + 6
    assert sandbox.calls("get_order_detail") == 7  # 20 in batches of 3, read after the listing


def test_shopee_range_over_15_days_is_split_without_error(sandbox, shop, adapter):
    now = sandbox.clock.now()
    start = now - timedelta(days=40)
    sns = sandbox.generate_orders(shop["shop_id"], 80, start=start, end=now)
    sandbox.reset_calls()
    orders = list(adapter.fetch_orders(start, now))
    assert sorted(o.external_id for o in orders) == sorted(sns)
    assert sandbox.calls("get_order_list") == 3  # 15 + 15 + 10 days, each under 100 orders


def test_shopee_order_on_window_boundary_appears_once(sandbox, shop, adapter):
    now = sandbox.clock.now()
    since = now - timedelta(days=20)
    boundary = since + timedelta(days=15)
    sns = sandbox.generate_orders(shop["shop_id"], 4, start=since, end=now)
    sandbox.update_order(shop["shop_id"], sns[0], update_time=boundary)
    sandbox.update_order(shop["shop_id"], sns[1], update_time=boundary - timedelta(seconds=1))
    sandbox.update_order(shop["shop_id"], sns[2], update_time=since)  # included: [since, until)
    sandbox.update_order(shop["shop_id"], sns[3], update_time=now)  # excluded: until is open
    ids = [o.external_id for o in adapter.fetch_orders(since, now)]
    assert sorted(ids) == sorted(sns[:3])
    later = [o.external_id for o in adapter.fetch_orders(now, now + timedelta(minutes=1))]
    assert later == [sns[3]]


def test_shopee_window_bounds_are_disjoint_and_cover_the_range():
    since = datetime(2026, 1, 1, 0, 0, 0, 500000, tzinfo=UTC)
    until = datetime(2026, 2, 20, 12, 0, 0, tzinfo=UTC)
    windows = list(window_bounds(since, until))
    assert windows[0][0] == int(since.timestamp()) and windows[-1][1] == int(until.timestamp()) - 1
    for (_a_from, a_to), (b_from, _b_to) in zip(windows, windows[1:], strict=False):
        assert b_from == a_to + 1
    assert all(t - f <= 15 * 86400 for f, t in windows)
    assert list(window_bounds(until, until)) == []
    assert len(list(window_bounds(since, until, window_days=1))) == 51


@pytest.mark.parametrize(("name", "value"), [("page_size", 101), ("page_size", "lots"), ("detail_batch", 0),
                                             ("window_days", 16)])
def test_shopee_bad_settings_say_which_and_why(sandbox, make_adapter, name, value):
    from platforms.base import PermanentError

    adapter = make_adapter(**{name: value})
    now = sandbox.clock.now()
    sandbox.generate_orders(adapter.channel.shop_id, 1)
    with pytest.raises(PermanentError, match=f"Shopee setting {name} must be a number"):
        list(adapter.fetch_orders(now - timedelta(days=1), now))
