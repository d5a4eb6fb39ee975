"""State-changing Cyberbiz calls are sent once; a lost answer is resolved by reading (shipment_state).

The sandbox's ``lost_answer`` fault applies the request, then drops the connection (a proxy or network cut
after Cyberbiz acted). Also: the list-only pass for reconciliation (``list_orders``).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cyberbiz_kit import NO_SLEEP, NOW, REDIRECT, build_adapter

from platforms.base import OrderRef, OutcomeUnknown, ReauthRequired, Shipment, TransientError

HOUR = timedelta(hours=1)


@pytest.mark.parametrize("auth_model", ["token", "v1", "v2"])
def test_cyberbiz_lost_custom_shipping_answer_is_read_back_not_resent(cbz_sandbox, make_adapter, auth_model):
    adapter, shop = make_adapter(auth_model)
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    (order,) = adapter.get_orders([order_id])
    assert adapter.shipment_state(order) is None  # nothing shipped yet: shipping is safe
    cbz_sandbox.faults.inject("lost_answer", path="custom_shipping")
    with pytest.raises(OutcomeUnknown, match="answer was lost"):
        adapter.ship(order, Shipment("LA-1", carrier="SEVEN"))
    assert cbz_sandbox.calls("custom_shipping") == 1  # sent once, never blindly again
    state = adapter.shipment_state(order)
    assert state is not None and state.tracking_number == "LA-1"
    assert [f["tracking_number"] for f in state.raw["fulfillments"]] == ["LA-1"]
    assert len(cbz_sandbox.order(shop["shop_id"], order_id)["fulfillments"]) == 1


def test_cyberbiz_ship_again_after_it_went_through_counts_as_done(cbz_sandbox, make_adapter):
    """A re-push after the state was read (same tracking number) is answered from the recorded fulfillment."""
    adapter, shop = make_adapter("token")
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    (order,) = adapter.get_orders([order_id])
    adapter.ship(order, Shipment("AG-1", carrier="hct"))
    assert adapter.ship(order, Shipment("AG-1", carrier="hct")).tracking_number == "AG-1"
    assert len(cbz_sandbox.order(shop["shop_id"], order_id)["fulfillments"]) == 1


def test_cyberbiz_lost_refresh_answer_is_not_resent_and_the_next_try_finds_out(cbz_sandbox, make_adapter):
    adapter, _shop = make_adapter("v2")
    tokens = adapter.tokens
    cbz_sandbox.reset_calls()
    cbz_sandbox.faults.inject("lost_answer", path="/admin/oauth/token")
    with pytest.raises(TransientError, match="token refresh was lost.*next RefreshToken run finds out"):
        adapter.refresh(tokens)
    assert cbz_sandbox.calls("/admin/oauth/token") == 1
    # Cyberbiz had rotated the tokens: presenting the stored refresh token again says so, plainly
    with pytest.raises(ReauthRequired, match="已使用過"):
        adapter.refresh(tokens)


def test_cyberbiz_lost_code_exchange_answer_asks_to_authorize_again(cbz_sandbox, make_adapter):
    adapter, _shop = make_adapter("v2", authorize=False)
    params = cbz_sandbox.consent(adapter.authorize_url(REDIRECT, "st"))
    cbz_sandbox.faults.inject("lost_answer", path="/admin/oauth/token")
    with pytest.raises(TransientError, match="start the authorization again"):
        adapter.exchange_code(params, REDIRECT)
    assert cbz_sandbox.calls("/admin/oauth/token") == 1


def test_cyberbiz_list_orders_is_the_listing_alone(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token")
    adapter = build_adapter(cbz_sandbox, shop, policy=NO_SLEEP, per_page=2)
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 5, start=NOW - 3 * HOUR, end=NOW - HOUR, combo=True)
    cbz_sandbox.reset_calls()
    refs = list(adapter.list_orders(NOW - 4 * HOUR, NOW))
    assert all(isinstance(r, OrderRef) for r in refs)
    assert sorted(r.external_id for r in refs) == sorted(ids)
    assert all(r.updated_at is not None and r.updated_at.tzinfo is not None for r in refs)
    assert {r.platform_status for r in refs} <= {"open/paid/unshipped/no_need", "open/pending/unshipped/no_need",
                                                 "open/paid/preparing/no_need", "open/cod/unshipped/no_need"}
    assert cbz_sandbox.calls("/v1/orders") == 3  # three pages of two, no detail call
