"""The example payloads of the public sources, fed through the mapper: the amounts and fields a person reads off
the source come out (docs/contracts/momo.md names each source).

- Momo.java (com/dsc/spos/utils/ec): the unsent-list field comments with their example values
  (``20140918203512-001-001-001``, 林O筠, 5743, JF90774668, 2014/08/29, 進價含稅 buyPrice ...), the stop list fields
  (allowExecuteYN, notAllowReason 待排程處理, returnReason);
- the TypeScript momo SCM client's tests: the store and third-party rows of its fixtures;
- the AES vector of shared/specs/marketplaces.md (password pass1234, one encrypted row).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal

from platforms.base import Order, UnmappableOrder
from platforms.momo.crypto import decrypt_data_list
from platforms.momo.mapping import cancel_request, map_order, map_rows, request_only_order

#: an unsent company row with the example value of every field Momo.java comments (the rest as "")
JAVA_COMPANY_ROW = {
    "itemNo": "1", "isRedStr": "正常", "completeOrderNo": "20140918203512-001-001-001", "remark5VStr": "可出貨",
    "msgNote": "", "scmDelyDate": "", "delyGbStr": "", "slipNo": "", "orderGbStr": "一般訂單", "msg": "(週一不配送)",
    "lastPricDate": "2014/08/29", "delyHopeDate": "", "receiver": "林小筠", "receiverTel": "02-27001234",
    "receiverMobile": "0912345678", "postNo": "106", "receiverAddr": "臺北市大安區復興南路一段100號",
    "entpGoodsNo": "", "goodsCode": "1000000", "goodsName": "保溫瓶", "goodsDtCode": "001", "goodsDtInfo": "無",
    "syslast": "2", "buyPrice": "1000", "describeNote": "", "custName": "林O筠", "invoiceNo": "JF90774668",
    "invoiceDate": "2014/08/29", "custId": "5743", "packYnStr": "否", "claimReason": "",
}
#: the TypeScript client's store-pickup fixture (its test "queries unshipped store-pickup orders")
TS_STORE_ROW = {"completeOrderNo": "STORE-001", "goodsName": "Store item", "goodsDtInfo": "Blue", "syslast": "2",
                "salePrice": "150", "Receiver": "Jane", "storeIdName": "Store A", "lastPricDate": "2026/08/01 10:00"}
#: the TypeScript client's third-party fixture
TS_THIRD_ROW = {"completeOrderNo": "THIRD-001", "goodsName": "Third-party item", "goodsDtInfo": "Large",
                "syslast": "1", "salePrice": "880", "receiverMask": "Jo*n", "receiverAddrMask": "Taipei City",
                "orderDelyGbName": "Carrier A", "scm_msg": "Delivery note", "lastPricDate": "2026/08/01 10:30"}
#: shared/specs/marketplaces.md: password pass1234 and the Base64 it gives for one row
AES_PASSWORD = "pass1234"
AES_CIPHERTEXT = ("7/8HriH6LHF/O/YxhT+JALTem3h4L6Roana+R++uTNmo4xG8idqqzZUeRU24Vb0OxZCzJMRr1zDb9kgelyPhZVu97p4LxHJZWuQh"
                  "tG9rLv8=")


def test_java_company_example_maps_to_the_amounts_and_fields_on_the_page():
    (order,) = map_rows([JAVA_COMPANY_ROW], query="unsendCompanyQuery")
    assert isinstance(order, Order)
    assert order.external_id == "20140918203512"  # 訂單編號: the head of completeOrderNo
    assert order.created_at == datetime(2014, 9, 18, 12, 35, 12, tzinfo=UTC)  # 20:35:12 Asia/Taipei
    (line,) = order.lines
    assert line.external_line_id == "20140918203512-001-001-001"
    assert (line.qty, line.unit_price) == (Decimal(2), Decimal(1000))  # syslast 2 at buyPrice 1000 (進價含稅)
    assert order.total == Decimal(2000) and order.currency == "TWD"
    assert line.sku == "1000000-001" and line.name == "保溫瓶"  # no entpGoodsNo: goodsCode-goodsDtCode; 無 dropped
    assert order.buyer.name == "林O筠" and order.buyer.id == "5743"  # custName as momo masks it, custId
    address = order.shipping_address
    assert (address.name, address.phone, address.zip) == ("林小筠", "0912345678", "106")
    assert (address.city, address.district, address.line1) == ("臺北市", "大安區", "復興南路一段100號")
    assert not address.masked and order.note == "(週一不配送)"
    assert order.status == "ready_to_ship" and order.platform_status == "unsendCompanyQuery"


def test_typescript_fixtures_are_held_with_a_reason_because_their_numbers_are_not_momo_numbers():
    """Bad input holds the one order: "STORE-001" carries no yyyyMMddHHmmss, so no order time can be read."""
    orders = map_rows([TS_STORE_ROW, TS_THIRD_ROW], query="unsendStoresQuery", price_field="salePrice")
    assert all(isinstance(o, UnmappableOrder) for o in orders)
    assert [o.external_id for o in orders] == ["STORE", "THIRD"]  # the order part of the number, as grouped
    assert all("does not start with a yyyyMMddHHmmss time" in o.reason for o in orders)


def test_typescript_store_fixture_with_a_momo_number_keeps_receiver_store_and_price():
    row = {**TS_STORE_ROW, "completeOrderNo": "20260801100000-001-001-001"}
    (order,) = map_rows([row], query="unsendStoresQuery", price_field="salePrice", filters={"dely_gb": "21"})
    assert order.shipping_address.name == "Jane" and order.shipping_address.line1 == "Store A"
    assert order.shipping_address.masked and order.note == "超商取貨 7-11 Store A"
    assert order.lines[0].name == "Store item Blue"
    assert (order.lines[0].qty, order.lines[0].unit_price, order.total) == (Decimal(2), Decimal(150), Decimal(300))
    # the default books momo's purchase price, which this fixture does not carry: held with the field named
    (held,) = map_rows([row], query="unsendStoresQuery")
    assert isinstance(held, UnmappableOrder) and "buyPrice is None" in held.reason


def test_typescript_third_party_fixture_with_a_momo_number_keeps_the_masked_receiver_and_carrier():
    row = {**TS_THIRD_ROW, "completeOrderNo": "20260801103000-001-001-001"}
    (order,) = map_rows([row], query="unsendThirdQuery", price_field="salePrice")
    address = order.shipping_address
    assert (address.name, address.full, address.masked) == ("Jo*n", "Taipei City", True)
    assert order.note == "Delivery note / 第三方物流 Carrier A"
    assert order.total == Decimal(880)


def test_the_documented_aes_vector_decrypts_to_a_row_the_mapper_holds_for_its_missing_price():
    rows = json.loads(decrypt_data_list(AES_CIPHERTEXT, AES_PASSWORD))
    assert rows == [{"completeOrderNo": "20140918203512-001-001-001", "syslast": "1"}]
    (held,) = map_rows(rows, query="unsendCompanyQuery")
    assert isinstance(held, UnmappableOrder) and held.external_id == "20140918203512"
    assert "buyPrice" in held.reason


def test_java_stop_rows_are_a_request_not_a_cancellation():
    stop = {"itemNo": "1", "allowExecuteYN": "N", "completeOrderNo": "20140918203512-001-001-001",
            "notAllowReason": "待排程處理", "returnReason": "客戶取消訂單", "receiver": "林小筠", "entpGoodsNo": "",
            "goodsCode": "1000000", "goodsName": "保溫瓶", "goodsDtCode": "001", "goodsDtInfo": "無", "syslast": "2",
            "msgNote": "", "packYnStr": "否"}
    request = cancel_request([stop])
    assert request.allowed is False and request.reason == "客戶取消訂單; 待排程處理"
    assert request.reference == "20140918203512-001-001-001"
    assert cancel_request([{**stop, "allowExecuteYN": "Y"}]).allowed is True
    assert cancel_request([{**stop, "allowExecuteYN": ""}]).allowed is None  # momo did not say: try, it decides
    order = map_order("20140918203512", [JAVA_COMPANY_ROW], query="unsendCompanyQuery", stop_rows=[stop])
    assert order.status == "ready_to_ship" and order.cancel_request == request and order.total == Decimal(2000)
    only = request_only_order("20140918203512", [stop])
    assert only.request_only and only.total is None and only.cancel_request == request
    assert only.lines[0].qty == Decimal(2) and only.lines[0].unit_price == Decimal(0)  # stop rows carry no price
