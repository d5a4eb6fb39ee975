"""Per-connection ERP options (``oms_erp_connection.settings_json``) and the per-channel ERP mapping.

Everything a real iDempiere may name differently is configurable here, with defaults that match
``docs/erp.md`` and the sandbox seed:

``service_types``  {role: WS_WebServiceType.Value}; roles: composite, bpartner, location, bp_location,
                   order, order_line, complete, cancel, query_order, query_product (defaults ``Oms*``).
``cancel_doc_action``  DocAction for a marketplace cancellation of a sent order: ``VO`` (void,
                   default: the order never shipped) or ``CL`` (close, keeps delivered quantities).
``timezone``       the ERP's local time zone for DateOrdered/DatePromised (default ``Asia/Taipei``):
                   iDempiere stores Timestamps without zone, in the server's local time.
``timeout_seconds`` HTTP timeout per SOAP call (default 30).
``order_seconds``  extra timeout per order a compositeOperation carries (default 2): the server works
                   through the groups one after another, so 25 orders may take 30 + 50 s.
``batch_size``     orders per compositeOperation (default ``Settings.erp_batch_size``, 25).
``po_reference_format`` C_Order.POReference of an order (default ``{channel_id}-{order}``; must name the
                   channel: order numbers are unique per shop only; see :mod:`oms_bridge.erp.reference`).
``po_reference_length`` characters C_Order.POReference holds (default 20, iDempiere's; ``erp check`` reads
                   AD_Column.FieldLength and says when they differ). A longer reference is shortened with a
                   digest instead of being cut by the ERP.
``country_names``  ISO code → C_Country display name sent as ``lval`` (default {"TW": "Taiwan"}):
                   C_Country_ID differs between installations, the name does not.
``default_country`` ISO code used when an order has none (default ``TW``).
``create_statuses`` canonical statuses that make a sales order (default paid, ready_to_ship, shipped,
                   delivered, completed, returned). Others wait (outbox state ``waiting``, code
                   ``awaiting:<status>``) until the marketplace changes the order (GetOrder re-arms it);
                   ``cancelled`` cancels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from oms_bridge.erp.reference import DEFAULT_FORMAT, DEFAULT_LENGTH, MIN_DIGEST, ReferenceFormatError, check_format

__all__ = ["ErpOptions", "ChannelMapping", "ErpConfigError", "DEFAULT_SERVICE_TYPES", "SERVICE_ROLES", "ServiceSpec",
           "SERVICE_SPECS", "WRITE_ROLES", "REQUIRED_OUTPUTS"]

DEFAULT_SERVICE_TYPES: dict[str, str] = {
    "composite": "OmsSyncOrder",
    "bpartner": "OmsCreateBPartner",
    "location": "OmsCreateLocation",
    "bp_location": "OmsCreateBPLocation",
    "order": "OmsCreateOrder",
    "order_line": "OmsCreateOrderLine",
    "complete": "OmsCompleteOrder",
    "cancel": "OmsCancelOrder",
    "query_order": "OmsQueryOrder",
    "query_product": "OmsQueryProduct",
    "query_column": "OmsQueryColumn",
    "query_mapping": "OmsQueryMapping",
}
SERVICE_ROLES = tuple(DEFAULT_SERVICE_TYPES)


@dataclass(frozen=True)
class ServiceSpec:
    """What one service type must allow on the iDempiere side (the ``erp check`` checklist and the docs).

    ``params``: WS_WebService_Para name → constant value (``None`` = Free). ``inputs``: the
    WS_WebServiceFieldInput columns the bridge sends; ``identifiers``: those with IsIdentifier=Y.
    """

    purpose: str
    web_service: str
    method: str
    table: str | None = None
    params: tuple[tuple[str, str | None], ...] = ()
    inputs: tuple[str, ...] = ()
    identifiers: tuple[str, ...] = ()
    outputs: tuple[str, ...] = ()


def _crud_params(table: str, action: str, *, free_filter: bool = False) -> tuple[tuple[str, str | None], ...]:
    params: tuple[tuple[str, str | None], ...] = (("TableName", table), ("Action", action), ("RecordID", None))
    return params + ((("Filter", None),) if free_filter else ())


def _doc_params(doc_action: str | None) -> tuple[tuple[str, str | None], ...]:
    return (("tableName", "C_Order"), ("docAction", doc_action), ("recordID", None), ("recordIDVariable", None))


ORDER_COLUMNS = ("AD_Org_ID", "C_DocTypeTarget_ID", "IsSOTrx", "C_BPartner_ID", "C_BPartner_Location_ID",
                 "M_Warehouse_ID", "M_PriceList_ID", "PaymentRule", "POReference", "C_OrderSource_ID",
                 "DateOrdered", "DatePromised", "Description")
ORDER_LINE_COLUMNS = ("C_Order_ID", "M_Product_ID", "C_Charge_ID", "QtyEntered", "QtyOrdered", "PriceEntered",
                      "PriceActual", "Description")

#: Columns ``erp check`` reads from the records a channel's mapping names (one queryData type, TableName Free:
#: iDempiere allows an output column by its name, whatever the table).
MAPPING_OUTPUTS = ("C_BPartner_ID", "M_PriceList_ID", "M_Warehouse_ID", "C_OrderSource_ID", "C_Charge_ID",
                   "C_DocType_ID", "C_Currency_ID", "ISO_Code", "AD_Org_ID", "Name", "IsActive", "IsCustomer",
                   "IsSOPriceList")

#: role → what its service type needs (defaults; names come from ErpOptions.service_types).
SERVICE_SPECS: dict[str, ServiceSpec] = {
    "composite": ServiceSpec("wraps each order's operations in one transaction", "CompositeInterface", "composite"),
    "bpartner": ServiceSpec("find or create the buyer's business partner", "ModelADService", "createData",
                            "C_BPartner", _crud_params("C_BPartner", "CreateUpdate"), ("Value", "Name", "IsCustomer"),
                            ("Value",)),
    "location": ServiceSpec("create the shipping address", "ModelADService", "createData", "C_Location",
                            _crud_params("C_Location", "Create"),
                            ("Address1", "Address2", "City", "Postal", "RegionName", "C_Country_ID")),
    "bp_location": ServiceSpec("find or create the partner's ship-to location", "ModelADService", "createData",
                               "C_BPartner_Location", _crud_params("C_BPartner_Location", "CreateUpdate"),
                               ("C_BPartner_ID", "Name", "C_Location_ID", "Phone", "IsShipTo", "IsBillTo"),
                               ("C_BPartner_ID", "Name")),
    "order": ServiceSpec("create the sales order header", "ModelADService", "createData", "C_Order",
                         _crud_params("C_Order", "Create"), ORDER_COLUMNS, (), ("C_Order_ID", "DocumentNo")),
    "order_line": ServiceSpec("create order lines (products, shipping and discount charges)", "ModelADService",
                              "createData", "C_OrderLine", _crud_params("C_OrderLine", "Create"), ORDER_LINE_COLUMNS),
    "complete": ServiceSpec("complete the order (DocAction CO)", "ModelADService", "setDocAction", "C_Order",
                            _doc_params("CO")),
    "cancel": ServiceSpec("void/close an order the marketplace cancelled", "ModelADService", "setDocAction",
                          "C_Order", _doc_params(None)),
    "query_order": ServiceSpec("find orders by POReference (exactly-once pre-check)", "ModelADService", "queryData",
                               "C_Order", _crud_params("C_Order", "Read", free_filter=True), (), (),
                               ("C_Order_ID", "DocumentNo", "DocStatus", "POReference", "C_OrderSource_ID",
                                "Description")),
    "query_product": ServiceSpec("find products by search key (SKU)", "ModelADService", "queryData", "M_Product",
                                 _crud_params("M_Product", "Read", free_filter=True), (), (),
                                 ("M_Product_ID", "Value", "Name")),
    "query_column": ServiceSpec("read C_Order.POReference's length (erp check; optional)", "ModelADService",
                                "queryData", "AD_Column", _crud_params("AD_Column", "Read", free_filter=True), (), (),
                                ("ColumnName", "FieldLength")),
    "query_mapping": ServiceSpec("read the records each channel's ERP mapping names (erp check)", "ModelADService",
                                 "queryData", None, (("TableName", None), ("Action", "Read"), ("RecordID", None),
                                                     ("Filter", None)), (), (), MAPPING_OUTPUTS),
}
#: Roles whose service type ``erp check`` probes with a harmless write inside a rolled-back composite.
WRITE_ROLES = tuple(role for role, spec in SERVICE_SPECS.items()
                    if spec.method not in ("queryData", "composite"))
#: Output columns the delivery cannot work without (a queryData row lacking one is a configuration error).
REQUIRED_OUTPUTS = {"query_order": ("C_Order_ID", "DocumentNo", "DocStatus", "POReference"),
                    "query_product": ("M_Product_ID", "Value")}
BP_IDENTIFIERS = ("email", "phone", "buyer_id", "default")
DEFAULT_CREATE_STATUSES = ("paid", "ready_to_ship", "shipped", "delivered", "completed", "returned")
_CANONICAL = ("unpaid", "paid", "ready_to_ship", "shipped", "delivered", "completed", "cancelled", "returned")


class ErpConfigError(ValueError):
    """An ERP option holds a value the bridge cannot use; the message names it."""


@dataclass(frozen=True)
class ErpOptions:
    """Options of one ERP connection (see module doc)."""

    service_types: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_SERVICE_TYPES))
    cancel_doc_action: str = "VO"
    timezone: str = "Asia/Taipei"
    timeout_seconds: float = 30.0
    order_seconds: float = 2.0
    batch_size: int | None = None
    country_names: dict[str, str] = field(default_factory=lambda: {"TW": "Taiwan"})
    default_country: str = "TW"
    create_statuses: tuple[str, ...] = DEFAULT_CREATE_STATUSES
    po_reference_format: str = DEFAULT_FORMAT
    po_reference_length: int = DEFAULT_LENGTH

    @classmethod
    def from_json(cls, text: str | None) -> ErpOptions:
        """Parse ``settings_json``; unknown keys and bad values are refused with a clear message."""
        data: dict[str, Any] = json.loads(text) if text else {}
        if not isinstance(data, dict):
            raise ErpConfigError("ERP connection settings must be a JSON object")
        known = {f for f in cls.__dataclass_fields__}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ErpConfigError(f"unknown ERP setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        types = dict(DEFAULT_SERVICE_TYPES)
        for role, name in (data.pop("service_types", None) or {}).items():
            if role not in DEFAULT_SERVICE_TYPES:
                raise ErpConfigError(f"unknown service type role {role!r}; known: {', '.join(SERVICE_ROLES)}")
            types[role] = str(name)
        if "create_statuses" in data:
            data["create_statuses"] = tuple(data["create_statuses"] or ())
        options = cls(service_types=types, **data)
        options.validate()
        return options

    def validate(self) -> None:
        if self.cancel_doc_action not in ("VO", "CL"):
            raise ErpConfigError(f"cancel_doc_action must be VO or CL, not {self.cancel_doc_action!r}")
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ErpConfigError(f"timezone {self.timezone!r} is not a known time zone") from exc
        bad = [st for st in self.create_statuses if st not in _CANONICAL or st == "cancelled"]
        if bad:
            raise ErpConfigError(f"create_statuses: {', '.join(bad)} not allowed; choose from "
                                 f"{', '.join(s for s in _CANONICAL if s != 'cancelled')}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ErpConfigError("batch_size must be a whole number of at least 1")
        if not isinstance(self.timeout_seconds, (int, float)) or self.timeout_seconds <= 0:
            raise ErpConfigError("timeout_seconds must be a number above 0")
        if not isinstance(self.order_seconds, (int, float)) or self.order_seconds < 0:
            raise ErpConfigError("order_seconds must be a number of at least 0")
        try:
            check_format(self.po_reference_format)
        except ReferenceFormatError as exc:
            raise ErpConfigError(str(exc)) from exc
        if not isinstance(self.po_reference_length, int) or self.po_reference_length < MIN_DIGEST + 3:
            raise ErpConfigError(f"po_reference_length must be a whole number of at least {MIN_DIGEST + 3} "
                                 "(iDempiere's C_Order.POReference holds 20)")

    def to_json(self) -> str:
        return json.dumps({"service_types": self.service_types, "cancel_doc_action": self.cancel_doc_action,
                           "timezone": self.timezone, "timeout_seconds": self.timeout_seconds,
                           "order_seconds": self.order_seconds,
                           "batch_size": self.batch_size, "country_names": self.country_names,
                           "default_country": self.default_country, "create_statuses": list(self.create_statuses),
                           "po_reference_format": self.po_reference_format,
                           "po_reference_length": self.po_reference_length},
                          ensure_ascii=False)

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


@dataclass(frozen=True)
class ChannelMapping:
    """A channel's ERP ids (``oms_channel.erp_*``); None = let iDempiere's defaults apply."""

    channel: str
    org_id: int | None = None
    warehouse_id: int | None = None
    doctype_id: int | None = None
    pricelist_id: int | None = None
    bpartner_id: int | None = None
    ordersource_id: int | None = None
    payment_rule: str | None = None
    shipping_charge_id: int | None = None
    discount_charge_id: int | None = None
    bp_identifier: str | None = None
    channel_id: int = 0

    @classmethod
    def of(cls, channel: Any) -> ChannelMapping:
        """From an ``oms_channel`` row (any object with the ``erp_*`` attributes)."""
        return cls(channel=channel.value, channel_id=channel.id, org_id=channel.erp_org_id,
                   warehouse_id=channel.erp_warehouse_id,
                   doctype_id=channel.erp_doctype_id, pricelist_id=channel.erp_pricelist_id,
                   bpartner_id=channel.erp_bpartner_id, ordersource_id=channel.erp_ordersource_id,
                   payment_rule=channel.erp_payment_rule, shipping_charge_id=channel.erp_shipping_charge_id,
                   discount_charge_id=channel.erp_discount_charge_id, bp_identifier=channel.erp_bp_identifier)

    @property
    def identifier(self) -> str:
        """How a buyer becomes a business partner; unset = the default partner if one is set, else email."""
        if self.bp_identifier:
            return self.bp_identifier
        return "default" if self.bpartner_id else "email"
