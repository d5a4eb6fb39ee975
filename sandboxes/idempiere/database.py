"""Records of the iDempiere sandbox: its own SQLite tables and the model rules that run on save.

Tables mirror the iDempiere ones the bridge writes or reads (C_BPartner, C_Location,
C_BPartner_Location, M_Product, M_PriceList, M_ProductPrice, C_Charge, C_DocType, M_Warehouse,
C_OrderSource, C_Country, C_Order, C_OrderLine). ``beforeSave`` behaviour copies what the spec
records for MOrder/MOrderLine (§4): zero values filled from the login context and the business
partner; order lines priced from the price list, and **ProductNotOnPriceListException** unless the
doc type has IsNoPriceListCheck. Document actions follow DocumentEngine's basic transitions
(DR→CO, DR/CO→VO, CO→CL).

Texts are iDempiere's (release-12 sources): ``PO.validForeignKeys`` runs before ``beforeSave``
("Foreign ID n not found in M_Product_ID"), ``ProductNotOnPriceListException`` builds
"@ProductNotOnPriceList@ -> @Line@:10, @M_Product_ID@: <Value> - <Name>, @M_PriceList_ID@: <name>, @Date@: <date>",
``setDocAction`` answers ``Msg.parseTranslation("@FailedProcessingDocument@: " + processMsg)``, and an action
the document's status does not allow is DocumentEngine's IllegalStateException. ``@Token@``s are translated
with :attr:`ErpDatabase.messages` (the login language's AD_Message/AD_Element texts the sources show; a token
without a text stays as its key, as ``Msg.translate`` does). Strings longer than their AD_Column.FieldLength are
cut silently (``PO.set_Value``: "Value too long - truncated", a server-log warning only).

Money and quantities are stored as decimal TEXT so nothing is rounded through float. Seeded with a
small GardenWorld-like catalogue plus one product per SKU of ``sandboxes.data.PRODUCTS``
(so orders from every marketplace sandbox complete).
"""

from __future__ import annotations

import re
import sqlite3
import threading
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sandboxes.data import PRODUCTS

__all__ = ["ErpDatabase", "ModelError", "SEED", "column_kind", "FIELD_LENGTHS", "TABLE_IDS", "MESSAGES"]

#: AD_Table_ID of the tables the sandbox keeps (I_<Table>.Table_ID, fixed in every iDempiere).
TABLE_IDS = {"AD_Table": 100, "AD_Column": 101, "C_Location": 162, "M_Product": 208, "C_Order": 259,
             "C_OrderLine": 260, "C_BPartner": 291, "C_BPartner_Location": 293}
#: AD_Column.FieldLength of the string columns the bridge writes (iDempiere migration i7.1z
#: 202008040100_IDEMPIERE-3862.sql, which states every column's length; unchanged up to master).
FIELD_LENGTHS = {
    ("C_Order", "POReference"): 20, ("C_Order", "Description"): 255, ("C_Order", "DocumentNo"): 30,
    ("C_OrderLine", "Description"): 255, ("C_BPartner", "Value"): 40, ("C_BPartner", "Name"): 120,
    ("C_BPartner_Location", "Name"): 60, ("C_BPartner_Location", "Phone"): 40, ("C_Location", "Address1"): 60,
    ("C_Location", "Address2"): 60, ("C_Location", "City"): 60, ("C_Location", "Postal"): 10,
    ("C_Location", "RegionName"): 40,
}
#: AD_Message / AD_Element texts of the login language (en_US) that the sources show.
MESSAGES = {
    "FailedProcessingDocument": "Failed when processing document",  # migration i6.2 201903241211_IDEMPIERE-3929
    "ProductNotOnPriceList": "Product is not on PriceList",  # a real server's text (public wiki page)
    "Line": "Line No", "M_Product_ID": "Product", "M_PriceList_ID": "Price List", "Date": "Date",
}
_TOKEN = re.compile(r"@([^@]+)@")

