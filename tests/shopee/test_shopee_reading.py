"""Reading a Shopee window never loses or doubles an order, even when orders change while its pages are read.

The sandbox pages by offset under an opaque cursor, as Shopee does (contract-evidence.md): an order updated
after its page was read leaves the window and shifts every later order one place up. ``on_list_page`` makes
that change between two real HTTP pages, exactly where a buyer's or Shopee's change would land.
"""

from __future__ import annotations

import math
from datetime import timedelta
from itertools import pairwise

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from platforms.base import Order, OrderRef, TransientError, UnmappableOrder
from platforms.shopee.listing import _parts


def _range(sandbox, days: int = 2):
    now = sandbox.clock.now()
    return now - timedelta(days=days), now


def _change_on_pages(sandbox, shop_id: str, *, pages: set[int], pick=lambda page: page[0]):
    """Update one order of the page just read, after list calls number ``pages`` (1 = the first)."""
    seen = {"calls": 0, "changed": []}

    def hook(_shop: int, _cursor: str, page: list[str]) -> None:
        seen["calls"] += 1
        if seen["calls"] in pages and page:
            sn = pick(page)
            sandbox.update_order(shop_id, sn, note=f"changed after list call {seen['calls']}")
            seen["changed"].append(sn)

    sandbox.on_list_page(hook)
    return seen


def test_shopee_order_changed_while_pages_are_read_is_not_lost(sandbox, shop, adapter):
    """Issue 13 defect 1: 1,000 orders, one of page 1 changes after page 1 is read: all 1,000 come back."""
    since, until = _range(sandbox)
    sns = sandbox.generate_orders(shop["shop_id"], 1000, start=until - timedelta(days=1),
                                  end=until - timedelta(hours=1))
    seen = _change_on_pages(sandbox, shop["shop_id"], pages={1})
    sandbox.reset_calls()
    items = list(adapter.fetch_orders(since, until))
    ids = [o.external_id for o in items]
    assert len(seen["changed"]) == 1
    assert set(ids) == set(sns), f"lost: {sorted(set(sns) - set(ids))}"
    assert len(ids) == len(set(ids)) == 1000  # nothing doubled either
    assert all(isinstance(o, Order) for o in items)
    # the floor (10 list + 20 detail) plus the proof: the window re-listed in halves once an order had moved
    assert sandbox.calls("get_order_detail") == 20 + 1  # the order the first pass missed, read on its own
    assert 10 < sandbox.calls("get_order_list") <= 10 + 2 * 10 + 4


def test_shopee_quiet_window_costs_the_floor(sandbox, shop, adapter):
    since, until = _range(sandbox)
    sns = sandbox.generate_orders(shop["shop_id"], 1000, start=until - timedelta(days=1),
                                  end=until - timedelta(hours=1), status="READY_TO_SHIP")
    sandbox.reset_calls()
    assert sorted(o.external_id for o in adapter.fetch_orders(since, until)) == sorted(sns)
    assert (sandbox.calls("get_order_list"), sandbox.calls("get_order_detail")) == (10, 20)
    assert sandbox.calls() == 30


def test_shopee_busy_listing_still_reads_every_order_once(sandbox, shop, make_adapter):
    """An order changes after every one of the first 25 list calls: halves shrink until they prove out."""
    adapter = make_adapter(page_size=20)
    since, until = _range(sandbox)
    sns = sandbox.generate_orders(shop["shop_id"], 300, start=until - timedelta(days=1),
                                  end=until - timedelta(hours=1))
    seen = _change_on_pages(sandbox, shop["shop_id"], pages=set(range(1, 26)))
    ids = [o.external_id for o in adapter.fetch_orders(since, until)]
    assert len(seen["changed"]) >= 20  # (a list call of an empty half changes nothing)
    assert set(ids) == set(sns) and len(ids) == len(set(ids))


def test_shopee_one_page_window_is_complete_without_a_second_pass(sandbox, shop, adapter):
    """A single page is one consistent answer: a change after it needs no proof and costs nothing."""
    since, until = _range(sandbox)
    sns = sandbox.generate_orders(shop["shop_id"], 80, start=until - timedelta(days=1), end=until - timedelta(hours=1),
                                  status="READY_TO_SHIP")
    _change_on_pages(sandbox, shop["shop_id"], pages={1})
    sandbox.reset_calls()
    assert sorted(o.external_id for o in adapter.fetch_orders(since, until)) == sorted(sns)
    assert (sandbox.calls("get_order_list"), sandbox.calls("get_order_detail")) == (1, 2)


def test_shopee_one_second_that_keeps_changing_fails_the_run_rather_than_claim_it_complete(sandbox, shop,
                                                                                           make_adapter):
    adapter = make_adapter(page_size=50, max_list_passes=3)
    since, until = _range(sandbox)
    second = until - timedelta(hours=2)
    sandbox.generate_orders(shop["shop_id"], 200, start=second, end=second + timedelta(seconds=1))
    _change_on_pages(sandbox, shop["shop_id"], pages=set(range(1, 1000)), pick=lambda page: page[-1])
    with pytest.raises(TransientError, match="kept changing"):
        list(adapter.fetch_orders(since, until))


