"""Answering a Shopee buyer's cancellation request (``handle_buyer_cancellation``) over real HTTP: what the adapter
sends, what Shopee then shows, and the refusals it passes on (docs/contracts/shopee.md, Cancellation requests)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from platforms.base import OutcomeUnknown, PermanentError

PATH = "/api/v2/order/handle_buyer_cancellation"


def _read(adapter, sandbox, number: str):
    (order,) = adapter.get_orders([number])
    return order


def _asked(sandbox, shop, adapter, count: int = 1) -> list:
    """``count`` orders generated IN_CANCEL (paid, parcel not handed over), read as the bridge reads them."""
    now = sandbox.clock.now()
    numbers = sandbox.generate_orders(shop["shop_id"], count, status="IN_CANCEL",
                                      start=now - timedelta(hours=3), end=now - timedelta(hours=2))
    return [_read(adapter, sandbox, n) for n in numbers]


def test_accept_cancels_the_order_and_reject_puts_it_back(sandbox, shop, adapter):
    accepted, rejected = _asked(sandbox, shop, adapter, 2)
    assert accepted.cancel_request is not None and accepted.cancel_request.allowed
    assert accepted.status == "ready_to_ship"  # a request: the parcel is still waiting (LOGISTICS_READY)

    answer = adapter.answer_cancel_request(accepted, True)
    assert answer.accepted and not answer.repeated and answer.raw["operation"] == "ACCEPT"
    assert answer.raw["update_time"] >= accepted.updated_at.timestamp()
    assert not adapter.answer_cancel_request(rejected, False).accepted

    sent = [(c["order_sn"], c["operation"]) for c in sandbox.shops[int(shop["shop_id"])].cancel_answers]
    assert sent == [(accepted.external_id, "ACCEPT"), (rejected.external_id, "REJECT")]
    after = _read(adapter, sandbox, accepted.external_id)
    assert (after.platform_status, after.status, after.cancel_request) == ("CANCELLED", "cancelled", None)
    after = _read(adapter, sandbox, rejected.external_id)
    assert (after.platform_status, after.status, after.cancel_request) == ("READY_TO_SHIP", "ready_to_ship", None)


def test_a_request_already_answered_is_refused_with_shopees_reason(sandbox, shop, adapter):
    (order,) = _asked(sandbox, shop, adapter)
    adapter.answer_cancel_request(order, True)
    with pytest.raises(PermanentError) as refused:  # the same answer again: the order is no longer IN_CANCEL
        adapter.answer_cancel_request(order, True)
    assert "IN_CANCEL" in str(refused.value)
    assert len(sandbox.shops[int(shop["shop_id"])].cancel_answers) == 1


def test_an_order_without_a_request_is_refused_before_anything_is_sent(sandbox, shop, adapter):
    (number,) = sandbox.generate_orders(shop["shop_id"], 1, status="ready_to_ship",
                                        start=sandbox.clock.now() - timedelta(hours=3),
                                        end=sandbox.clock.now() - timedelta(hours=2))
    order = _read(adapter, sandbox, number)
    sandbox.reset_calls()
    with pytest.raises(PermanentError, match="no open cancellation request"):
        adapter.answer_cancel_request(order, True)
    assert sandbox.calls("handle_buyer_cancellation") == 0


def test_a_lost_answer_is_never_sent_again_by_the_client(sandbox, shop, adapter):
    """The adapter's policy allows four attempts; a state-changing call gets one."""
    (order,) = _asked(sandbox, shop, adapter)
    sandbox.faults.inject("lost_answer", path=PATH)
    with pytest.raises(OutcomeUnknown):
        adapter.answer_cancel_request(order, True)
    assert len(sandbox.shops[int(shop["shop_id"])].cancel_answers) == 1  # applied once, the reply lost
    assert _read(adapter, sandbox, order.external_id).status == "cancelled"  # what the caller reads back
