"""SKU → ERP product mappings: the one write (:func:`save_mapping`, which re-queues the orders held for the SKU),
the CSV rows (:func:`parse_csv`), and the check against the ERP before a mapping is saved (:func:`verify`).

Why the check: a mapping re-queues every order held for its SKU. A typo in the product id would send 838 orders
to the ERP only to be held again, each with a new failed attempt. So the web looks the product up in the ERP
(``queryData`` on ``M_Product``, the ``query_product`` service type the delivery uses) and saves only what the
ERP has, showing the product's name. ``oms-bridge sku map`` and ``sku import`` do the same (their ``--no-check``
skips it, for an ERP that cannot be asked). One lookup serves a whole CSV: one query per connection for all its
ids and one for all its search keys. The lookup runs with no store transaction open.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.erp.config import REQUIRED_OUTPUTS, ErpOptions
from oms_bridge.erp.delivery import client_for, resolve_connection
from oms_bridge.erp.mapping import product_filter
from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.models import Channel, ErpConnection, SkuMap

__all__ = ["Mapping", "save_mapping", "parse_csv", "verify", "Checked", "hold_code_of_sku", "CSV_HEADER_HELP",
           "NOT_FOUND", "UNREACHABLE", "NO_CONNECTION"]

CSV_HEADER_HELP = "header must be sku,m_product_id or sku,m_product_value (optional column channel)"

#: Why a mapping was refused (:attr:`Checked.cause`): the ERP answered without the product, or it could not be
#: asked at all (an error or no connection), where only the admin knows whether the product is right.
NOT_FOUND, UNREACHABLE, NO_CONNECTION = "not_found", "unreachable", "no_connection"


@dataclass(frozen=True)
class Mapping:
    """One wanted mapping: the SKU, the product by id or by search key, and its scope (0: every channel)."""

    sku: str
    product_id: int | None
    product_value: str | None
    scope: int = 0

    @property
    def target(self) -> str:
        return f"product {self.product_id}" if self.product_id is not None else f"product value {self.product_value}"


@dataclass(frozen=True)
class Checked:
    """What the ERP said about a mapping: the product found (id, search key, name) or why it cannot be used
    (``problem``, and its ``cause``: :data:`NOT_FOUND`, :data:`UNREACHABLE` or :data:`NO_CONNECTION`)."""

    mapping: Mapping
    product_id: int | None = None
    value: str | None = None
    name: str | None = None
    problem: str | None = None
    cause: str | None = None

    @property
    def found(self) -> str:
        """The product the ERP has, as the admin is shown it: ``product 128 (Azalea Bush: Azalea Bush)``."""
        return f"product {self.product_id} ({self.value or ''}: {self.name or 'no name'})"


def hold_code_of_sku(sku: str) -> str:
    """The hold code of ERP rows held for an unmapped SKU (:mod:`oms_bridge.erp.holds`)."""
    return f"missing_sku:{sku}"


def save_mapping(session: Session, mapping: Mapping) -> int:
    """Create or change the mapping and re-queue the ERP deliveries held for its SKU; returns how many."""
    row = session.scalars(select(SkuMap).where(SkuMap.sku == mapping.sku,
                                              SkuMap.scope_channel_id == mapping.scope)).first()
    if row is None:
        row = SkuMap(sku=mapping.sku, scope_channel_id=mapping.scope)
        session.add(row)
    row.m_product_id, row.m_product_value, row.isactive = mapping.product_id, mapping.product_value, True
    session.flush()
    return outbox.rearm_held(session, "erp", code=hold_code_of_sku(mapping.sku))


def _row(row: dict[str, str], channels: dict[str, int]) -> tuple[str | None, Mapping | None]:
    sku = row.get("sku", "")
    if not sku:
        return "sku is empty", None
    product, value = row.get("m_product_id", ""), row.get("m_product_value", "")
    if product and value:
        return f"SKU {sku}: give m_product_id or m_product_value, not both", None
    if not product and not value:
        return f"SKU {sku}: no m_product_id or m_product_value", None
    product_id = None
    if product:
        if not product.isdigit() or int(product) <= 0 or int(product) > 2**31 - 1:
            return f"SKU {sku}: m_product_id {product!r} is not a positive whole number", None
        product_id = int(product)
    channel = row.get("channel", "")
    if channel and channel not in channels:
        return f"SKU {sku}: unknown channel {channel!r}", None
    return None, Mapping(sku, product_id, value or None, channels.get(channel, 0))


def parse_csv(text: str, channels: dict[str, int]) -> tuple[list[tuple[int, Mapping]], list[str]]:
    """(line number, mapping) per good row, and one message per bad row (``line N: ...``); a bad header is the
    only message when the header does not fit (:data:`CSV_HEADER_HELP`)."""
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [h.strip() for h in (reader.fieldnames or [])]
    if "sku" not in header or not ({"m_product_id", "m_product_value"} & set(header)):
        return [], [f"{CSV_HEADER_HELP}; got {','.join(header) or 'nothing'}"]
    good: list[tuple[int, Mapping]] = []
    errors: list[str] = []
    for line_no, raw in enumerate(reader, start=2):
        problem, mapping = _row({(k or "").strip(): (v or "").strip() for k, v in raw.items()}, channels)
        if problem or mapping is None:
            errors.append(f"line {line_no}: {problem}")
        else:
            good.append((line_no, mapping))
    return good, errors


def _connections(session: Session, scope: int) -> list[ErpConnection]:
    """The ERP connection(s) a mapping of this scope is used with: the channel's, or every active one."""
    if scope:
        channel = session.get(Channel, scope)
        conn = resolve_connection(session, channel) if channel else None
        return [conn] if conn else []
    return list(session.scalars(select(ErpConnection).where(ErpConnection.isactive.in_([True]))
                                .order_by(ErpConnection.id)))


