"""Shopline shipments over real HTTP: the call follows the order's carrier, state-changing calls go out once,
a lost answer is resolved by reading the order, and the OMS's tracking number is never silently dropped."""

from __future__ import annotations

from datetime import timedelta

import pytest
from shopline_kit import NOW, make_adapter, one_try

from platforms.base import Order, OutcomeUnknown, PermanentError, Shipment
from platforms.shopline.adapter import BOOKED_NOTE, BULK_BOOKED_NOTE, NOT_STORED_NOTE
from sandboxes.server import SandboxClock
from sandboxes.shopline import ShoplineSandbox


def _order(adapter, sandbox: ShoplineSandbox, shop: str, **options) -> Order:
    (oid,) = sandbox.generate_orders(shop, 1, status=options.pop("status", "ready_to_ship"), **options)
    (order,) = adapter.get_orders([oid])
    assert isinstance(order, Order), order
    return order


def test_own_carrier_marks_the_delivery_shipped_and_keeps_our_tracking_number(shopline_sandbox, token_adapter,
                                                                              token_shop):
    """Regression (issue 12): round one POSTed execute_shipment with a tracking number for every order."""
    shop = token_shop["shop_id"]
    order = _order(token_adapter, shopline_sandbox, shop)
    shopline_sandbox.reset_calls()
    result = token_adapter.ship(order, Shipment(tracking_number="TW123456789", carrier="黑貓宅急便"))
    assert result.tracking_number is None and result.note == NOT_STORED_NOTE
    assert result.raw["status"] == "shipped" and result.raw["order_id"] == order.external_id
    recorded = shopline_sandbox.shipment_of(shop, order.external_id)
    assert recorded["status"] == "shipped" and recorded["tracking_number"] is None
    assert [m for m, p in shopline_sandbox.request_log] == ["GET", "PATCH"]  # delivery option, status
    assert shopline_sandbox.calls("/order_delivery_status") == 1 and shopline_sandbox.calls("/execute_shipment") == 0
    assert shopline_sandbox.mail_notifications == []  # mail_notify defaults to false, as documented
    again = _order(token_adapter, shopline_sandbox, shop)
    token_adapter.ship(again, Shipment(tracking_number="TW2"))
    assert shopline_sandbox.calls("/delivery_options/") == 1  # the region type is cached per option


def test_mail_notify_is_a_setting(shopline_sandbox, token_shop):
    adapter = make_adapter(shopline_sandbox, token_shop, mail_notify=True)
    order = _order(adapter, shopline_sandbox, token_shop["shop_id"])
    adapter.ship(order, Shipment(tracking_number="T-1"))
    assert shopline_sandbox.mail_notifications == [(order.external_id, "shipped")]


def test_tracking_write_update_order_stores_our_number_first(shopline_sandbox, token_shop):
    adapter = make_adapter(shopline_sandbox, token_shop, tracking_write="update_order")
    order = _order(adapter, shopline_sandbox, token_shop["shop_id"])
    shopline_sandbox.reset_calls()
    result = adapter.ship(order, Shipment(tracking_number="TW-77", carrier="黑貓宅急便"))
    assert result.tracking_number == "TW-77" and result.note is None
    recorded = shopline_sandbox.shipment_of(token_shop["shop_id"], order.external_id)
    assert recorded["tracking_number"] == "TW-77" and recorded["carrier"] == {"zh-hant": "黑貓宅急便"}
    assert [p.rsplit("/", 1)[-1] for m, p in shopline_sandbox.request_log if m == "PATCH"] == [
        order.external_id, "order_delivery_status"]
    assert adapter.shipment_state(order).tracking_number == "TW-77"


def test_an_integrated_carrier_is_booked_with_execute_shipment(shopline_sandbox, token_adapter, token_shop):
    shop = token_shop["shop_id"]
    order = _order(token_adapter, shopline_sandbox, shop, delivery="tcat")
    assert token_adapter.shipment_state(order) is None
    result = token_adapter.ship(order, Shipment(tracking_number="OMS-1", carrier="黑貓宅急便"))
    recorded = shopline_sandbox.shipment_of(shop, order.external_id)
    assert result.tracking_number == recorded["tracking_number"] and result.tracking_number.startswith("SL")
    assert result.note == BOOKED_NOTE and recorded["delivery_status"] == "request_accepted"
    assert shopline_sandbox.calls("/execute_shipment") == 1 and shopline_sandbox.calls("/order_delivery_status") == 0
    # sent again (the row was re-armed): Shopline refuses a second booking, the first one is the answer
    assert token_adapter.ship(order, Shipment(tracking_number="OMS-1")).tracking_number == result.tracking_number
    assert shopline_sandbox.calls("/execute_shipment") == 2


