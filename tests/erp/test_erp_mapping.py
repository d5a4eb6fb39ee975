"""The pure mapping: timestamps at Taipei day/month boundaries, partner identifiers, filters, error texts."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from types import SimpleNamespace

import pytest

from oms_bridge.erp.client import CrudOp, DocActionOp
from oms_bridge.erp.config import ChannelMapping, ErpConfigError, ErpOptions
from oms_bridge.erp.holds import classify_error
from oms_bridge.erp.mapping import Unmappable, bp_value, erp_timestamp, order_group, po_filter
from oms_bridge.erp.reference import ReferenceFormatError, check_format, legacy_reference, po_reference

OPTIONS = ErpOptions()


def order(**kw):
    base = dict(external_id="X1", buyer_email="A@Example.com ", buyer_phone="0912-345-678", buyer_id="77",
                buyer_name="林志明", ship_name="林志明", ship_phone="0912345678", ship_country="TW", ship_state=None,
                ship_city="臺北市", ship_district="信義區", ship_zip="110", ship_address1="忠孝東路5號",
                ship_address2=None, note=None, order_created=datetime(2026, 1, 31, 16, 0, tzinfo=UTC), paid_at=None,
                shipping_fee=Decimal("0"), discount_amount=Decimal("0"),
                lines=[SimpleNamespace(line_no=1, sku="S1", name="n", qty=Decimal("2"), unit_price=Decimal("9.50"),
                                       discount=Decimal("1.25"))])
    base.update(kw)
    return SimpleNamespace(**base)


def test_erp_timestamp_crosses_taipei_month_boundary() -> None:
    assert erp_timestamp(datetime(2026, 1, 31, 16, 0, tzinfo=UTC), OPTIONS) == "2026-02-01 00:00:00"
    assert erp_timestamp(datetime(2026, 1, 31, 15, 59, 59, tzinfo=UTC), OPTIONS) == "2026-01-31 23:59:59"
    utc = ErpOptions(timezone="UTC")
    assert erp_timestamp(datetime(2026, 1, 31, 16, 0, tzinfo=UTC), utc) == "2026-01-31 16:00:00"
    with pytest.raises(ValueError):
        erp_timestamp(datetime(2026, 1, 1), OPTIONS)


def test_erp_bp_value_per_identifier() -> None:
    o = order()
    assert bp_value(o, ChannelMapping("shop", bp_identifier="email")) == "a@example.com"
    assert bp_value(o, ChannelMapping("shop", bp_identifier="phone")) == "0912345678"
    assert bp_value(o, ChannelMapping("shop", bp_identifier="buyer_id")) == "shop:77"
    assert bp_value(o, ChannelMapping("shop", bp_identifier="default", bpartner_id=5)) is None
    long = bp_value(order(buyer_email="x" * 60 + "@example.com"), ChannelMapping("shop"))
    assert len(long) == 40 and "~" in long


def test_erp_order_group_shape_and_decimals() -> None:
    mapping = ChannelMapping("shop", bpartner_id=None, discount_charge_id=9, ordersource_id=3, pricelist_id=101,
                             channel_id=7)
    ops = order_group(order(), mapping, OPTIONS, {"S1": 128})
    assert [op.role for op in ops] == ["bpartner", "location", "bp_location", "order", "line:1", "discount",
                                       "complete"]
    header = {f.column: f.val for f in ops[3].fields}
    assert header["POReference"] == "7-X1" and header["C_OrderSource_ID"] == "3"
    assert header["Description"].startswith("X1 (shop) ship to ")
    assert header["DateOrdered"] == "2026-02-01 00:00:00"
    assert header["C_BPartner_ID"] == "@C_BPartner.C_BPartner_ID"
    line = {f.column: f.val for f in ops[4].fields}
    assert line["PriceActual"] == "9.50" and line["QtyEntered"] == "2" and line["M_Product_ID"] == "128"
    discount = {f.column: f.val for f in ops[5].fields}
    assert discount["PriceActual"] == "-1.25" and discount["C_Charge_ID"] == "9"
    assert isinstance(ops[-1], DocActionOp) and ops[-1].record_id_variable == "@C_Order.C_Order_ID"
    country = next(f for f in ops[1].fields if f.column == "C_Country_ID")
    assert country.val == "" and country.lval == "Taiwan"
    assert all(isinstance(op, CrudOp) for op in ops[:-1])


def test_erp_order_group_problems_are_unmappable() -> None:
    mapping = ChannelMapping("shop", discount_charge_id=9)
    with pytest.raises(Unmappable) as exc:
        order_group(order(), mapping, OPTIONS, {})
    assert exc.value.code == "missing_sku:S1"
    with pytest.raises(Unmappable) as exc:
        order_group(order(buyer_email=None), mapping, OPTIONS, {"S1": 1})
    assert exc.value.code == "config:shop" and "no default ERP business partner" in exc.value.reason
    with pytest.raises(Unmappable) as exc:
        order_group(order(), ChannelMapping("shop"), OPTIONS, {"S1": 1})
    assert "discount of 1.25" in exc.value.reason


def test_erp_po_filter_escapes_quotes() -> None:
    assert po_filter(["A'1", "B2", "B2"]) == "POReference IN ('A''1','B2')"


def test_erp_classify_error_texts() -> None:
    """The texts iDempiere's code writes (docs/contracts/idempiere.md), in every version's wording."""
    access = classify_error("Web Service Error: Login role does not have access to the service type 'X'", role_id=7)
    assert access.reason.startswith("role 7 may not use service type X") and access.code == "erp_config:access:X"
    # ProductNotOnPriceListException: iDempiere <= 10 ("- Line No:10, Product:Patio Chair") and 11+ ("->")
    for text in ("Cannot save record in C_OrderLine: Product is not on PriceList - Line No:10, Product:Patio Chair, "
                 "Price List:Standard, Date:11/22/2026",
                 "Cannot save record in C_OrderLine: Product is not on PriceList -> Line No:10, Product: PChair - "
                 "Patio Chair, Price List: Standard, Date: 11/22/2026",
                 "Cannot save record in C_OrderLine: ProductNotOnPriceList -> Line:10, M_Product_ID: PChair",
                 "Cannot save record in C_OrderLine: PriceEntered=5, PriceLimit=10"):
        price = classify_error(text, role_id=7, channel="shop-a", op_role="line:1", sku="ABC-1", product_id=140)
        assert price.code == "price_list:ABC-1@shop-a", text
        assert price.reason.startswith("SKU ABC-1 (M_Product_ID 140) has no usable price on the price list")
        assert "oms-bridge sku map ABC-1" in price.reason and "--erp-pricelist-id" in price.reason
    gone = classify_error("Cannot save record in C_OrderLine: Foreign ID 999999 not found in M_Product_ID",
                          role_id=7, channel="shop-a", op_role="line:2", sku="ABC-2", product_id=999999)
    assert gone.code == "missing_sku:ABC-2"
    assert gone.reason.startswith("SKU ABC-2 is mapped to M_Product_ID 999999, which iDempiere does not have")
    partner = classify_error("Cannot save record in C_Order: Foreign ID 4711 not found in C_BPartner_ID", role_id=7,
                             channel="shop-a", op_role="order")
    assert partner.code == "config:shop-a" and "oms-bridge channel update shop-a --erp-bpartner-id" in partner.reason
    charge = classify_error("Cannot save record in C_OrderLine: Foreign ID 9 not found in C_Charge_ID", role_id=7,
                            channel="shop-a", op_role="shipping")
    assert charge.code == "config:shop-a" and "--erp-shipping-charge-id" in charge.reason
    # setDocAction: translated (6.2+), the bare key (no AD_Message), or the raw token
    for text in ("Failed when processing document: Period Closed", "FailedProcessingDocument: PeriodClosed",
                 "@FailedProcessingDocument@: @PeriodClosed@"):
        doc = classify_error(text, role_id=7, channel="shop-a", op_role="complete")
        assert doc.code == "erp_docaction@shop-a" and doc.reason.startswith("iDempiere could not complete the order: ")
        assert "Period" in doc.reason and "FailedProcessingDocument" not in doc.reason
    other = classify_error("Cannot save record in C_Order: boom", role_id=7)
    assert other.reason == "ERP rejected the order: Cannot save record in C_Order: boom"
    line = classify_error("Cannot save record in C_OrderLine: boom", role_id=7, op_role="line:3", sku="Z-9")
    assert line.reason == "ERP rejected line 3 (SKU Z-9): Cannot save record in C_OrderLine: boom"


def test_erp_options_validation() -> None:
    assert ErpOptions.from_json('{"service_types": {"order": "MyOrder"}}').service_types["order"] == "MyOrder"
    for bad in ('{"timezone": "Mars/Olympus"}', '{"service_types": {"nope": "x"}}', '{"batch_size": 0}', "[1]"):
        with pytest.raises(ErpConfigError):
            ErpOptions.from_json(bad)


def test_erp_po_reference_is_per_channel_and_always_fits() -> None:
    """POReference is 20 characters in iDempiere and longer values are cut silently (PO.set_Value): a Shopline
    id (24) or a momo completeOrderNo (26) keeps the channel part and becomes a digest that fits, stable and
    different per channel and per order."""
    assert po_reference("201214JAJXU6G7", 3, "shopee-a") == "3-201214JAJXU6G7"
    assert po_reference("1101", 3, "a") != po_reference("1101", 4, "b")
    shopline = po_reference("5f8d0d55b54764421b7156c3", 12, "shopline-a")
    assert len(shopline) == 20 and shopline.startswith("12-~") and shopline == po_reference(
        "5f8d0d55b54764421b7156c3", 12, "shopline-a")
    assert shopline != po_reference("5f8d0d55b54764421b7156c4", 12, "shopline-a")
    assert shopline != po_reference("5f8d0d55b54764421b7156c3", 13, "shopline-b")
    momo = po_reference("20140918203512-001-001-001", 5, "momo-a")
    assert len(momo) == 20 and momo.startswith("5-~")
    assert po_reference("20140918203512-001-001-001", 5, "momo-a", length=40) == "5-20140918203512-001-001-001"
    assert len(po_reference("x" * 60, 123456, "c", fmt="{channel}/{order}")) == 20
    assert legacy_reference("5f8d0d55b54764421b7156c3") == "5f8d0d55b54764421b71"
    for bad in ("{order}", "{channel_id}", "{shop}-{order}", "{channel_id}-{order"):
        with pytest.raises(ReferenceFormatError):
            check_format(bad)
    with pytest.raises(ReferenceFormatError, match="leaves 3 of 20 characters"):
        po_reference("5f8d0d55b54764421b7156c3", 1, "a-long-shop-name", fmt="{channel}-{order}")
    with pytest.raises(ErpConfigError, match="must contain"):
        ErpOptions.from_json('{"po_reference_format": "{order}"}')