SCHEMA = """
CREATE TABLE C_Country (C_Country_ID INTEGER PRIMARY KEY, CountryCode TEXT, Name TEXT);
CREATE TABLE C_BPartner (C_BPartner_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, AD_Org_ID INTEGER,
  Value TEXT, Name TEXT, IsCustomer TEXT DEFAULT 'Y', IsActive TEXT DEFAULT 'Y');
CREATE TABLE C_Location (C_Location_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, AD_Org_ID INTEGER,
  Address1 TEXT, Address2 TEXT, City TEXT, Postal TEXT, RegionName TEXT, C_Country_ID INTEGER);
CREATE TABLE C_BPartner_Location (C_BPartner_Location_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER,
  AD_Org_ID INTEGER, C_BPartner_ID INTEGER, C_Location_ID INTEGER, Name TEXT, Phone TEXT,
  IsShipTo TEXT DEFAULT 'Y', IsBillTo TEXT DEFAULT 'Y');
CREATE TABLE M_Product (M_Product_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, AD_Org_ID INTEGER,
  Value TEXT, Name TEXT);
CREATE TABLE M_PriceList (M_PriceList_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, Name TEXT, IsSOPriceList TEXT,
  C_Currency_ID INTEGER DEFAULT 100, IsActive TEXT DEFAULT 'Y');
CREATE TABLE C_Currency (C_Currency_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, ISO_Code TEXT);
CREATE TABLE M_ProductPrice (M_PriceList_ID INTEGER, M_Product_ID INTEGER, PriceList TEXT, PriceStd TEXT,
  PriceLimit TEXT, PRIMARY KEY (M_PriceList_ID, M_Product_ID));
CREATE TABLE C_Charge (C_Charge_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, Name TEXT, IsActive TEXT DEFAULT 'Y');
CREATE TABLE C_DocType (C_DocType_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, Name TEXT,
  IsNoPriceListCheck TEXT DEFAULT 'N', IsActive TEXT DEFAULT 'Y');
CREATE TABLE M_Warehouse (M_Warehouse_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, AD_Org_ID INTEGER, Name TEXT,
  IsActive TEXT DEFAULT 'Y');
CREATE TABLE C_OrderSource (C_OrderSource_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, Value TEXT, Name TEXT,
  IsActive TEXT DEFAULT 'Y');
CREATE TABLE C_Order (C_Order_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, AD_Org_ID INTEGER, DocumentNo TEXT,
  C_DocTypeTarget_ID INTEGER, IsSOTrx TEXT, C_BPartner_ID INTEGER, C_BPartner_Location_ID INTEGER,
  M_Warehouse_ID INTEGER, M_PriceList_ID INTEGER, PaymentRule TEXT, POReference TEXT, C_OrderSource_ID INTEGER,
  DateOrdered TEXT, DatePromised TEXT, Description TEXT, DocStatus TEXT, DocAction TEXT, Processed TEXT,
  TotalLines TEXT, GrandTotal TEXT);
CREATE TABLE AD_Table (AD_Table_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, TableName TEXT);
CREATE TABLE AD_Column (AD_Column_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, AD_Table_ID INTEGER, ColumnName TEXT,
  FieldLength INTEGER);
CREATE TABLE C_OrderLine (C_OrderLine_ID INTEGER PRIMARY KEY, AD_Client_ID INTEGER, AD_Org_ID INTEGER,
  C_Order_ID INTEGER, Line INTEGER, M_Product_ID INTEGER, C_Charge_ID INTEGER, QtyEntered TEXT, QtyOrdered TEXT,
  PriceEntered TEXT, PriceActual TEXT, LineNetAmt TEXT, Description TEXT);
"""

# Columns whose type is not obvious from the name.
_BOOL_COLUMNS = {"IsSOTrx", "IsCustomer", "IsShipTo", "IsBillTo", "IsNoPriceListCheck", "Processed",
                 "IsSOPriceList"}
_DECIMAL_PREFIXES = ("Qty", "Price")
_DECIMAL_COLUMNS = {"LineNetAmt", "TotalLines", "GrandTotal"}
_TIMESTAMP_PREFIXES = ("Date",)
_LIST_VALUES = {  # AD_Ref_List display name -> value, for lval on list columns
    "PaymentRule": {"Cash": "B", "Credit Card": "K", "Direct Deposit": "T", "Check": "S", "On Credit": "P",
                    "Direct Debit": "D", "Mixed POS Payment": "M"},
}


def column_kind(column: str) -> str:
    """int | bool | decimal | timestamp | list | string, the way iDempiere's AD_Reference decides."""
    if column in _BOOL_COLUMNS:
        return "bool"
    if column.endswith("_ID") or column == "Line":
        return "int"
    if column in _DECIMAL_COLUMNS or column.startswith(_DECIMAL_PREFIXES):
        return "decimal"
    if column.startswith(_TIMESTAMP_PREFIXES):
        return "timestamp"
    if column in _LIST_VALUES:
        return "list"
    return "string"