def test_a_tracking_number_shopline_assigns_later_is_read_back():
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True), tracking_delay=True) as sandbox:
        shop = sandbox.add_shop()
        adapter = make_adapter(sandbox, shop)
        order = _order(adapter, sandbox, shop["shop_id"], delivery="711")
        result = adapter.ship(order, Shipment(tracking_number="OMS-2"))
        assert result.tracking_number is None and "assigns it later" in result.note
        later = adapter.shipment_state(order)
        assert later.tracking_number == sandbox.shipment_of(shop["shop_id"], order.external_id)["tracking_number"]


@pytest.mark.parametrize("carrier", ["711_cross_border", "fmt_freeze"])
def test_cross_border_and_frozen_carriers_are_booked_with_bulk_execute_shipment(shopline_sandbox, token_adapter,
                                                                               token_shop, carrier):
    """Regression: such orders were held ("ship it in Shopline's admin") although Bulk Execute Shipment books
    them (open-api.docs.shoplineapp.com/docs/bulk-execute-shipment)."""
    shop = token_shop["shop_id"]
    order = _order(token_adapter, shopline_sandbox, shop, delivery=carrier)
    shopline_sandbox.reset_calls()
    result = token_adapter.ship(order, Shipment(tracking_number="OMS-9", carrier="7-11"))
    assert result.tracking_number is None and result.note.startswith(BULK_BOOKED_NOTE)
    assert result.raw["processingOrderIds"] == [order.external_id]
    assert shopline_sandbox.bulk_booked == [order.external_id]
    assert [p for m, p in shopline_sandbox.request_log if m == "PATCH"] == ["/v1/orders/execute_shipment"]
    recorded = shopline_sandbox.shipment_of(shop, order.external_id)
    assert recorded["delivery_status"] == "request_accepted"
    assert token_adapter.shipment_state(order).tracking_number == recorded["tracking_number"]  # read back later
    # sent again (the row was re-armed): "status error", and the booking Shopline holds is the answer
    again = token_adapter.ship(order, Shipment(tracking_number="OMS-9"))
    assert again.tracking_number == recorded["tracking_number"] and shopline_sandbox.bulk_booked == [order.external_id]


def test_a_carrier_no_api_call_books_is_held_with_the_reason(shopline_sandbox, token_adapter, token_shop):
    order = _order(token_adapter, shopline_sandbox, token_shop["shop_id"], delivery="kerry")
    with pytest.raises(PermanentError, match="sl_logistics_kerry_th_nd.*no API call books.*Shopline's admin"):
        token_adapter.ship(order, Shipment(tracking_number="T"))
    assert not [m for m, p in shopline_sandbox.request_log if m == "PATCH"]


def test_bulk_execute_shipment_refusals_are_passed_on_with_shoplines_list(shopline_sandbox, token_adapter,
                                                                          token_shop):
    shop = token_shop["shop_id"]
    failing = _order(token_adapter, shopline_sandbox, shop, delivery="711_cross_border")
    shopline_sandbox.bulk_processing_fails.add(failing.external_id)
    with pytest.raises(PermanentError, match="could not process the booking .processingFailedOrderIds"):
        token_adapter.ship(failing, Shipment(tracking_number="T"))
    cancelled = _order(token_adapter, shopline_sandbox, shop, delivery="fmt_freeze")
    shopline_sandbox.update_order(shop, cancelled.external_id, status="cancelled")
    with pytest.raises(PermanentError, match="statusErrorOrderIds"):  # read back: no booking, the refusal stands
        token_adapter.ship(cancelled, Shipment(tracking_number="T"))
    forced = make_adapter(shopline_sandbox, token_shop, shipment_call="bulk_execute_shipment")
    custom = _order(forced, shopline_sandbox, shop)
    with pytest.raises(PermanentError, match="platformNotSupportOrderIds"):
        forced.ship(custom, Shipment(tracking_number="T"))
    assert shopline_sandbox.bulk_booked == []


