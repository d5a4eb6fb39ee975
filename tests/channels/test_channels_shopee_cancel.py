"""Shopee buyer cancellation requests (``IN_CANCEL``) answered through the channel processes, every part real: the
Shopee sandbox over HTTP → GetOrder → the store (SQLite and PostgreSQL) → the cancel-answers run →
``handle_buyer_cancellation`` on the sandbox → the order cancelled, or kept when its goods had left. The answer goes
out once, even when its reply is lost."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from channels_kit import FAST, NOW, Bound, bind
from sqlalchemy import select

from channels.cancel_answers import run_cancel_answers
from channels.getorder import run_getorder
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, Order, OrderCancelRequest
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox

PATH = "/api/v2/order/handle_buyer_cancellation"


@pytest.fixture
def shop(store_settings: Settings) -> Iterator[Bound]:
    with ShopeeSandbox(clock=SandboxClock(NOW), seed=11) as sandbox:
        yield bind(store_settings, sandbox)


def _getorder(b: Bound):
    b.sandbox.clock.advance(minutes=2)  # the changes just made are past GetOrder's safety lag
    stats = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert stats.outcome in ("success", "partial"), stats.error_text
    return stats


def _answers(b: Bound, **kw):
    return run_cancel_answers(settings=b.settings, policy=FAST, clock=b.clock, **kw)


def _order(b: Bound, number: str) -> Order:
    with session_scope(b.settings) as s:
        order = s.scalars(select(Order).where(Order.external_id == number)).one()
        s.expunge(order)
        return order


def _request(b: Bound, number: str) -> OrderCancelRequest:
    with session_scope(b.settings) as s:
        request = s.scalars(select(OrderCancelRequest).join(Order, Order.id == OrderCancelRequest.oms_order_id)
                            .where(Order.external_id == number).order_by(OrderCancelRequest.id.desc())).first()
        s.expunge(request)
        return request


def _row(b: Bound, number: str) -> Delivery:
    with session_scope(b.settings) as s:
        row = s.scalars(select(Delivery).join(Order, Order.id == Delivery.oms_order_id)
                        .where(Order.external_id == number, Delivery.destination == "cancel_answer")).one()
        s.expunge(row)
        return row


def _new_orders(b: Bound, count: int) -> list[str]:
    now = b.sandbox.clock.now()
    return b.sandbox.generate_orders(b.shop_id, count, start=now - timedelta(hours=3), end=now - timedelta(hours=2),
                                     status="ready_to_ship")


def _ask_to_cancel(b: Bound, number: str) -> None:
    b.sandbox.update_order(b.shop_id, number, status="IN_CANCEL", buyer_cancel_reason="Need to change delivery address")


def test_a_request_is_accepted_while_the_goods_wait_and_refused_once_they_left(shop: Bound):
    a, b = _new_orders(shop, 2)
    assert _getorder(shop).new == 2
    shop.sandbox.update_order(shop.shop_id, b, status="SHIPPED")  # B's parcel is with the carrier
    _ask_to_cancel(shop, a)
    _ask_to_cancel(shop, b)
    assert _getorder(shop).changed == 2
    for number, status in ((a, "ready_to_ship"), (b, "shipped")):
        request = _request(shop, number)
        assert request.state == "open" and request.reason == "Need to change delivery address"
        assert _order(shop, number).status == status  # a request, not a cancellation

    stats = _answers(shop)
    assert (stats.sent, stats.held, stats.failed) == (2, 0, 0), stats
    assert shop.sandbox.shops[int(shop.shop_id)].cancel_answers == [
        {"order_sn": a, "operation": "ACCEPT"}, {"order_sn": b, "operation": "REJECT"}]
    assert shop.sandbox.order(shop.shop_id, a)["order_status"] == "CANCELLED"
    assert shop.sandbox.order(shop.shop_id, b)["order_status"] == "SHIPPED"  # back where it was
    ra, rb = _request(shop, a), _request(shop, b)
    assert (ra.state, ra.decision, ra.outcome) == ("answered", "accept", "intercepted")
    assert (rb.state, rb.decision) == ("answered", "refuse") and "shipped" in rb.decision_note
    assert _order(shop, a).status == "cancelled" and _order(shop, b).status == "shipped"

    # Shopee lists neither as IN_CANCEL any more: the next reads answer nothing
    _getorder(shop)
    assert _answers(shop).fetched == 0
    assert len(shop.sandbox.shops[int(shop.shop_id)].cancel_answers) == 2


def test_a_lost_reply_is_resolved_by_reading_shopee_not_by_answering_again(shop: Bound):
    (c,) = _new_orders(shop, 1)
    _getorder(shop)
    _ask_to_cancel(shop, c)
    _getorder(shop)
    shop.sandbox.faults.inject("lost_answer", path=PATH)  # Shopee applies the answer; the reply never arrives
    first = _answers(shop)
    assert (first.sent, first.failed) == (0, 1), first
    assert shop.sandbox.order(shop.shop_id, c)["order_status"] == "CANCELLED"
    row = _row(shop, c)
    assert row.state == "retry" and row.hold_code == "outcome_unknown" and "answer was lost" in row.last_error
    request = _request(shop, c)
    assert request.state == "open" and request.answer_state == "unknown" and request.decision == "accept"

    second = _answers(shop, now=row.next_attempt_at)
    assert second.sent == 1, second
    assert shop.sandbox.shops[int(shop.shop_id)].cancel_answers == [{"order_sn": c, "operation": "ACCEPT"}]
    request = _request(shop, c)
    assert (request.state, request.outcome) == ("answered", "intercepted") and "read back" in request.outcome_note
    assert _order(shop, c).status == "cancelled"
