"""Payloads exactly as Shopline's public pages print them, with the page each comes from.

The contract test feeds these through the mapper and the adapter and asserts what a person reads off the page.
Values are copied from the pages; where a page shows one field of an object, the rest of the object is the
smallest addition that lets the payload be an order (marked "assembled").
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

#: open-api.docs.shoplineapp.com/docs/order-item ("Order Subtotal_items"): item_price, the final checkout price
ITEM_PRICE = {"cents": 888, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$888", "dollars": 888.0}
#: same page: object_data.price (original price), object_data.price_sale (sale price), object_data.cost
ORIGINAL_PRICE = {"cents": 900, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$900", "dollars": 900}
SALE_PRICE = {"cents": 500, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$500", "dollars": 500}
COST = {"cents": 100, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$100", "dollars": 100}
#: a captured storefront delivery option (public code, region_type tw_tcat_roomtemp): fee
DELIVERY_FEE = {"cents": 130, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$130", "dollars": 130}
#: a captured purchase order (public code): other_fee and total_amount
OTHER_FEE = {"cents": 120, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$120", "dollars": 120.0}
TOTAL_AMOUNT = {"cents": 419, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$419", "dollars": 419.0}

#: the documented subtotal item (ids, sku, translations and quantity from the same page; total = item_price × 1)
SUBTOTAL_ITEM: dict[str, Any] = {
    "id": "5b2b64bd8d1db91156002687", "item_type": "Product", "item_id": "5892d7339a76f01718000b53",
    "item_variation_key": "5b2b5e4a4e22a6ff3200259d", "item_price": ITEM_PRICE,
    "object_data": {"price": ORIGINAL_PRICE, "price_sale": SALE_PRICE, "cost": COST},
    "title_translations": {"en": "Sl Watch", "zh-hant": "Sl 手錶"},
    "fields_translations": {"en": ["Red", "M"], "zh-hant": ["紅", "中"]},
    "sku": "sl_watch_red_m", "is_preorder": False, "quantity": 1, "total": ITEM_PRICE,
}

#: assembled: Get Order's documented ids and statuses around the documented item, fee and amounts
#: (id 5d8c8b3be388095d25acbc89 and order_number 2019052707260498 from the Get Order page; total = 888 + 130)
ORDER: dict[str, Any] = {
    "id": "5d8c8b3be388095d25acbc89", "order_number": "2019052707260498", "status": "confirmed",
    "currency_iso": "TWD",
    "subtotal": ITEM_PRICE,
    "order_discount": {"cents": 0, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "", "dollars": 0},
    "total": {"cents": 1018, "currency_symbol": "NT$", "currency_iso": "TWD", "label": "NT$1,018",
              "dollars": 1018.0},
    "order_payment": {"status": "completed", "payment_type": "credit_card", "paid_at": "2026-03-14T16:00:00.000Z"},
    "order_delivery": {"id": "5e3d898d622a5606b929d686", "delivery_option_id": "60f0e9ea4d94950038b4121b",
                       "status": "pending", "delivery_status": "pending", "total": DELIVERY_FEE},
    "delivery_address": {"country_code": "TW", "city": "桃園市", "postcode": "320", "address_1": "興仁路3段19號",
                         "address_2": "中壢區", "recipient_name": "陳怡君", "recipient_phone": "0912345678"},
    "delivery_data": {"tracking_number": None},
    "customer_id": "5c403b6ce84a590001284cb6", "customer_name": "陳怡君", "customer_email": "buyer@example.tw",
    "subtotal_items": [SUBTOTAL_ITEM],
    "created_at": "2026-03-14T15:59:59.000Z", "updated_at": "2026-03-14T16:00:00.000Z",
}

#: shopline-developers.readme.io/docs/after-user-has-authorized: the token answer
TOKEN_ANSWER = {
    "access_token": "eyJhbGciOiJIUzI1NiJ9.eyJqdGkiOiJkZTNjOWJkOGU3MGQwNWYzOTk2Mjc0Mjc2NzYwYWFkNiIsImRhdGEiOnsibWVyY2h"
                    "hbnRfaWQiOiI1ZjBiZGE1ZTRlNWZjYTAwMTBjODFmZWYiLCJhcHBsaWNhdGlvbl9pZCI6IjYzNWE1ODE3ZmQ4NTFiMDAwZD"
                    "JmNTk0ZCJ9LCJpc3MiOiJodHRwczovL2RldmVsb3BlcnMuc2hvcGxpbmVhcHAuY29tIiwiYXVkIjpbXSwic3ViIjoiNWYwY"
                    "mRhNWU0ZTVmY2EwMDEwYzgxZmVmIn0.lEsz0R_VOBwKwLmI9x5X4MDlzeVX3ptY4jtLXsqX2eM",
    "token_type": "Bearer", "expires_in": 15778476,
    "refresh_token": "bc2c3d3f1ce8776d2f358e74683e275d68dc8fea2c78a2c2080d9014c5730879",
    "scope": "products orders", "created_at": 1678956849, "resource_owner_id": "5f0bda5e4e5fca0010c81fef",
}

#: open-api.docs.shoplineapp.com/v2.82.16/docs/execute-shipment: the answer and the failure sample
EXECUTE_SHIPMENT_ANSWER = {"delivery_status": "request_accepted", "tracking_number": "SL0123456789"}
EXECUTE_SHIPMENT_FAILURE = {"error": "Order#[5e3d898d622a5606b929d686] integrated delivery service error",
                            "code": "0004"}
#: open-api.docs.shoplineapp.com/docs/update-order-delivery-status: the answer
DELIVERY_STATUS_ANSWER = {"order_id": "59e97965e388095314000010", "status": "arrived",
                          "updated_at": "2018-05-17T11:38:56.473+08:00"}
#: open-api.docs.shoplineapp.com/docs/openapi-request-example: HTTP 429
RATE_LIMITED = {"error": "Rate limit exceeded for attempts to access Open API. please try again later",
                "code": "RateLimitExceeded"}


def order(**changes: Any) -> dict[str, Any]:
    """A deep copy of :data:`ORDER` with top-level fields replaced."""
    copy = deepcopy(ORDER)
    copy.update(deepcopy(changes))
    return copy