def test_forcing_the_status_call_on_an_integrated_carrier_is_refused_by_shopline(shopline_sandbox, token_shop):
    adapter = make_adapter(shopline_sandbox, token_shop, shipment_call="order_delivery_status")
    order = _order(adapter, shopline_sandbox, token_shop["shop_id"], delivery="tcat")
    with pytest.raises(PermanentError, match="HTTP 422.*integrated delivery cannot be updated manually"):
        adapter.ship(order, Shipment(tracking_number="T"))
    forced = make_adapter(shopline_sandbox, token_shop, shipment_call="execute_shipment")
    custom = _order(forced, shopline_sandbox, token_shop["shop_id"])
    with pytest.raises(PermanentError, match="integrated delivery service error"):
        forced.ship(custom, Shipment(tracking_number="T"))


@pytest.mark.parametrize(("name", "value"), [("shipment_call", "order_delivery"), ("tracking_write", "put")])
def test_unknown_settings_are_clear_errors(shopline_sandbox, token_shop, name, value):
    adapter = make_adapter(shopline_sandbox, token_shop, **{name: value})
    order = _order(adapter, shopline_sandbox, token_shop["shop_id"])
    with pytest.raises(PermanentError, match=f"{name} '{value}' is not one of"):
        adapter.ship(order, Shipment(tracking_number="T"))


def test_refusals_that_are_no_earlier_booking_stay_refusals(shopline_sandbox, token_adapter, token_shop):
    shop = token_shop["shop_id"]
    booked = _order(token_adapter, shopline_sandbox, shop, delivery="tcat")
    shopline_sandbox.update_order(shop, booked.external_id, status="cancelled")
    with pytest.raises(PermanentError, match="delivery status is not pending"):
        token_adapter.ship(booked, Shipment(tracking_number="T"))
    completed = _order(token_adapter, shopline_sandbox, shop)
    shopline_sandbox.update_order(shop, completed.external_id, order_status="completed")
    with pytest.raises(PermanentError, match="Order is completed"):
        token_adapter.ship(completed, Shipment(tracking_number="T"))


def test_an_order_shopline_shows_delivered_is_not_set_back(shopline_sandbox, token_adapter, token_shop):
    order = _order(token_adapter, shopline_sandbox, token_shop["shop_id"], status="delivered")
    shopline_sandbox.reset_calls()
    result = token_adapter.ship(order, Shipment(tracking_number="T"))
    assert "already shows the order as delivered" in result.note and shopline_sandbox.calls() == 0


@pytest.mark.parametrize(("delivery", "path"), [("custom", "/order_delivery_status"), ("tcat", "/execute_shipment"),
                                               ("711_cross_border", "/orders/execute_shipment")])
def test_a_lost_answer_is_resolved_by_reading_never_by_sending_again(shopline_sandbox, token_shop, delivery, path):
    shop = token_shop["shop_id"]
    adapter = make_adapter(shopline_sandbox, token_shop, policy=one_try())
    order = _order(adapter, shopline_sandbox, shop, delivery=delivery)
    adapter.ship(_order(adapter, shopline_sandbox, shop, delivery=delivery), Shipment(tracking_number="warm-up"))
    shopline_sandbox.faults.inject("lost_answer", path=path)
    with pytest.raises(OutcomeUnknown, match="answer was lost"):
        adapter.ship(order, Shipment(tracking_number="TW-LOST"))
    assert shopline_sandbox.calls(path) == 2  # the warm-up and the lost one: never a second send
    state = adapter.shipment_state(order)
    recorded = shopline_sandbox.shipment_of(shop, order.external_id)
    assert state is not None and recorded is not None
    assert state.tracking_number == recorded["tracking_number"]  # Shopline's booking number, or None
    assert shopline_sandbox.calls(path) == 2


def test_a_lost_answer_that_never_arrived_reads_as_not_shipped(shopline_sandbox, token_shop):
    """A 5xx before Shopline applied anything is also an unknown outcome; the read shows nothing happened."""
    adapter = make_adapter(shopline_sandbox, token_shop, policy=one_try())
    order = _order(adapter, shopline_sandbox, token_shop["shop_id"])
    shopline_sandbox.faults.inject("503", path="/order_delivery_status")
    with pytest.raises(OutcomeUnknown):
        adapter.ship(order, Shipment(tracking_number="T"))
    assert adapter.shipment_state(order) is None
    assert adapter.ship(order, Shipment(tracking_number="T")).raw["status"] == "shipped"  # safe to send now
    assert shopline_sandbox.calls("/order_delivery_status") == 2


def test_shipping_changes_no_order_window(shopline_sandbox, token_adapter, token_shop):
    order = _order(token_adapter, shopline_sandbox, token_shop["shop_id"])
    token_adapter.ship(order, Shipment(tracking_number="T"))
    assert list(token_adapter.fetch_orders(NOW, NOW + timedelta(hours=1))) == []
