"""``erp check``, second half: does every channel's ERP mapping name records that exist and fit?

A channel's mapping (``oms_channel.erp_*``) names a business partner, price list, warehouse, document
type, order source and the shipping/discount charges. A wrong one is found by the first delivery only
order by order and one cause at a time (the order is held, fixed, re-armed, held for the next cause).
This reads every record the mappings name, one ``queryData`` per table through the ``query_mapping``
service type (TableName Free), and reports **every** problem at once:

- the record does not exist for the tenant, or is inactive;
- the business partner is not a customer;
- the price list is not a sales price list, or its currency is not the channel's currency
  (the channel's ``currency`` setting, else the currency of its stored orders, else TWD: every
  marketplace the bridge ships for sells in TWD by default);
- the warehouse belongs to another organization than the channel's (or the connection's) org;
- the channel has no shipping or discount charge (orders with a fee or discount would be held).

An id the channel leaves empty lets iDempiere's defaults apply and is not a problem (the charges
excepted, see above). Without the ``query_mapping`` service type the mapping is reported as
unverified, with the step that creates it; nothing is written to the ERP.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from oms_bridge.erp.check import CheckItem, CheckReport
from oms_bridge.erp.client import ErpClient, ErpError
from oms_bridge.erp.config import SERVICE_SPECS, ChannelMapping, ErpOptions

__all__ = ["MappingToCheck", "check_mappings", "DEFAULT_CURRENCY"]

DEFAULT_CURRENCY = "TWD"

#: mapping attribute → (table, what it is, the channel option that sets it)
_FIELDS: tuple[tuple[str, str, str, str], ...] = (
    ("bpartner_id", "C_BPartner", "business partner", "--erp-bpartner-id"),
    ("pricelist_id", "M_PriceList", "price list", "--erp-pricelist-id"),
    ("warehouse_id", "M_Warehouse", "warehouse", "--erp-warehouse-id"),
    ("doctype_id", "C_DocType", "document type", "--erp-doctype-id"),
    ("ordersource_id", "C_OrderSource", "order source", "--erp-ordersource-id"),
    ("shipping_charge_id", "C_Charge", "shipping charge", "--erp-shipping-charge-id"),
    ("discount_charge_id", "C_Charge", "discount charge", "--erp-discount-charge-id"),
)
_REQUIRED = {"shipping_charge_id": "orders with a shipping fee would be held",
             "discount_charge_id": "orders with a discount would be held"}


@dataclass(frozen=True)
class MappingToCheck:
    """One channel's mapping, the currency it sells in, and the org its orders go to (channel's, else connection's)."""

    mapping: ChannelMapping
    currency: str
    org_id: int | None


def check_mappings(client: ErpClient, options: ErpOptions, report: CheckReport,
                   channels: Sequence[MappingToCheck]) -> None:
    """Append one item per channel that fits, and one per problem (see module doc)."""
    if not channels:
        return
    name = options.service_types["query_mapping"]
    try:
        records = _read_records(client, name, channels)
    except ErpError as exc:
        report.items.append(CheckItem(
            "channels' ERP mapping", True, f"not read from iDempiere ({exc}); the partner, price list, warehouse, "
            f"order source and charges each channel names are not checked. To have them checked, set up Web Service "
            f"Type \"{name}\" ({SERVICE_SPECS['query_mapping'].purpose}; oms-bridge erp check --setup-guide).",
            unverified=True, mapping_step=True))
        return
    currencies = {r["C_Currency_ID"]: r.get("ISO_Code", "") for r in records.get("C_Currency", {}).values()}
    for item in channels:
        problems = _problems(item, records, currencies)
        channel = item.mapping.channel
        if not problems:
            report.items.append(CheckItem(f"channel {channel}: ERP mapping", True, mapping_step=True))
        for subject, detail, todo in problems:
            report.items.append(CheckItem(f"channel {channel}: {subject}", False, detail, todo, mapping_step=True))


def _ids(channels: Sequence[MappingToCheck], table: str) -> set[int]:
    return {value for c in channels for attr, t, _w, _o in _FIELDS if t == table
            and (value := getattr(c.mapping, attr))}


def _read_records(client: ErpClient, name: str, channels: Sequence[MappingToCheck]) -> dict[str, dict[int, dict]]:
    """Every record the mappings name, by table and id (one queryData per table); the price lists' currencies too."""
    records: dict[str, dict[int, dict]] = {}
    for table in dict.fromkeys(t for _a, t, _w, _o in _FIELDS):
        records[table] = _query(client, name, table, _ids(channels, table))
    currency_ids = {int(r["C_Currency_ID"]) for r in records["M_PriceList"].values() if r.get("C_Currency_ID")}
    records["C_Currency"] = _query(client, name, "C_Currency", currency_ids)
    return records


def _query(client: ErpClient, name: str, table: str, ids: set[int]) -> dict[int, dict]:
    if not ids:
        return {}
    rows = client.query(name, table, filter=f"{table}_ID IN ({','.join(str(i) for i in sorted(ids))})",
                        require=(f"{table}_ID",))
    return {int(r[f"{table}_ID"]): r for r in rows}


def _problems(item: MappingToCheck, records: dict[str, dict[int, dict]],
              currencies: dict[str, str]) -> list[tuple[str, str, str]]:
    """(subject, what is wrong, what to do) for every problem of one channel's mapping."""
    mapping, found = item.mapping, []
    update = f"oms-bridge channel update {mapping.channel}"
    for attr, table, what, option in _FIELDS:
        value = getattr(mapping, attr)
        if not value:
            if attr in _REQUIRED:
                found.append((f"{what} not set", _REQUIRED[attr], f"{update} {option} <{table.split('_')[1]}_ID>"))
            continue
        subject = f"{what} {value}"
        row = records.get(table, {}).get(int(value))
        if row is None:
            found.append((subject, f"no {table} with {table}_ID {value} in this tenant",
                          f"{update} {option} <an existing {table}_ID>"))
            continue
        label = f"{subject} ({row.get('Name') or '-'})"
        if row.get("IsActive", "Y") != "Y":
            found.append((label, "inactive in iDempiere", f"reactivate it in iDempiere, or {update} {option} <ID>"))
        if table == "C_BPartner" and row.get("IsCustomer", "Y") != "Y":
            found.append((label, "not a customer (IsCustomer = N): iDempiere refuses sales orders for it",
                          f"tick Customer on the business partner, or {update} {option} <ID>"))
        if table == "M_PriceList":
            if row.get("IsSOPriceList", "Y") != "Y":
                found.append((label, "not a sales price list (IsSOPriceList = N)",
                              f"tick Sales Price list in iDempiere, or {update} {option} <ID>"))
            currency = currencies.get(row.get("C_Currency_ID") or "", "")
            if currency and currency != item.currency:
                found.append((label, f"its currency is {currency} but channel {mapping.channel} sells in "
                              f"{item.currency}", f"{update} {option} <a {item.currency} price list>"))
        if table == "M_Warehouse" and item.org_id and str(row.get("AD_Org_ID")) != str(item.org_id):
            found.append((label, f"belongs to organization {row.get('AD_Org_ID')}, the channel's orders to "
                          f"organization {item.org_id}", f"{update} {option} <a warehouse of org {item.org_id}>"))
    return found
