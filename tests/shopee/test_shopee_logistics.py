"""Shopee shipments are never sent twice: ship_order is not idempotent, and what Shopee recorded is read back."""

from __future__ import annotations

import pytest

from platforms.base import OutcomeUnknown, PermanentError, Shipment

SHIP = "/api/v2/logistics/ship_order"


def _ready(sandbox, shop_id: str, adapter):
    (sn,) = sandbox.generate_orders(shop_id, 1, status="READY_TO_SHIP")
    return sn, adapter.get_orders([sn])[0]


def test_shopee_lost_ship_answer_is_not_resent_and_the_state_says_what_shopee_did(sandbox, shop, adapter):
    """Issue 13 defect 2: the HTTP layer used to send ship_order again after a lost answer (refused as
    "not ready to ship"); now one request, then the read-back finds Shopee's shipment."""
    sn, order = _ready(sandbox, shop["shop_id"], adapter)
    sandbox.faults.inject("lost_answer", path=SHIP, count=10)
    with pytest.raises(OutcomeUnknown, match="answer was lost"):
        adapter.ship(order, Shipment(tracking_number="SELF-1"))
    assert sandbox.calls(SHIP) == 1
    assert sandbox.shipment_of(shop["shop_id"], sn)["tracking_number"] == "SELF-1"  # Shopee applied it
    state = adapter.shipment_state(order)
    assert state is not None and state.tracking_number == "SELF-1"
    assert sandbox.calls(SHIP) == 1


def test_shopee_shipment_state_before_and_after_shipping(sandbox, make_adapter):
    shop = sandbox.add_shop(logistics="dropoff")
    adapter = make_adapter(shop_id=shop["shop_id"])
    sn, order = _ready(sandbox, shop["shop_id"], adapter)
    assert adapter.shipment_state(order) is None
    shipped = adapter.ship(order, Shipment(tracking_number=""))
    state = adapter.shipment_state(order)
    assert state.tracking_number == shipped.tracking_number == sandbox.shipment_of(shop["shop_id"], sn)[
        "tracking_number"]
    (cancelled,) = sandbox.generate_orders(shop["shop_id"], 1, status="CANCELLED")
    assert adapter.shipment_state(adapter.get_orders([cancelled])[0]) is None


def test_shopee_shipment_arranged_in_the_background_counts_as_shipped(sandbox, make_adapter):
    """LOGISTICS_READY is ambiguous (guide 229): is_shipment_arranged tells an arranged package from a waiting
    one while Shopee still generates the tracking number and the order still reads READY_TO_SHIP."""
    shop = sandbox.add_shop(logistics="pickup", arrange_async=True)
    adapter = make_adapter(shop_id=shop["shop_id"])
    sn, order = _ready(sandbox, shop["shop_id"], adapter)
    sandbox.faults.inject("lost_answer", path=SHIP)
    with pytest.raises(OutcomeUnknown):
        adapter.ship(order, Shipment(tracking_number=""))
    assert sandbox.order(shop["shop_id"], sn)["order_status"] == "READY_TO_SHIP"
    state = adapter.shipment_state(order)
    assert state is not None and state.tracking_number is None  # arranged, number not assigned yet
    with pytest.raises(PermanentError, match="not ready to ship"):  # and Shopee refuses a second one
        adapter.ship(order, Shipment(tracking_number=""))
    sandbox.finish_arrangement(shop["shop_id"], sn)
    assert adapter.shipment_state(order).tracking_number == sandbox.shipment_of(shop["shop_id"], sn)["tracking_number"]


def test_shopee_processed_order_refuses_shipment_and_reads_back_its_tracking(sandbox, shop, adapter):
    (sn,) = sandbox.generate_orders(shop["shop_id"], 1, status="PROCESSED")
    order = adapter.get_orders([sn])[0]
    sandbox.reset_calls()
    with pytest.raises(PermanentError, match="logistic status not ready to ship"):
        adapter.ship(order, Shipment(tracking_number="T-1"))
    assert sandbox.calls("get_shipping_parameter") == 1 and sandbox.calls(SHIP) == 0
    expected = sandbox.order(shop["shop_id"], sn)["package_list"][0]["tracking_number"]
    assert adapter.shipment_state(order).tracking_number == expected == order.tracking_number


def test_shopee_tracking_read_failing_after_an_accepted_shipment_does_not_fail_it(sandbox, shop, adapter):
    """Once ship_order is accepted, only OutcomeUnknown may leave the shipment in doubt: a failing tracking
    read must not look like a refused shipment (which would be tried again)."""
    sn, order = _ready(sandbox, shop["shop_id"], adapter)
    sandbox.faults.inject("503", path="get_tracking_number", count=10)
    result = adapter.ship(order, Shipment(tracking_number="SELF-9"))
    assert result.tracking_number == "SELF-9" and sandbox.calls(SHIP) == 1


@pytest.mark.parametrize("call", ["refresh", "exchange"])
def test_shopee_token_calls_are_never_resent_after_a_lost_answer(sandbox, shop, make_adapter, call):
    """Both spend a single-use grant (code / refresh token): a blind resend would be refused."""
    adapter = make_adapter(authorize=call == "refresh")
    if call == "refresh":
        sandbox.faults.inject("lost_answer", path="/auth/access_token/get")
        with pytest.raises(OutcomeUnknown):
            adapter.refresh(adapter.tokens)
        assert sandbox.calls("/auth/access_token/get") == 1
    else:
        params = sandbox.consent(adapter.authorize_url("https://bridge.example/cb", "s"), shop_id=shop["shop_id"])
        sandbox.faults.inject("lost_answer", path="/auth/token/get")
        with pytest.raises(OutcomeUnknown):
            adapter.exchange_code(params)
        assert sandbox.calls("/auth/token/get") == 1