def verify(settings: Settings, session_factory, mappings: Iterable[Mapping]) -> list[Checked]:
    """Look each mapping's product up in the ERP (one ``queryData`` per connection for all of them).

    ``session_factory`` opens a read-only store session (only to read the connections; it is closed before
    the ERP is called). A mapping is usable when every ERP connection it is used with has the product.
    """
    wanted = list(mappings)
    with session_factory() as session:  # once per scope: a CSV of 5000 rows has one or a few
        conns = {scope: _connections(session, scope) for scope in {m.scope for m in wanted}}
        for conn in {id(c): c for found in conns.values() for c in found}.values():  # scopes share connections
            session.expunge(conn)
    found_by: dict[int, tuple[dict[int, dict[str, str]], dict[str, dict[str, str]]] | str] = {}
    for conn in {c.id: c for cs in conns.values() for c in cs}.values():
        ids = {m.product_id for m in wanted if m.product_id is not None and conn in conns[m.scope]}
        values = {m.product_value for m in wanted if m.product_value and conn in conns[m.scope]}
        try:
            found_by[conn.id] = _lookup(conn, settings, ids, values)
        except Exception as exc:  # noqa: BLE001 - an unreachable ERP refuses the mapping with its reason
            found_by[conn.id] = f"ERP connection {conn.value} could not be asked: {exc}"
    return [_check(m, conns[m.scope], found_by) for m in wanted]


def _lookup(conn: ErpConnection, settings: Settings, ids: set[int],
            values: set[str | None]) -> tuple[dict[int, dict[str, str]], dict[str, dict[str, str]]]:
    options = ErpOptions.from_json(conn.settings_json)
    client = client_for(conn, settings, options)
    rows: list[dict[str, str]] = []
    st = options.service_types["query_product"]
    if ids:
        rows += client.query(st, "M_Product", filter=f"M_Product_ID IN ({','.join(str(i) for i in sorted(ids))})",
                             require=REQUIRED_OUTPUTS["query_product"])
    if values:
        rows += client.query(st, "M_Product", filter=product_filter(v for v in values if v),
                             require=REQUIRED_OUTPUTS["query_product"])
    by_id = {int(r["M_Product_ID"]): r for r in rows if r.get("M_Product_ID")}
    by_value = {r["Value"]: r for r in rows if r.get("Value")}
    return by_id, by_value


def _check(mapping: Mapping, conns: list[ErpConnection], found_by: dict) -> Checked:
    if not conns:
        return Checked(mapping, cause=NO_CONNECTION,
                       problem="no ERP connection to check the product against (add one on the "
                               "ERP connection settings, or link the channel to one); nothing was saved")
    result: Checked | None = None
    for conn in conns:
        found = found_by[conn.id]
        if isinstance(found, str):
            return Checked(mapping, problem=f"{found}; nothing was saved", cause=UNREACHABLE)
        by_id, by_value = found
        row = by_id.get(mapping.product_id) if mapping.product_id is not None else by_value.get(mapping.product_value)
        if row is None:
            return Checked(mapping, cause=NOT_FOUND,
                           problem=f"SKU {mapping.sku}: iDempiere ({conn.value}) has no {mapping.target}; "
                                   "check the id or search key (nothing was saved, no order was re-queued)")
        result = Checked(mapping, product_id=int(row["M_Product_ID"]), value=row.get("Value"), name=row.get("Name"))
    assert result is not None
    return result
