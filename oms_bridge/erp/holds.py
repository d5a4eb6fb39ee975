"""iDempiere's error texts → the sentence the admin reads and the hold code the fix re-arms (PURE).

The texts are the ones iDempiere's own code writes (``docs/contracts/idempiere.md`` names each source);
what the bridge needs from a text is only its *family*. Which record failed comes from the composite
itself: a group stops at its first error, so the failing operation is the last response of the
group, and its role (``line:2``, ``shipping``, ``order``, ``complete``) names the SKU or the channel
setting involved, whatever language the server translated the message into.

Hold codes and what re-arms them (``oms_bridge.erp.delivery.rearm_fixed`` and the fixes themselves):

- ``erp_config:<kind>:<type>``: a web-service setting; a clean ``oms-bridge erp check``, and hourly;
- ``missing_sku:<SKU>``: no such product; ``oms-bridge sku map`` (any edit of that SKU's mapping), hourly;
- ``price_list:<SKU>@<channel>``: not on the price list / under the price limit; an edit of the SKU's
  mapping or of the channel (price list, partner), hourly (a price added inside iDempiere is invisible);
- ``config:<channel>``: a channel setting names a record iDempiere does not have; an edit of the channel;
- ``erp_docaction@<channel>``: iDempiere could not complete/void the order (period closed, credit
  stop, ...); an edit of the channel, hourly;
- ``erp_rejected``: anything else, with the server's text; hourly and ``oms-bridge erp retry``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["HoldReason", "classify_error", "channel_of_code", "sku_of_code", "CHANNEL_COLUMNS"]


@dataclass(frozen=True)
class HoldReason:
    reason: str
    code: str


_ACCESS = re.compile(r"does not have access to the service type '([^']+)'")
_NOT_CONFIGURED = re.compile(r"Service type (\S+) not configured")
_PARAM = re.compile(r"Web service type (\S+): invalid parameter (\S+)")
_COLUMN = re.compile(r"Web service type (\S+): input column (\S+) not allowed")
_OUTPUT = re.compile(r"Web service type (\S+): output column (.+?) not configured")
#: PO.validForeignKeysEx: "Foreign ID <id> not found in <column>"; CrossTenantException for another tenant's id.
_FOREIGN = re.compile(r"Foreign ID (\S+) not found in (\w+)|Cross tenant ID (\S+) not allowed in (\w+)")
#: ProductNotOnPriceListException ("@ProductNotOnPriceList@ -> ...", translated: "Product is not on PriceList");
#: MOrderLine.beforeSave saveError("UnderLimitPrice", "PriceEntered=.., PriceLimit=..") (only the detail reaches
#: the web service, CLogger.retrieveErrorString returns the ValueNamePair's name).
_PRICE = re.compile(r"ProductNotOnPriceList|not on Price ?List|PriceLimit=", re.I)
#: ModelADServiceImpl.setDocAction: Msg.parseTranslation("@FailedProcessingDocument@: " + processMsg); the
#: AD_Message (iDempiere 6.2+) reads "Failed when processing document"; untranslated it stays the key.
_DOC_ACTION = re.compile(r"^(?:@?FailedProcessingDocument@?|Failed when processing document)\s*:?\s*(.*)$", re.S)

#: Order/line columns whose value comes from the channel's ERP mapping: column → the channel option.
CHANNEL_COLUMNS = {
    "C_BPartner_ID": "--erp-bpartner-id", "M_PriceList_ID": "--erp-pricelist-id",
    "C_DocTypeTarget_ID": "--erp-doctype-id", "M_Warehouse_ID": "--erp-warehouse-id",
    "C_OrderSource_ID": "--erp-ordersource-id", "AD_Org_ID": "--erp-org-id",
}
_CHARGE_OPTION = {"shipping": "--erp-shipping-charge-id", "discount": "--erp-discount-charge-id"}


def classify_error(text: str, *, role_id: int, channel: str | None = None, op_role: str = "",
                   sku: str | None = None, product_id: int | None = None) -> HoldReason:
    """The ERP's error text → a sentence the admin can act on, plus the hold code (see module doc).

    ``op_role`` is the role of the operation that failed (``line:N``, ``shipping``, ``order``, ``complete``,
    ``cancel``; empty when the whole call was refused); ``sku``/``product_id`` those of a failing line.
    """
    config = _config_hold(text, role_id)
    if config is not None:
        return config
    line = op_role.startswith("line:")
    what = f"line {op_role[5:]} (SKU {sku})" if line and sku else (f"line {op_role[5:]}" if line else "")
    if m := _FOREIGN.search(text):
        value, column = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        if column == "M_Product_ID" and sku:
            return HoldReason(f"SKU {sku} is mapped to M_Product_ID {value}, which iDempiere does not have ({what}; "
                              f"fix the mapping: oms-bridge sku map {sku} --product <M_Product_ID>)",
                              f"missing_sku:{sku}")
        option = _CHARGE_OPTION.get(op_role) if column == "C_Charge_ID" else CHANNEL_COLUMNS.get(column)
        if option and channel:
            return HoldReason(f"channel {channel} sends {column} {value}, which iDempiere does not have (fix it: "
                              f"oms-bridge channel update {channel} {option} <ID>; iDempiere: {text})",
                              f"config:{channel}")
    if line and sku and _PRICE.search(text):
        product = f" (M_Product_ID {product_id})" if product_id else ""
        where = f" of channel {channel}" if channel else ""
        fixes = f"map the SKU to a priced product (oms-bridge sku map {sku} --product <ID>)"
        if channel:
            fixes += (f", or give the channel another price list (oms-bridge channel update {channel} "
                      "--erp-pricelist-id)")
        return HoldReason(f"SKU {sku}{product} has no usable price on the price list{where} "
                          f"(iDempiere: {text}). Add the price in iDempiere, {fixes}; the order is retried after "
                          "such a fix, and every hour", f"price_list:{sku}@{channel or ''}")
    doc = _DOC_ACTION.match(text.strip())
    if doc or op_role in ("complete", "cancel"):
        verb = "void or close" if op_role == "cancel" else "complete"
        detail = (doc.group(1) if doc else text).strip() or text
        return HoldReason(f"iDempiere could not {verb} the order: {detail} (fix the cause in iDempiere, e.g. an "
                          f"open period or the partner's credit; the order is retried every hour, or: "
                          f"oms-bridge erp retry)", f"erp_docaction@{channel or ''}")
    if what:
        return HoldReason(f"ERP rejected {what}: {text}", "erp_rejected")
    return HoldReason(f"ERP rejected the order: {text}", "erp_rejected")


def _config_hold(text: str, role_id: int) -> HoldReason | None:
    """AbstractService/ModelADServiceImpl's web-service configuration texts (not translated)."""
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
    if m := _OUTPUT.search(text):
        return HoldReason(f"service type {m.group(1)} does not return column {m.group(2)} (add a "
                          f"WS_WebServiceFieldOutput row; run oms-bridge erp check)", f"erp_config:output:{m.group(1)}")
    return None


def channel_of_code(code: str | None) -> str | None:
    """The channel a hold code names (``config:<channel>``, ``...@<channel>``), or None."""
    if not code:
        return None
    if code.startswith("config:"):
        return code[len("config:"):] or None
    head, at, channel = code.rpartition("@")
    return channel or None if at and head else None


def sku_of_code(code: str | None) -> str | None:
    """The SKU a product hold names (``missing_sku:<SKU>``, ``price_list:<SKU>@<channel>``), or None."""
    if not code:
        return None
    if code.startswith("missing_sku:"):
        return code[len("missing_sku:"):] or None
    if code.startswith("price_list:") and "@" in code:
        return code[len("price_list:"):].rpartition("@")[0] or None
    return None
