"""momo stop-shipping requests (攔貨) at the adapter, over real HTTP against MomoSandbox: a request, not a
cancellation; answered with stopSendingConfirm (stopAct 1 intercepted / 0 too late), once."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from momo_kit import NOW, make_adapter

from platforms.base import CancelRequest, Order, OutcomeUnknown, PermanentError, TransientError
from sandboxes.momo import MomoSandbox
from sandboxes.server import SandboxClock

WINDOW = (NOW - timedelta(days=1), NOW)


def _by_id(adapter) -> dict[str, Order]:
    orders = list(adapter.fetch_orders(*WINDOW))
    assert all(isinstance(o, Order) for o in orders), orders
    return {o.external_id: o for o in orders}


def test_a_stop_request_is_a_request_not_a_cancellation(momo_adapter, momo_sandbox, momo_shop):
    """The first version mapped every stop row to status cancelled (and cancelled the ERP order)."""
    ids = momo_sandbox.generate_orders(momo_shop["shop_id"], 2, start=NOW - timedelta(hours=2), end=NOW)
    momo_sandbox.request_stop(momo_shop["shop_id"], ids[0])
    by_id = _by_id(momo_adapter)
    order = by_id[ids[0]]
    assert order.status == "ready_to_ship" and order.status != "cancelled"
    request = order.cancel_request
    assert isinstance(request, CancelRequest) and request.allowed is True and request.reason == "客戶取消訂單"
    assert request.reference == ",".join(sorted(n for n in momo_sandbox.rows[momo_shop["shop_id"]]
                                                if n.startswith(ids[0])))
    # momo took it out of the unsent list: only the stop list names it, without prices
    assert order.request_only and order.total is None and order.platform_status == "stopSendingQuery"
    assert by_id[ids[1]].cancel_request is None and not by_id[ids[1]].request_only


def test_an_order_still_unsent_gets_its_request_attached_with_its_content(momo_shop):
    with MomoSandbox(clock=SandboxClock(NOW, frozen=True), seed=3, rate_limit=500, stop_keeps_unsent=True) as sandbox:
        shop = sandbox.add_shop(**momo_shop["credentials"])
        adapter = make_adapter(sandbox, shop)
        (oid,) = sandbox.generate_orders(shop["shop_id"], 1, start=NOW - timedelta(hours=1), end=NOW)
        sandbox.request_stop(shop["shop_id"], oid)
        (order,) = _by_id(adapter).values()
        assert order.cancel_request is not None and not order.request_only
        assert order.total and order.total > 0 and order.platform_status == "unsendCompanyQuery"
        (again,) = adapter.get_orders([oid])
        assert again.cancel_request == order.cancel_request and again.total == order.total


@pytest.mark.parametrize(("accept", "act"), [(True, "1"), (False, "0")])
def test_answer_sends_stop_sending_confirm_once_and_the_request_leaves_the_list(momo_adapter, momo_sandbox, momo_shop,
                                                                               accept, act):
    (oid,) = momo_sandbox.generate_orders(momo_shop["shop_id"], 1, start=NOW - timedelta(hours=1), end=NOW)
    momo_sandbox.request_stop(momo_shop["shop_id"], oid)
    order = _by_id(momo_adapter)[oid]
    answer = momo_adapter.answer_cancel_request(order, accept)
    assert answer.accepted is accept and not answer.repeated
    assert momo_sandbox.stop_answer(momo_shop["shop_id"], oid) == act
    assert momo_sandbox.actions.count("stopSendingConfirm") == 1
    assert momo_adapter.get_orders([oid]) == []  # in no list any more: answered
    # sent again (a reply thought lost): momo says it was done, which is success, and nothing changes
    again = momo_adapter.answer_cancel_request(order, accept)
    assert again.repeated and momo_sandbox.stop_answer(momo_shop["shop_id"], oid) == act


def test_a_request_momo_does_not_allow_yet_is_not_sent(momo_adapter, momo_sandbox, momo_shop):
    (oid,) = momo_sandbox.generate_orders(momo_shop["shop_id"], 1, start=NOW - timedelta(hours=1), end=NOW)
    momo_sandbox.request_stop(momo_shop["shop_id"], oid, allowed=False)
    order = _by_id(momo_adapter)[oid]
    assert order.cancel_request.allowed is False and "待排程處理" in order.cancel_request.reason
    with pytest.raises(PermanentError, match="待排程處理") as info:
        momo_adapter.answer_cancel_request(order, True)
    assert info.value.code == "not_allowed" and "stopSendingConfirm" not in momo_sandbox.actions
    # a request momo does not qualify (allowed None) is tried: momo's own check decides
    unknown = replace(order, cancel_request=replace(order.cancel_request, allowed=None))
    with pytest.raises(PermanentError, match="不可執行攔貨"):
        momo_adapter.answer_cancel_request(unknown, True)
    assert momo_sandbox.actions.count("stopSendingConfirm") == 1


def test_a_lost_reply_raises_outcome_unknown_after_one_request_and_the_reread_shows_it_answered(
        momo_adapter, momo_sandbox, momo_shop):
    (oid,) = momo_sandbox.generate_orders(momo_shop["shop_id"], 1, start=NOW - timedelta(hours=1), end=NOW)
    momo_sandbox.request_stop(momo_shop["shop_id"], oid)
    order = _by_id(momo_adapter)[oid]
    momo_sandbox.faults.inject("lost_answer")
    with pytest.raises(OutcomeUnknown):
        momo_adapter.answer_cancel_request(order, True)
    assert momo_sandbox.actions.count("stopSendingConfirm") == 1
    assert momo_sandbox.stop_answer(momo_shop["shop_id"], oid) == "1"
    assert momo_adapter.get_orders([oid]) == []


def test_an_undone_answer_is_retried_and_a_stale_reference_is_refused(momo_adapter, momo_sandbox, momo_shop):
    (oid,) = momo_sandbox.generate_orders(momo_shop["shop_id"], 1, start=NOW - timedelta(hours=1), end=NOW)
    momo_sandbox.request_stop(momo_shop["shop_id"], oid)
    order = _by_id(momo_adapter)[oid]
    momo_sandbox.undo_next = 1
    with pytest.raises(TransientError, match="did not execute stopSendingConfirm"):
        momo_adapter.answer_cancel_request(order, True)
    wrong = replace(order, cancel_request=replace(order.cancel_request, reference="20990101000000-001-001-001"))
    with pytest.raises(PermanentError, match="查無攔貨資料"):
        momo_adapter.answer_cancel_request(wrong, True)
    assert momo_adapter.answer_cancel_request(order, True).accepted


def test_store_and_third_party_orders_are_not_stop_listed(momo_sandbox, momo_shop):
    """Only vendor-delivered (廠商配送) orders can be stopped (Momo.java: 廠商配送且非精品倉商品才可攔貨)."""
    (oid,) = momo_sandbox.generate_orders(momo_shop["shop_id"], 1, kind="stores")
    with pytest.raises(ValueError, match="廠商配送"):
        momo_sandbox.request_stop(momo_shop["shop_id"], oid)
