"""The documented Cyberbiz payloads through our code, asserting what a person reads off the source.

Sources (actinc/cyberbiz-sdk; facts listed in docs/contracts/cyberbiz.md):

- ``testdata/golden/v1/GET_v1_orders.json``: a RECORDED answer of ``GET /v1/orders`` (redacted), trimmed
  here to the fields the mapper reads plus their neighbours; its only line is a combo product.
- ``docs/api/en/cyberbiz-openapi-v1.yaml``: the synthetic ``Order`` sample (PUT
  /v1/orders/{order_id}/cancelled, 200), the ``custom_shipping`` request sample and its ``tracking_company``
  enum, the ``OrderFulfillments`` sample (201) and the shared error samples (components/examples).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from platforms.base import (
    AuthExpired,
    ChannelConfig,
    CredentialsInvalid,
    Order,
    PermanentError,
    PlatformConfig,
    RateLimited,
    Shipment,
)
from platforms.cyberbiz.adapter import CyberbizAdapter
from platforms.cyberbiz.carriers import TRACKING_COMPANIES
from platforms.cyberbiz.client import classify
from platforms.cyberbiz.mapping import map_order
from platforms.cyberbiz.refusals import FeatureNotLicensed


def _golden_order(order_id: int, line_id: int, created: str, updated: str) -> dict:
    """One order of testdata/golden/v1/GET_v1_orders.json, values as recorded (personal data was REDACTED)."""
    return {
        "id": order_id, "subtotal_price": 9999.0, "created_at": created, "updated_at": updated,
        "order_number": 1101, "order_name": "#1101",
        "customer": {"name": "REDACTED", "status": "enabled", "email": "redacted@example.com",
                     "country_calling_code": None, "mobile": "0912345678", "id": 42058619},
        "buyer": {"email": "redacted@example.com", "mobile": None},
        "receiver": {"name": "REDACTED", "country_calling_code": None, "phone": "0912345678", "address": "REDACTED",
                     "detail_address": {"zip": "REDACTED", "country": None, "province": None, "city": "REDACTED",
                                        "district": "REDACTED", "address1": "REDACTED", "address2": None},
                     "cvs_store_id": None, "allpay_logistics_id": None},
        "line_items": [{
            "id": line_id, "product_id": 68751035, "product_variant_id": 83653695, "title": "哥本組",
            "variant_title": "", "sku": None, "qc": None, "vendor": None, "price": 9999.0, "cost": None,
            "quantity": 1, "item_type": "normal", "return_status": None, "discount_name": "", "discounts": [],
            "total_price_before_discounts": 9999.0, "total_discount": 0, "total_price_after_discounts": 9999.0,
            "tax_type_id": "inclusive_tax", "bonus_redemption_price": None,
            "related_items": [{"quantity": 1, "items": [
                {"id": 83653662, "product_id": 68751014, "product_variant_id": 83653662, "title": "哥本哈根28",
                 "variant_title": "哥本哈根28 - 人魚粉", "sku": "SKU-a4eb96", "qc": None, "vendor": None,
                 "price": 14990.0, "cost": None, "quantity": 1, "combo_product_price_difference": 9991,
                 "combo_product_price_diff_details": [9991]},
                {"id": 83730772, "product_id": 68786971, "product_variant_id": 83730772, "title": "哥本哈根28",
                 "variant_title": "哥本哈根28 - 杏仁奶白", "sku": "SKU-d76be1", "qc": None, "vendor": None,
                 "price": 14990.0, "cost": None, "quantity": 1, "combo_product_price_difference": 9990,
                 "combo_product_price_diff_details": [9990]}]}],
            "created_at": created, "channel": None, "weight": 0.0, "custom_fields": []}],
        "shipping_type": "cyberbiz", "shipping_name": "門市取貨", "shipping_vendor": {"type": "custom",
                                                                                  "name": "REDACTED"},
        "fulfillments": [], "payment_name": "銀行轉帳", "payment_method": "銀行轉帳", "multiple_payment_infos": [],
        "prices": {"total_line_items_price": 9999.0, "shipping_rate_price": 0.0,
                   "discounts": {"special_collection_discount": 0, "vip_discount": 0.0, "shop_discount": None,
                                 "coupon_discount": None, "coupon_discounts": [], "bonus_consumed": 0.0,
                                 "vip_shipping_discount": 0, "coupon_shipping_discount": 0, "price_discount": 0,
                                 "third_party_discount": 0},
                   "total_price": 9999.0},
        "statuses": {"order_status": "open", "financial_status": "pending", "fulfillment_status": "unshipped",
                     "return_status": "no_need"},
        "timings": {"request_return_at": None, "return_at": None, "refund_at": None, "closed_at": None,
                    "cancelled_at": None, "expired_at": None, "confirmed_at": created},
        "note": "", "tags": [],
    }


GOLDEN_ORDERS = [_golden_order(56943817, 126360067, "2026-09-07 12:35:05", "2026-09-07 12:35:06"),
                 _golden_order(56944000, 126360459, "2026-09-07 12:39:33", "2026-09-07 12:39:33")]

#: the yaml's synthetic ``Order`` sample (PUT /v1/orders/{order_id}/cancelled → 200), fields the mapper reads
YAML_ORDER = {
    "id": 1, "subtotal_price": 100.0, "created_at": "2026-09-01 10:00:00", "updated_at": "2026-09-01 10:00:00",
    "order_number": 1, "order_name": "範例",
    "customer": {"name": "範例名稱", "email": "customer@example.com", "country_calling_code": "+886",
                 "mobile": "0912345678", "id": 1},
    "buyer": {"email": "customer@example.com", "mobile": "0912345678"},
    "receiver": {"name": "範例名稱", "country_calling_code": "+886", "phone": "0912345678",
                 "address": "台北市信義區市府路1號",
                 "detail_address": {"zip": "110", "country": "範例", "province": "範例", "city": "台北市",
                                    "district": "信義區", "address1": "市府路1號", "address2": "範例"},
                 "cvs_store_id": "範例", "allpay_logistics_id": "TXN0000001"},
    "line_items": [{"id": 1, "product_id": 1, "product_variant_id": 1, "title": "範例標題",
                    "variant_title": "範例商品 - 紅色", "sku": "SKU-001", "qc": "QC-001", "vendor": "範例",
                    "price": 100.0, "cost": 100.0, "quantity": 1, "item_type": "範例", "return_status": "no_need",
                    "discount_name": "範例", "discounts": [None], "total_price_before_discounts": 100.0,
                    "total_discount": 100.0, "total_price_after_discounts": 100.0, "tax_type_id": "inclusive_tax",
                    "bonus_redemption_price": 100.0, "related_items": [None], "created_at": "2026-09-01 10:00:00",
                    "channel": "範例", "weight": 100.0, "custom_fields": [None]}],
    "shipping_type": "範例", "shipping_name": "範例", "logistics_id": "TXN0000001",
    "fulfillments": [{"id": 1, "tracking_company": "範例", "tracking_number": "TRK000000001",
                      "fulfilled_at": "2026-09-01 10:00:00", "received_at": "2026-09-01 10:00:00", "status": "範例",
                      "line_items": [None], "tracking_url": "https://example.cyberbiz.co/sample"}],
    "payment_name": "範例", "payment_method": "範例",
    "prices": {"total_line_items_price": 100.0, "shipping_rate_price": 100.0,
               "discounts": {"special_collection_discount": 100.0, "vip_discount": 100.0, "shop_discount": None,
                             "coupon_discount": None, "bonus_consumed": 100.0}, "total_price": 100.0},
    "statuses": {"order_status": "open", "financial_status": "paid", "fulfillment_status": "unshipped",
                 "return_status": "no_need"},
    "timings": {"request_return_at": "2026-09-01 10:00:00", "return_at": "2026-09-01 10:00:00",
                "refund_at": "2026-09-01 10:00:00", "closed_at": "2026-09-01 10:00:00",
                "cancelled_at": "2026-09-01 10:00:00", "expired_at": "2026-09-01 10:00:00",
                "confirmed_at": "2026-09-01 10:00:00"},
    "note": "範例備註",
}

#: the yaml's ``custom_shipping`` request sample and the ``tracking_company`` enum, in the yaml's order
YAML_CUSTOM_SHIPPING = {"line_item_ids": "範例", "tracking_number": "TRK000000001", "tracking_company": "skynet",
                        "notify_customer": False}
YAML_TRACKING_COMPANIES = (
    "ezcat e_can postserv hct DHL fedex UPS TNT tjoin cfe_express dpex sd_express maple_express EZSHIP SEVEN "
    "Allpay_SEVEN ems Allpay_FAMILY FAMILY FAMILY_C2C HILIFE SEVEN_C2C SF FAMILY_COLD SHYANG_YIH ezcat_cvs "
    "ezcat_cvs_cold ezcat_cvs_refrigerate ecpay_b2c_seven_cod ecpay_b2c_seven_prepaid ecpay_b2c_family_cod "
    "ecpay_b2c_family_prepaid amazon_fba HILIFE_C2C HILIFE_COLD japan_post linex_hub_ez pandago uber_direct "
    "FAMILY_COLD_C2C SEVEN_C2B ninja_van g_dex line_clear_express jt_express pos_laju lalamove abx_express skynet "
    "city_link direct_freight_express australia_post cyberbiz_express other").split()

#: the yaml's ``OrderFulfillments`` sample (201 of custom_shipping), trimmed to one line without its children
YAML_FULFILLMENT = {"id": 1, "tracking_company": "範例", "tracking_number": "TRK000000001",
                    "fulfilled_at": "2026-09-01 10:00:00", "received_at": "2026-09-01 10:00:00", "status": "範例",
                    "line_items": [{"id": 2, "sku": "SKU-001", "price": 3391.79, "quantity": 7259}],
                    "tracking_url": "https://example.cyberbiz.co/sample"}


def test_cyberbiz_recorded_orders_map_to_their_products():
    first, second = (map_order(raw, channel="cbz") for raw in GOLDEN_ORDERS)
    assert isinstance(first, Order) and isinstance(second, Order)
    assert first.external_id == "56943817"
    assert first.created_at == datetime(2026, 9, 7, 4, 35, 5, tzinfo=UTC)  # 12:35:05 Asia/Taipei
    assert first.updated_at == datetime(2026, 9, 7, 4, 35, 6, tzinfo=UTC)
    assert (first.status, first.platform_status, first.paid_at) == ("unpaid", "open/pending/unshipped/no_need", None)
    assert (first.currency, first.total, first.shipping_fee, first.discount) == ("TWD", Decimal(9999), 0, 0)
    assert [(line.sku, line.qty, line.unit_price, line.discount, line.external_line_id) for line in first.lines] == [
        ("SKU-a4eb96", 1, Decimal(4999), 0, "126360067:83653662"),  # 14990.0 - 9991
        ("SKU-d76be1", 1, Decimal(5000), 0, "126360067:83730772"),  # 14990.0 - 9990
    ]
    assert [line.external_line_id for line in second.lines] == ["126360459:83653662", "126360459:83730772"]
    assert first.payment_method == "銀行轉帳" and first.packages == ()
    assert (first.buyer.id, first.buyer.email, first.buyer.phone) == ("42058619", "redacted@example.com",
                                                                      "0912345678")
    assert (first.shipping_address.country, first.shipping_address.phone, first.shipping_address.line2) == (
        "TW", "0912345678", None)


def test_cyberbiz_yaml_order_sample_maps_field_by_field():
    order = map_order(YAML_ORDER, channel="cbz")
    assert isinstance(order, Order), order
    assert (order.external_id, order.status, order.platform_status) == ("1", "paid", "open/paid/unshipped/no_need")
    assert order.created_at == order.updated_at == datetime(2026, 9, 1, 2, 0, tzinfo=UTC)
    assert order.paid_at == datetime(2026, 9, 1, 2, 0, tzinfo=UTC)  # timings.confirmed_at of a paid order
    (line,) = order.lines  # related_items [null]: no combo
    assert (line.sku, line.name, line.qty, line.unit_price, line.discount, line.external_line_id) == (
        "SKU-001", "範例標題 範例商品 - 紅色", 1, Decimal(100), Decimal(100), "1")
    assert (order.total, order.shipping_fee, order.discount) == (Decimal(100), Decimal(100), Decimal(0))
    address = order.shipping_address
    assert (address.name, address.phone, address.zip, address.city, address.district, address.line1) == (
        "範例名稱", "0912345678", "110", "台北市", "信義區", "市府路1號")
    assert address.country == "TW" and address.line2 == "超商門市 範例" and address.full == "台北市信義區市府路1號"
    assert (order.buyer.id, order.buyer.name, order.buyer.email) == ("1", "範例名稱", "customer@example.com")
    assert order.packages == ("1",) and order.payment_method == "範例" and order.note == "範例備註"


def test_cyberbiz_custom_shipping_body_and_carriers_match_the_yaml():
    assert tuple(YAML_TRACKING_COMPANIES) == TRACKING_COMPANIES
    sent: list[dict] = []

    class Recorder:  # the I/O edge only: what ship() would POST
        def custom_shipping(self, order_id, body):
            sent.append(dict(body))
            return dict(YAML_FULFILLMENT)

        def fulfillments(self, order_id):
            return [dict(YAML_FULFILLMENT)]

    adapter = CyberbizAdapter(PlatformConfig(host="http://127.0.0.1:9"),
                              ChannelConfig(name="cbz", settings={"auth_model": "token", "notify_customer": False},
                                            credentials={"access_token": "t"}))
    adapter._client = Recorder()  # type: ignore[assignment]
    order = map_order(YAML_ORDER)
    result = adapter.ship(order, Shipment("TRK000000001", carrier="Skynet"))
    assert set(sent[0]) == set(YAML_CUSTOM_SHIPPING)
    assert sent[0] == {**YAML_CUSTOM_SHIPPING, "line_item_ids": "1"}
    assert result.tracking_number == "TRK000000001"
    state = adapter.shipment_state(order)
    assert state.tracking_number == "TRK000000001" and state.raw["latest"]["id"] == 1


def _response(status: int, body) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body, ensure_ascii=False).encode()
    return response


@pytest.mark.parametrize("status, body, auth_model, error, text", [
    (401, {"error": ["無權使用該 API"]}, "v2", AuthExpired, "HTTP 401"),
    (401, {"error": ["無權使用該 API"]}, "token", CredentialsInvalid, "refused the API token"),
    (401, {"error": ["無「電子票券」功能，請聯絡您的開店顧問"]}, "v2", FeatureNotLicensed, "「電子票券」"),
    (401, {"error": ["無「庫存同步群組」功能，請聯絡您的開店顧問"]}, "token", FeatureNotLicensed, "「庫存同步群組」"),
    (403, {"error": "Must have pos_shop_coupon plugin"}, "v2", FeatureNotLicensed, "「pos_shop_coupon」"),
    (404, {"error": ["無此資源"]}, "v2", PermanentError, "not found: 無此資源"),
    (422, {"error": ["custom_field_type 無效值"]}, "v2", PermanentError, "HTTP 422"),
    (429, {"error": ["Rate limit exceeded"]}, "v2", RateLimited, "Rate limit exceeded"),
    (401, {"message": "HMAC signature does not match"}, "v1", CredentialsInvalid, "check the HMAC secret"),
    (401, {"message": "HMAC signature cannot be verified, a valid date or x-date header is required for HMAC "
                      "Authentication"}, "v1", CredentialsInvalid, "server's time"),
])
def test_cyberbiz_documented_error_bodies_are_classified(status, body, auth_model, error, text):
    with pytest.raises(error, match=text) as caught:
        classify(_response(status, body), auth_model=auth_model)
    assert type(caught.value) is error or (error is PermanentError and type(caught.value) is PermanentError)