def test_shopee_list_orders_is_complete_without_detail_calls(sandbox, shop, adapter):
    since, until = _range(sandbox)
    sns = sandbox.generate_orders(shop["shop_id"], 450, start=until - timedelta(days=1),
                                  end=until - timedelta(hours=1))
    sandbox.reset_calls()
    quiet = list(adapter.list_orders(since, until))
    assert all(isinstance(r, OrderRef) for r in quiet)
    assert sorted(r.external_id for r in quiet) == sorted(sns)
    assert {r.platform_status for r in quiet} <= {"READY_TO_SHIP", "UNPAID", "PROCESSED", "SHIPPED", "COMPLETED",
                                                 "CANCELLED", "IN_CANCEL", "TO_RETURN"}
    assert sandbox.calls("get_order_list") == 2 * 5 and sandbox.calls("get_order_detail") == 0  # two passes agree

    seen = _change_on_pages(sandbox, shop["shop_id"], pages={1})
    busy = [r.external_id for r in adapter.list_orders(since, until)]
    (moved,) = seen["changed"]
    # the moved order was updated after the range (the next range lists it); every other one is here, once
    assert set(busy) == set(sns) - {moved} and len(busy) == len(set(busy))
    assert sandbox.calls("get_order_detail") == 0


def test_shopee_one_unknown_number_does_not_hold_the_other_49(sandbox, shop, adapter):
    """Issue 13 defect 4: Shopee fails a whole get_order_detail call for one unknown number."""
    sns = sandbox.generate_orders(shop["shop_id"], 49, status="READY_TO_SHIP")
    wanted = sns[:20] + ["2603019ZZZZZZZ"] + sns[20:]
    sandbox.reset_calls()
    got = adapter.get_orders(wanted)
    orders = [g for g in got if isinstance(g, Order)]
    unknown = [g for g in got if isinstance(g, UnmappableOrder)]
    assert sorted(o.external_id for o in orders) == sorted(sns)
    assert [u.external_id for u in unknown] == ["2603019ZZZZZZZ"]
    assert "is unknown to Shopee" in unknown[0].reason and "the order is not found" in unknown[0].reason
    assert sandbox.calls("get_order_detail") <= 1 + 2 * math.ceil(math.log2(50))  # the split stays cheap


def test_shopee_processed_orders_are_shipped_with_shopee_tracking_numbers(sandbox, shop, adapter):
    """Issue 13 defect 3: a PROCESSED order is arranged on Shopee: reported shipped, never shippable."""
    since, until = _range(sandbox)
    processed = sandbox.generate_orders(shop["shop_id"], 120, status="PROCESSED", start=until - timedelta(days=1),
                                        end=until - timedelta(hours=1))
    ready = sandbox.generate_orders(shop["shop_id"], 30, status="READY_TO_SHIP", start=until - timedelta(days=1),
                                    end=until - timedelta(hours=1))
    sandbox.reset_calls()
    by_id = {o.external_id: o for o in adapter.fetch_orders(since, until)}
    assert set(by_id) == set(processed) | set(ready)
    for sn in processed:
        expected = sandbox.order(shop["shop_id"], sn)["package_list"][0]["tracking_number"]
        assert by_id[sn].status == "shipped" and by_id[sn].tracking_number == expected
    assert all(by_id[sn].status == "ready_to_ship" and by_id[sn].tracking_number is None for sn in ready)
    assert sandbox.calls("get_mass_tracking_number") == math.ceil(120 / 50)  # 50 packages a call
    assert sandbox.calls("get_tracking_number") == 0


def test_shopee_statuses_as_shopee_defines_them(sandbox, shop, adapter):
    """Issue 13 defect 5: TO_CONFIRM_RECEIVE is delivered; IN_CANCEL is a request on an order that keeps its
    own status (the seller may reject it), never cancelled."""
    (received,) = sandbox.generate_orders(shop["shop_id"], 1, status="TO_CONFIRM_RECEIVE")
    (asked,) = sandbox.generate_orders(shop["shop_id"], 1, status="READY_TO_SHIP")
    (arranged,) = sandbox.generate_orders(shop["shop_id"], 1, status="PROCESSED")
    sandbox.update_order(shop["shop_id"], asked, status="IN_CANCEL", buyer_cancel_reason="Need to Modify Order")
    sandbox.update_order(shop["shop_id"], arranged, status="IN_CANCEL", buyer_cancel_reason="Others")
    got = {o.external_id: o for o in adapter.get_orders([received, asked, arranged])}
    assert got[received].status == "delivered" and got[received].cancel_request is None
    request = got[asked].cancel_request
    assert got[asked].status == "ready_to_ship" and got[asked].platform_status == "IN_CANCEL"
    assert request is not None and request.reason == "Need to Modify Order" and request.reference == asked
    assert request.requested_at == got[asked].updated_at
    assert got[arranged].status == "shipped" and got[arranged].cancel_request.reason == "Others"


@given(st.integers(0, 500), st.integers(0, 2000), st.lists(st.integers(0, 2500), max_size=400), st.integers(1, 100))
@settings(max_examples=300, deadline=None)
def test_shopee_window_parts_cover_without_gap_and_fit_a_page(start, span, times, per_part):
    """The cut used after a failed proof: consecutive parts, no gap, no overlap, each within ``per_part`` known
    orders unless one second alone holds more (a second cannot be cut)."""
    end = start + span
    parts = _parts(start, end, sorted(times), per_part)
    assert parts[0][0] == start and parts[-1][1] == end
    assert all(lo <= hi for lo, hi in parts) and all(a[1] + 1 == b[0] for a, b in pairwise(parts))
    inside = [t for t in times if start <= t <= end]
    for lo, hi in parts:
        held = [t for t in inside if lo <= t <= hi]
        assert len(held) <= per_part or len(set(held)) == 1
