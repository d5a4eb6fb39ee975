"""Stored order → one ``<operations>`` group of iDempiere operations (PURE: no network, no database).

One group per order, its own transaction on the server (``shared/specs/idempiere.md`` §1.3):

1. business partner + location, unless the channel uses its default partner. The partner is
   found-or-created by ``createUpdateData`` on ``C_BPartner.Value`` (identifier column), whose value
   comes from the channel's identifier: ``email`` (lower-cased), ``phone`` (digits), ``buyer_id``
   (``<channel>:<buyer id>``, buyer ids are only unique per marketplace). Values longer than
   C_BPartner.Value's 40 characters are cut and suffixed with a short hash. An order without that
   identifier falls back to the channel's default partner (Shopee masks e-mails, for example).
   The address is a new C_Location (createData) plus a C_BPartner_Location found-or-created by
   (C_BPartner_ID, Name) where Name is the one-line address: the same address reuses the row.
2. C_Order header: doc type, warehouse, price list, payment rule, ``POReference`` = marketplace
   order number (the dedupe key), ``C_OrderSource_ID`` = channel's order source, DateOrdered/
   DatePromised = order creation time in the ERP's local zone as ``yyyy-mm-dd hh:mm:ss``
   (Timestamp.valueOf). Columns whose channel value is unset are not sent (MOrder.beforeSave fills
   them), so an admin only allows the input columns the bridge really sends.
3. one C_OrderLine per line at the unit price before discount; the product is resolved by the
   caller (``oms_sku_map``, channel-specific first, else ``M_Product.Value`` = SKU).
4. shipping fee and discounts as charge lines (``C_Charge_ID``): discount = order discount plus
   the lines' discounts, sent as a negative price. A fee or discount without a configured charge
   holds the order (a silently wrong ERP total is worse than a visible hold).
5. ``setDocAction`` CO with ``recordIDVariable`` ``@C_Order.C_Order_ID``.

Problems become :class:`Unmappable` with the sentence the admin reads and a hold code the fix
uses to re-arm exactly those orders (``missing_sku:<SKU>``, ``config:<channel>``).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from oms_bridge.erp.client import CrudOp, DocActionOp, Field, Operation
from oms_bridge.erp.config import ChannelMapping, ErpOptions

__all__ = ["Unmappable", "order_group", "cancel_group", "complete_group", "po_reference", "po_filter", "product_filter",
           "bp_value", "erp_timestamp", "classify_error", "ORDER_ROLE", "HoldReason"]

ORDER_ROLE = "order"
BP_VALUE_MAX = 40


class Unmappable(Exception):
    """The order cannot go to the ERP until the admin fixes something."""

    def __init__(self, reason: str, code: str):
        super().__init__(reason)
        self.reason = reason
        self.code = code


@dataclass(frozen=True)
class HoldReason:
    reason: str
    code: str


def _num(value: Decimal) -> str:
    """Plain decimal text (never exponent notation, never float)."""
    return format(value, "f")


def erp_timestamp(when: datetime, options: ErpOptions) -> str:
    """An aware time as iDempiere's Timestamp.valueOf text in the ERP's local zone."""
    if when.tzinfo is None:
        raise ValueError("erp_timestamp needs an aware datetime")
    return when.astimezone(options.zone).strftime("%Y-%m-%d %H:%M:%S")


def _sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def po_reference(order: Any) -> str:
    """The C_Order.POReference that names this marketplace order in the ERP: the exactly-once key.

    One function for every place that writes it or looks it up (the create below, the delivery's
    pre-check, reconciliation), so a change of its format changes all of them together.
    """
    return order.external_id


def po_filter(po_references: Iterable[str]) -> str:
    """queryData Filter (a SQL where clause) for these POReferences."""
    return "POReference IN (" + ",".join(_sql_literal(p) for p in sorted(set(po_references))) + ")"


def product_filter(values: Iterable[str]) -> str:
    """queryData Filter for products by search key (M_Product.Value)."""
    return "Value IN (" + ",".join(_sql_literal(v) for v in sorted(set(values))) + ")"


def _fit(value: str, limit: int = BP_VALUE_MAX) -> str:
    if len(value) <= limit:
        return value
    digest = hashlib.sha256(value.encode("utf-8")).hexdigest()[:8]
    return value[: limit - 9] + "~" + digest


def bp_value(order: Any, mapping: ChannelMapping) -> str | None:
    """The C_BPartner.Value identifying this buyer, or None when the channel/order has none."""
    kind = mapping.identifier
    if kind == "email" and order.buyer_email:
        return _fit(order.buyer_email.strip().lower())
    if kind == "phone":
        phone = order.buyer_phone or order.ship_phone
        digits = re.sub(r"\D", "", phone or "")
        return _fit(digits) if digits else None
    if kind == "buyer_id" and order.buyer_id:
        return _fit(f"{mapping.channel}:{order.buyer_id}")
    return None


def _address_name(order: Any) -> str:
    parts = [order.ship_zip, order.ship_city, order.ship_district, order.ship_address1, order.ship_address2]
    return ("".join(p for p in parts if p) or order.ship_name or ".")[:60]


def _bp_ops(order: Any, value: str, options: ErpOptions) -> list[Operation]:
    st = options.service_types
    name = (order.buyer_name or order.ship_name or value)[:60]
    country = order.ship_country or options.default_country
    country_name = options.country_names.get(country, country)
    address2 = " ".join(p for p in (order.ship_district, order.ship_address2) if p)
    location = [Field("Address1", (order.ship_address1 or "")[:60]), Field("Address2", address2[:60]),
                Field("City", (order.ship_city or "")[:60]), Field("Postal", (order.ship_zip or "")[:10]),
                Field("RegionName", (order.ship_state or "")[:60]), Field("C_Country_ID", "", lval=country_name)]
    return [
        CrudOp("createUpdateData", st["bpartner"], "C_BPartner", "CreateUpdate",
               (Field("Value", value), Field("Name", name), Field("IsCustomer", "Y")), role="bpartner"),
        CrudOp("createData", st["location"], "C_Location", "Create", tuple(location), role="location"),
        CrudOp("createUpdateData", st["bp_location"], "C_BPartner_Location", "CreateUpdate",
               (Field("C_BPartner_ID", "@C_BPartner.C_BPartner_ID"), Field("Name", _address_name(order)),
                Field("C_Location_ID", "@C_Location.C_Location_ID"),
                Field("Phone", (order.ship_phone or order.buyer_phone or "")[:40]),
                Field("IsShipTo", "Y"), Field("IsBillTo", "Y")), role="bp_location"),
    ]


def _description(order: Any) -> str:
    ship = " ".join(p for p in (order.ship_name, order.ship_phone, _address_name(order)) if p)
    text = f"{order.external_id} ship to {ship}"
    if order.note:
        text += f" / {order.note}"
    return text[:255]


def order_group(order: Any, mapping: ChannelMapping, options: ErpOptions, products: Mapping[str, int],
                *, now: datetime | None = None) -> list[Operation]:
    """The operations creating and completing this order (see module doc); raises :class:`Unmappable`."""
    st = options.service_types
    ops: list[Operation] = []
    value = bp_value(order, mapping)
    if value is None and mapping.bpartner_id is None:
        raise Unmappable(
            f"order {order.external_id} has no buyer {mapping.identifier} and channel {mapping.channel} has no "
            f"default ERP business partner (oms-bridge channel update {mapping.channel} "
            f"--erp-bpartner-id <C_BPartner_ID>)", f"config:{mapping.channel}")
    if value is not None:
        ops.extend(_bp_ops(order, value, options))
        bpartner = Field("C_BPartner_ID", "@C_BPartner.C_BPartner_ID")
        location: Field | None = Field("C_BPartner_Location_ID", "@C_BPartner_Location.C_BPartner_Location_ID")
    else:
        bpartner, location = Field("C_BPartner_ID", str(mapping.bpartner_id)), None

    when = order.order_created or order.paid_at or now or datetime.now(UTC)
    header: list[Field] = []
    optional_ids = (("AD_Org_ID", mapping.org_id), ("C_DocTypeTarget_ID", mapping.doctype_id))
    header += [Field(col, str(v)) for col, v in optional_ids if v]
    header += [Field("IsSOTrx", "Y"), bpartner] + ([location] if location else [])
    header += [Field(col, str(v)) for col, v in (("M_Warehouse_ID", mapping.warehouse_id),
                                                ("M_PriceList_ID", mapping.pricelist_id)) if v]
    if mapping.payment_rule:
        header.append(Field("PaymentRule", mapping.payment_rule))
    header.append(Field("POReference", po_reference(order)))
    if mapping.ordersource_id:
        header.append(Field("C_OrderSource_ID", str(mapping.ordersource_id)))
    stamp = erp_timestamp(when, options)
    header += [Field("DateOrdered", stamp), Field("DatePromised", stamp), Field("Description", _description(order))]
    ops.append(CrudOp("createData", st["order"], "C_Order", "Create", tuple(header), role=ORDER_ROLE))

    line_discounts = Decimal(0)
    for line in order.lines:
        if not line.sku:
            raise Unmappable(f"line {line.line_no} ({line.name}) of order {order.external_id} has no SKU",
                             f"no_sku:{order.external_id}")
        product = products.get(line.sku)
        if product is None:
            raise Unmappable(f"SKU {line.sku} has no ERP product (map it: oms-bridge sku map {line.sku} --product "
                             f"<M_Product_ID>)", f"missing_sku:{line.sku}")
        line_discounts += line.discount or Decimal(0)
        ops.append(_line(st["order_line"], Field("M_Product_ID", str(product)), line.qty, line.unit_price,
                         f"{line.sku} {line.name or ''}".strip(), f"line:{line.line_no}"))

    fee = order.shipping_fee or Decimal(0)
    if fee:
        if not mapping.shipping_charge_id:
            raise Unmappable(f"order {order.external_id} has a shipping fee of {_num(fee)} but channel "
                             f"{mapping.channel} has no ERP shipping charge (oms-bridge channel update "
                             f"{mapping.channel} "
                             f"--erp-shipping-charge-id <C_Charge_ID>)",
                             f"config:{mapping.channel}")
        ops.append(_line(st["order_line"], Field("C_Charge_ID", str(mapping.shipping_charge_id)), Decimal(1), fee,
                         "shipping fee", "shipping"))
    discount = (order.discount_amount or Decimal(0)) + line_discounts
    if discount:
        if not mapping.discount_charge_id:
            raise Unmappable(f"order {order.external_id} has a discount of {_num(discount)} but channel "
                             f"{mapping.channel} has no ERP discount charge (oms-bridge channel update "
                             f"{mapping.channel} "
                             f"--erp-discount-charge-id <C_Charge_ID>)",
                             f"config:{mapping.channel}")
        ops.append(_line(st["order_line"], Field("C_Charge_ID", str(mapping.discount_charge_id)), Decimal(1),
                         -discount, "discount", "discount"))
    ops.append(DocActionOp(st["complete"], "CO", record_id_variable="@C_Order.C_Order_ID", role="complete"))
    return ops


def _line(service_type: str, what: Field, qty: Decimal, price: Decimal, description: str, role: str) -> CrudOp:
    fields = (Field("C_Order_ID", "@C_Order.C_Order_ID"), what, Field("QtyEntered", _num(qty)),
              Field("QtyOrdered", _num(qty)), Field("PriceEntered", _num(price)), Field("PriceActual", _num(price)),
              Field("Description", description[:255]))
    return CrudOp("createData", service_type, "C_OrderLine", "Create", fields, role=role)


def complete_group(record_id: int, options: ErpOptions) -> list[Operation]:
    """Complete an order the ERP already has as a draft (found by the pre-check, e.g. saved by hand)."""
    return [DocActionOp(options.service_types["complete"], "CO", record_id=record_id, role="complete")]


def cancel_group(record_id: int, options: ErpOptions) -> list[Operation]:
    """Void or close (``cancel_doc_action``) the sales order the ERP already has."""
    return [DocActionOp(options.service_types["cancel"], options.cancel_doc_action, record_id=record_id,
                        role="cancel")]


_ACCESS = re.compile(r"does not have access to the service type '([^']+)'")
_NOT_CONFIGURED = re.compile(r"Service type (\S+) not configured")
_PARAM = re.compile(r"Web service type (\S+): invalid parameter (\S+)")
_COLUMN = re.compile(r"Web service type (\S+): input column (\S+) not allowed")
_PRICE_LIST = re.compile(
    r"not on Price ?List.*?(?:M_Product_ID|Product)\D*(\d+).*?(?:M_PriceList\w*|Price ?List)\D*(\d+)", re.I | re.S)


def classify_error(text: str, *, role_id: int, sku_of_product: Mapping[int, str] | None = None) -> HoldReason:
    """The ERP's error text → a sentence the admin can act on, plus the hold code."""
    if m := _ACCESS.search(text):
        return HoldReason(f"role {role_id} may not use service type {m.group(1)} (add WS_WebServiceTypeAccess "
                          f"for the role; run oms-bridge erp check)", f"erp_config:access:{m.group(1)}")
    if m := _NOT_CONFIGURED.search(text):
        return HoldReason(f"service type {m.group(1)} is not configured in iDempiere (WS_WebServiceType; run "
                          f"oms-bridge erp check)", f"erp_config:type:{m.group(1)}")
    if m := _PARAM.search(text):
        return HoldReason(f"service type {m.group(1)} lacks the web service parameter {m.group(2)} "
                          f"(WS_WebService_Para; run oms-bridge erp check)", f"erp_config:param:{m.group(1)}")
    if m := _COLUMN.search(text):
        return HoldReason(f"service type {m.group(1)} may not set column {m.group(2)} (add a "
                          f"WS_WebServiceFieldInput row; run oms-bridge erp check)", f"erp_config:column:{m.group(1)}")
    if m := _PRICE_LIST.search(text):
        product, price_list = int(m.group(1)), int(m.group(2))
        sku = (sku_of_product or {}).get(product)
        label = f"product {product}" + (f" (SKU {sku})" if sku else "")
        return HoldReason(f"{label} not on price list {price_list} (add it to the price list in iDempiere, then "
                          f"oms-bridge erp retry)", f"price_list:{price_list}:{product}")
    return HoldReason(f"ERP rejected the order: {text}", "erp_rejected")