class ModelError(Exception):
    """A save or document-action failure; the message is the text the server returns."""


@dataclass(frozen=True)
class _Seed:
    client: int = 11
    org: int = 11
    warehouse: int = 103
    price_list: int = 101
    doc_type: int = 132
    doc_type_no_check: int = 133
    default_bpartner: int = 117
    shipping_charge: int = 1000010
    discount_charge: int = 1000011
    unpriced_product: int = 140
    country_tw: int = 316


SEED = _Seed()


class ErpDatabase:
    """The sandbox's SQLite store (one connection guarded by a lock; the server serialises requests)."""

    def __init__(self) -> None:
        self.conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
        self.conn.row_factory = sqlite3.Row
        self.lock = threading.RLock()
        self.conn.executescript(SCHEMA)
        self._next_id = 1_000_100
        self._next_docno = 800_000
        self.messages = dict(MESSAGES)
        self.field_lengths = dict(FIELD_LENGTHS)
        self._seed()

    def translate(self, text: str) -> str:
        """``Msg.parseTranslation``: each ``@Token@`` becomes its text, or the bare key when none is known."""
        return _TOKEN.sub(lambda m: self.messages.get(m.group(1), m.group(1)), text)

    def set_field_length(self, table: str, column: str, length: int) -> None:
        """An installation whose dictionary differs (e.g. a widened POReference): AD_Column and saves follow."""
        with self.lock:
            self.field_lengths[(table, column)] = length
            self.conn.execute("UPDATE AD_Column SET FieldLength = ? WHERE AD_Table_ID = ? AND ColumnName = ?",
                              (length, TABLE_IDS[table], column))

    # -- ids -------------------------------------------------------------------------------------
    def new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    def _seed(self) -> None:
        s = SEED
        x = self.conn.execute
        x("INSERT INTO C_Country VALUES (100,'US','United States'), (?, 'TW', 'Taiwan')", (s.country_tw,))
        for table, table_id in TABLE_IDS.items():
            x("INSERT INTO AD_Table VALUES (?,0,?)", (table_id, table))
        for column_id, ((table, column), length) in enumerate(sorted(FIELD_LENGTHS.items()), start=2000):
            x("INSERT INTO AD_Column VALUES (?,0,?,?,?)", (column_id, TABLE_IDS[table], column, length))
        # iDempiere's System currencies keep their ids everywhere: 100 USD, 102 EUR, ... 344 TWD (C_Currency).
        x("INSERT INTO C_Currency VALUES (100,0,'USD'), (102,0,'EUR'), (344,0,'TWD')")
        x("INSERT INTO M_Warehouse (M_Warehouse_ID, AD_Client_ID, AD_Org_ID, Name) VALUES (?,?,?,'HQ Warehouse')",
          (s.warehouse, s.client, s.org))
        x("INSERT INTO M_PriceList (M_PriceList_ID, AD_Client_ID, Name, IsSOPriceList, C_Currency_ID) "
          "VALUES (?,?,'Standard','Y',344)", (s.price_list, s.client))
        x("INSERT INTO C_DocType (C_DocType_ID, AD_Client_ID, Name, IsNoPriceListCheck) "
          "VALUES (?,?,'Standard Order','N'), (?,?,'POS Order','Y')",
          (s.doc_type, s.client, s.doc_type_no_check, s.client))
        x("INSERT INTO C_BPartner (C_BPartner_ID, AD_Client_ID, AD_Org_ID, Value, Name, IsCustomer) "
          "VALUES (?,?,?,'Standard','Standard Customer','Y')",
          (s.default_bpartner, s.client, s.org))
        x("INSERT INTO C_Location VALUES (114,?,?,'1 Garden Way',NULL,'Taipei','100',NULL,?)",
          (s.client, s.org, s.country_tw))
        x("INSERT INTO C_BPartner_Location VALUES (118,?,?,?,114,'Taipei HQ',NULL,'Y','Y')",
          (s.client, s.org, s.default_bpartner))
        x("INSERT INTO C_Charge (C_Charge_ID, AD_Client_ID, Name) VALUES (?,?,'Shipping fee'), (?,?,'Marketplace "
          "discount')",
          (s.shipping_charge, s.client, s.discount_charge, s.client))
        for oid, value in ((1000001, "shopee"), (1000002, "cyberbiz"), (1000003, "momo"), (1000004, "shopline")):
            x("INSERT INTO C_OrderSource (C_OrderSource_ID, AD_Client_ID, Value, Name) VALUES (?,?,?,?)",
              (oid, s.client, value, value.title()))
        garden = [(128, "Azalea Bush", "Azalea Bush", "23.75"), (129, "Elm Tree", "Elm Tree", "50"),
                  (130, "Oak Tree", "Oak Tree", "61.75"), (s.unpriced_product, "PChair", "Patio Chair", None)]
        for pid, value, name, price in garden:
            self.add_product(value, name, price, product_id=pid)
        for index, product in enumerate(PRODUCTS):
            self.add_product(product.sku, product.name, str(product.price), product_id=1_000_200 + index)

    def add_product(self, value: str, name: str, price: str | None, *, product_id: int | None = None,
                    price_list: int = SEED.price_list) -> int:
        """Insert a product (and its price on ``price_list`` unless ``price`` is None)."""
        with self.lock:
            pid = product_id or self.new_id()
            self.conn.execute("INSERT INTO M_Product VALUES (?,?,?,?,?)", (pid, SEED.client, SEED.org, value, name))
            if price is not None:
                self.conn.execute("INSERT INTO M_ProductPrice VALUES (?,?,?,?,?)",
                                  (price_list, pid, price, price, "0"))
            return pid

    # -- reads -----------------------------------------------------------------------------------
    def columns(self, table: str) -> list[str]:
        return [r["name"] for r in self.conn.execute(f"PRAGMA table_info({table})")]

    def get(self, table: str, record_id: int) -> dict[str, Any] | None:
        row = self.conn.execute(f"SELECT * FROM {table} WHERE {table}_ID = ?", (record_id,)).fetchone()
        return dict(row) if row else None

    def find(self, table: str, where: dict[str, Any]) -> list[dict[str, Any]]:
        clause = " AND ".join(f"{c} IS ?" for c in where) or "1=1"
        return [dict(r) for r in self.conn.execute(f"SELECT * FROM {table} WHERE {clause} ORDER BY 1",
                                                   tuple(where.values()))]

    def query(self, table: str, sql_filter: str | None, where: dict[str, Any], client: int) -> list[dict[str, Any]]:
        """queryData: the Filter is a SQL where clause appended as iDempiere does; read access includes System (0)."""
        clauses = ["AD_Client_ID IN (0, ?)"] + [f"{c} IS ?" for c in where]
        if sql_filter:
            clauses.append(f"({sql_filter})")
        sql = f"SELECT * FROM {table} WHERE {' AND '.join(clauses)} ORDER BY 1"
        try:
            return [dict(r) for r in self.conn.execute(sql, (client, *where.values()))]
        except sqlite3.Error as exc:
            raise ModelError(f"Error in Filter: {exc}") from exc

    def lookup_display(self, table: str, text: str) -> int | None:
        """``lval``: the record whose identifier (Name, else Value) is ``text``."""
        cols = self.columns(table)
        for col in ("Name", "Value"):
            if col in cols:
                row = self.conn.execute(f"SELECT {table}_ID FROM {table} WHERE {col} = ?", (text,)).fetchone()
                if row:
                    return int(row[0])
        return None

    @staticmethod
    def list_value(column: str, text: str) -> str | None:
        values = _LIST_VALUES.get(column, {})
        return values.get(text) or (text if text in values.values() else None)

    # -- writes (model beforeSave rules) ---------------------------------------------------------
    def save(self, table: str, values: dict[str, Any], ctx: dict[str, int], record_id: int = 0) -> dict[str, Any]:
        """Insert (``record_id`` 0) or update one record after the model's beforeSave; returns the row."""
        cols = set(self.columns(table))
        unknown = [c for c in values if c not in cols]
        if unknown:
            raise ModelError(f"Cannot save record in {table}: unknown column {unknown[0]}")
        row = dict(self.get(table, record_id) or {}) if record_id else {}
        if record_id and not row:
            raise ModelError(f"No Record to update for {table}_ID = {record_id}")
        row.update(self._truncated(table, values))
        row.setdefault("AD_Client_ID", ctx["AD_Client_ID"])
        if "AD_Org_ID" in cols and not row.get("AD_Org_ID"):
            row["AD_Org_ID"] = ctx["AD_Org_ID"]
        self._check_foreign_keys(table, values)  # ModelADServiceImpl: po.validForeignKeys() before po.save()
        before = getattr(self, f"_before_save_{table.lower()}", None)
        if before:
            before(row, ctx)
        key = f"{table}_ID"
        if not row.get(key):
            row[key] = self.new_id()
        names = [c for c in row if c in cols]
        placeholders = ",".join("?" for _ in names)
        self.conn.execute(f"INSERT OR REPLACE INTO {table} ({','.join(names)}) VALUES ({placeholders})",
                          tuple(_db_value(row[c]) for c in names))
        return self.get(table, row[key]) or row

    def _truncated(self, table: str, values: dict[str, Any]) -> dict[str, Any]:
        """PO.set_Value: a string longer than the column's FieldLength is cut, silently for the caller."""
        out = dict(values)
        for column, value in values.items():
            length = self.field_lengths.get((table, column))
            if length and isinstance(value, str) and len(value) > length:
                out[column] = value[:length]
        return out

    def _check_foreign_keys(self, table: str, values: dict[str, Any]) -> None:
        """PO.validForeignKeysEx on the values being set: "Foreign ID <id> not found in <column>"."""
        for column, value in values.items():
            if not column.endswith("_ID") or column in (f"{table}_ID", "AD_Client_ID") or not value:
                continue
            target = {"C_DocTypeTarget_ID": "C_DocType", "AD_Org_ID": None}.get(column, column[:-3])
            if target is None:
                continue  # the sandbox keeps no AD_Org table
            try:
                found = self.get(target, int(value))
            except sqlite3.OperationalError:
                continue  # a column pointing to a table the sandbox does not keep
            if found is None:
                raise ModelError(f"Cannot save record in {table}: Foreign ID {value} not found in {column}")

    @staticmethod
    def _mandatory(table: str, row: dict[str, Any], *columns: str) -> None:
        missing = [c for c in columns if row.get(c) in (None, "")]
        if missing:
            raise ModelError(f"Cannot save record in {table}: Fill mandatory fields: {', '.join(missing)}")

    def _before_save_c_bpartner(self, row: dict[str, Any], ctx: dict[str, int]) -> None:
        self._mandatory("C_BPartner", row, "Value", "Name")

    def _before_save_c_location(self, row: dict[str, Any], ctx: dict[str, int]) -> None:
        self._mandatory("C_Location", row, "C_Country_ID")

    def _before_save_c_bpartner_location(self, row: dict[str, Any], ctx: dict[str, int]) -> None:
        self._mandatory("C_BPartner_Location", row, "C_BPartner_ID", "C_Location_ID")
        if not row.get("Name"):
            loc = self.get("C_Location", int(row["C_Location_ID"])) or {}
            row["Name"] = loc.get("City") or "."

    def _before_save_c_order(self, row: dict[str, Any], ctx: dict[str, int]) -> None:
        self._mandatory("C_Order", row, "C_BPartner_ID")
        row.setdefault("IsSOTrx", "Y")
        if not row.get("M_Warehouse_ID"):
            row["M_Warehouse_ID"] = ctx["M_Warehouse_ID"]
        if not row.get("M_PriceList_ID"):
            row["M_PriceList_ID"] = SEED.price_list
        if not row.get("C_DocTypeTarget_ID"):
            row["C_DocTypeTarget_ID"] = SEED.doc_type
        if not row.get("C_BPartner_Location_ID"):
            locations = self.find("C_BPartner_Location", {"C_BPartner_ID": int(row["C_BPartner_ID"])})
            if not locations:
                raise ModelError("Cannot save record in C_Order: Fill mandatory fields: C_BPartner_Location_ID")
            row["C_BPartner_Location_ID"] = locations[0]["C_BPartner_Location_ID"]
        if not row.get("DocumentNo"):
            self._next_docno += 1
            row["DocumentNo"] = str(self._next_docno)
        row.setdefault("DocStatus", "DR")
        row.setdefault("DocAction", "CO")
        row.setdefault("Processed", "N")

    def _before_save_c_orderline(self, row: dict[str, Any], ctx: dict[str, int]) -> None:
        self._mandatory("C_OrderLine", row, "C_Order_ID")
        order = self.get("C_Order", int(row["C_Order_ID"]))
        if order is None:
            raise ModelError(f"Cannot save record in C_OrderLine: C_Order_ID={row['C_Order_ID']} not found")
        if order["Processed"] == "Y":
            raise ModelError("Cannot save record in C_OrderLine: Document is processed")
        if not row.get("M_Product_ID") and not row.get("C_Charge_ID"):
            raise ModelError("Cannot save record in C_OrderLine: Fill mandatory fields: M_Product_ID or C_Charge_ID")
        if not row.get("Line"):
            last = self.conn.execute("SELECT MAX(Line) FROM C_OrderLine WHERE C_Order_ID = ?",
                                     (order["C_Order_ID"],)).fetchone()[0]
            row["Line"] = (last or 0) + 10
        qty = Decimal(str(row.get("QtyEntered") or row.get("QtyOrdered") or "1"))
        row["QtyEntered"] = qty
        row.setdefault("QtyOrdered", qty)
        price = row.get("PriceActual") or row.get("PriceEntered")
        if row.get("M_Product_ID"):
            list_price = self._list_price(order, int(row["M_Product_ID"]), int(row["Line"]))
            if price in (None, "", Decimal(0)):
                price = list_price
        price = Decimal(str(price or "0"))
        row["PriceActual"] = price
        row.setdefault("PriceEntered", price)
        row["LineNetAmt"] = qty * price

    def _list_price(self, order: dict[str, Any], product_id: int, line: int) -> Decimal | None:
        doc_type = self.get("C_DocType", int(order["C_DocTypeTarget_ID"])) or {}
        price = self.conn.execute("SELECT PriceStd FROM M_ProductPrice WHERE M_PriceList_ID = ? AND M_Product_ID = ?",
                                  (order["M_PriceList_ID"], product_id)).fetchone()
        if price is None:
            if doc_type.get("IsNoPriceListCheck") == "Y":
                return None
            raise ModelError("Cannot save record in C_OrderLine: " + self.translate(
                self._not_on_price_list(order, product_id, line)))
        return Decimal(price[0])

    def _not_on_price_list(self, order: dict[str, Any], product_id: int, line: int) -> str:
        """ProductNotOnPriceListException.buildMessage (iDempiere 11+), before translation."""
        product = self.get("M_Product", product_id) or {}
        price_list = self.get("M_PriceList", int(order["M_PriceList_ID"])) or {}
        parts = [f"@Line@:{line}", f"@M_Product_ID@: {product.get('Value', '?')} - {product.get('Name', '?')}",
                 f"@M_PriceList_ID@: {price_list.get('Name', '?')}"]
        ordered = str(order.get("DateOrdered") or "")[:10]
        if ordered:
            parts.append("@Date@: " + datetime.strptime(ordered, "%Y-%m-%d").strftime("%m/%d/%Y"))
        return "@ProductNotOnPriceList@ -> " + ", ".join(parts)

    # -- document actions ------------------------------------------------------------------------
    def doc_action(self, table: str, record_id: int, action: str) -> None:
        """ModelADServiceImpl.setDocAction on a C_Order: processIt(action), with the server's failure texts."""
        if table != "C_Order":
            raise ModelError(f"No table {table}")
        order = self.get("C_Order", record_id)
        if order is None:
            raise ModelError(f"No Record {record_id} in {table}")
        status = order["DocStatus"]
        lines = self.find("C_OrderLine", {"C_Order_ID": record_id})
        if action == "CO" and status in ("DR", "IP", "IN"):
            if not lines:  # MOrder.prepareIt: m_processMsg = "@NoLines@"; processIt returns false
                raise ModelError(self.translate("@FailedProcessingDocument@: @NoLines@"))
            total = sum((Decimal(line["LineNetAmt"]) for line in lines), Decimal(0))
            self._update("C_Order", record_id, DocStatus="CO", DocAction="CL", Processed="Y",
                         TotalLines=str(total), GrandTotal=str(total))
        elif action == "VO" and status in ("DR", "IP", "IN", "CO"):
            self.conn.execute("UPDATE C_OrderLine SET QtyOrdered = '0' WHERE C_Order_ID = ?", (record_id,))
            self._update("C_Order", record_id, DocStatus="VO", DocAction="--", Processed="Y")
        elif action == "CL" and status == "CO":
            self._update("C_Order", record_id, DocStatus="CL", DocAction="--", Processed="Y")
        else:  # DocumentEngine.processIt throws; setDocAction answers e.toString()
            raise ModelError(f"java.lang.IllegalStateException: Status={status} - Invalid Actions: Process={action}, "
                             f"Doc={action}")

    def _update(self, table: str, record_id: int, **values: Any) -> None:
        sets = ", ".join(f"{c} = ?" for c in values)
        self.conn.execute(f"UPDATE {table} SET {sets} WHERE {table}_ID = ?",
                          (*[_db_value(v) for v in values.values()], record_id))


def _db_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    return value
