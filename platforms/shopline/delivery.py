"""Shopline's delivery vocabulary and the shipment decisions built on it (pure: no network).

Facts (docs/contracts/shopline.md lists the sources):

- ``order_delivery.status`` takes pending, shipping, shipped, arrived, collected, returned, returning
  (confirmed: "Update Order Delivery Status", open-api.docs.shoplineapp.com/docs/update-order-delivery-status).
- ``PATCH /v1/orders/:id/execute_shipment`` books Shopline's own carriers (7-11 B2C/C2C, FamilyMart B2C/C2C,
  T-cat, SF, HCT) and only while the delivery is still pending; it takes no tracking number and answers
  ``{delivery_status: request_accepted|request_authorized|request_submitted, tracking_number}`` (confirmed:
  "Execute Shipment", open-api.docs.shoplineapp.com/v2.82.16/docs/execute-shipment).
- ``PATCH /v1/orders/execute_shipment`` ("Bulk Execute Shipment") books 7-11 Cross Border, FamilyMart Freeze and
  T-cat orders whose delivery is pending, at most 24 a call: body ``{orderIds}``, answer the ids sorted into
  ``processingOrderIds``, ``processingFailedOrderIds``, ``statusErrorOrderIds``, ``platformNotSupportOrderIds``
  and ``notFoundOrderIds`` (confirmed: open-api.docs.shoplineapp.com/docs/bulk-execute-shipment).
- ``PATCH /v1/orders/:id/order_delivery_status`` is refused for the region types listed on the Update Order
  Delivery Status page (their status moves only through the carrier integration).
- The region type of an order's delivery is the ``region_type`` of its delivery option (confirmed: the same
  page, "Get Delivery Option API 裡的欄位 region_type").

Which region types :func:`shipment_call` sends where is a setting in the adapter (``integrated_region_types``,
``execute_shipment_region_types``, ``bulk_execute_region_types``); the tuples here are the documented defaults.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

__all__ = ["DELIVERY_STATUSES", "SHIPPED_STATUSES", "REQUEST_STATES", "INTEGRATED_REGION_TYPES",
           "EXECUTE_SHIPMENT_REGION_TYPES", "BULK_EXECUTE_REGION_TYPES", "BULK_OUTCOMES", "MAX_BULK_ORDERS",
           "shipment_call", "shipment_recorded", "tracking_number_of"]

DELIVERY_STATUSES = ("pending", "shipping", "shipped", "arrived", "collected", "returned", "returning")
#: a delivery in one of these has left the warehouse (or came back): the shipment happened
SHIPPED_STATUSES = frozenset(DELIVERY_STATUSES) - {"pending"}
#: ``order_delivery.delivery_status`` after execute_shipment (the integrated carrier has the parcel booked)
REQUEST_STATES = frozenset({"request_accepted", "request_authorized", "request_submitted"})

_711 = ("tw_711_nopay", "tw_711_pay", "tw_711_b2c_nopay", "tw_711_b2c_pay")
_FAMILYMART = ("tw_fm_b2c_nopay", "tw_fm_b2c_pay", "tw_fm_c2c_nopay", "tw_fm_c2c_pay")
_TCAT = ("tw_tcat_roomtemp", "tw_tcat_refrigerated", "tw_tcat_frozen", "tw_tcat_roomtemp_cod",
         "tw_tcat_refrigerated_cod", "tw_tcat_frozen_cod")
_SF = ("hk_integrated_sfexpress", "hk_integrated_sf_pickup")
#: the single-order execute_shipment carriers (7-11, FamilyMart, T-cat, SF; HCT's region type is not public)
EXECUTE_SHIPMENT_REGION_TYPES = _711 + _FAMILYMART + _TCAT + _SF
#: the carriers only "Bulk Execute Shipment" books (7-11 Cross Border, FamilyMart Freeze; its T-cat is booked by the
#: single-order call above). Region type codes from the Update Order Delivery Status page's list.
BULK_EXECUTE_REGION_TYPES = ("cross_border_711_store_pick_up", "cross_border_711_home_delivery",
                             "sl_logistics_fmt_freeze_pay", "sl_logistics_fmt_freeze_nopay")
#: order ids per Bulk Execute Shipment call ("Allow 24 order IDs in one batch")
MAX_BULK_ORDERS = 24
#: the answer's lists, each with what it says of an order named in it. The page's field table spells one of them
#: ``platformNotSupportOrderId``, its example ``platformNotSupportOrderIds``: both are read.
BULK_OUTCOMES = {
    "processingOrderIds": "booked (the carrier is processing it)",
    "processingFailedOrderIds": "Shopline could not process the booking (processingFailedOrderIds)",
    "statusErrorOrderIds": "its delivery status does not allow a booking (statusErrorOrderIds: not pending)",
    "platformNotSupportOrderIds": "its carrier is not one Bulk Execute Shipment books (platformNotSupportOrderIds)",
    "platformNotSupportOrderId": "its carrier is not one Bulk Execute Shipment books (platformNotSupportOrderId)",
    "notFoundOrderIds": "Shopline did not find the order (notFoundOrderIds)",
}
#: region types whose delivery status cannot be set by hand (Update Order Delivery Status page). The Kerry and YTO
#: ones, and 7-11 returns, no API call books: Shopline's admin does.
INTEGRATED_REGION_TYPES = EXECUTE_SHIPMENT_REGION_TYPES + BULK_EXECUTE_REGION_TYPES + (
    "711_return_nopay", "sl_logistics_kerry_th_nd",
    "sl_logistics_kerry_th_nd_cod", "sl_logistics_kerry_th_2d", "sl_logistics_kerry_th_2d_cod",
    "sl_logistics_kerry_th_3d", "sl_logistics_kerry_th_3d_cod", "sl_logistics_yto_home")

EXECUTE, BULK, STATUS, NOT_BY_API = ("execute_shipment", "bulk_execute_shipment", "order_delivery_status",
                                     "not_by_api")


def shipment_call(region_type: str | None, *, integrated: Collection[str] = INTEGRATED_REGION_TYPES,
                  executable: Collection[str] = EXECUTE_SHIPMENT_REGION_TYPES,
                  bulk: Collection[str] = BULK_EXECUTE_REGION_TYPES) -> str:
    """Which call ships an order whose delivery option has ``region_type``.

    ``execute_shipment`` for Shopline's bookable carriers, ``bulk_execute_shipment`` for those only the bulk call
    books, ``order_delivery_status`` for every delivery without a carrier integration, ``not_by_api`` for
    integrated carriers no API call books.
    """
    if region_type and region_type in executable:
        return EXECUTE
    if region_type and region_type in bulk:
        return BULK
    if region_type and region_type in integrated:
        return NOT_BY_API
    return STATUS


def tracking_number_of(raw: Mapping[str, Any]) -> str | None:
    """The tracking number Shopline holds for an order: ``delivery_data.tracking_number`` (Search Orders;
    tm731531/idempiere-oms ShoplineGetOrderListResponse.DeliveryData)."""
    data = raw.get("delivery_data")
    number = data.get("tracking_number") if isinstance(data, Mapping) else None
    return str(number).strip() or None if number else None


def shipment_recorded(raw: Mapping[str, Any]) -> bool:
    """True when Shopline's copy of the order shows the shipment happened or was booked with a carrier."""
    delivery = raw.get("order_delivery")
    delivery = delivery if isinstance(delivery, Mapping) else {}
    return (str(delivery.get("status") or "") in SHIPPED_STATUSES
            or str(delivery.get("delivery_status") or "") in REQUEST_STATES
            or tracking_number_of(raw) is not None)
