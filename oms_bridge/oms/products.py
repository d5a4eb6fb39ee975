"""Omnitron product ids of marketplace SKUs: the map, the ``product_reference`` policy, the report.

Why: an order item the bridge serves names its product by SKU only (``product.pk`` = None). The
OMS keeps relying on Omnitron for products (seed 000: "OMS's other dependencies on Omnitron remain
intact"), and its own order items link to products by their Omnitron id (spec §2.5,
``product.omnitron_id``). Whether the OMS can work without that id is not public, so
``[oms_bridge.oms] product_reference`` decides:

- ``off``: serve ``product.pk`` when the SKU is mapped, report nothing;
- ``warn`` (default): the same, and list the SKUs without an id (``oms-bridge oms products list
  --unmapped``, the admin's *OMS products* page) before the OMS reads their orders;
- ``hold``: an order with a SKU that has no id is not served to (nor pushed to) the OMS: its
  ``oms`` delivery row is held with the code ``omnitron_product:<SKU>`` and the sentence to act on;
  mapping the SKU (:func:`set_product`, CLI, web, CSV import) re-arms exactly those rows, as the ERP
  SKU map does for ``missing_sku:<SKU>``. The pull API leaves such orders out by a SQL condition
  (:data:`LACKS_PRODUCT_REF`), so an order is never served between GetOrder and the check.

A line without any SKU can never be mapped: under ``hold`` its order waits with the code
``omnitron_product:`` (empty SKU) until the admin retries it (``oms retry-orders``) or changes the
policy.
"""

from __future__ import annotations

import csv
import io
import logging
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import exists, func, or_, select
from sqlalchemy.orm import Session

from oms_bridge.oms.config import OmsConfig
from oms_bridge.store.lists import one_of
from oms_bridge.store.models import Delivery, Order, OrderLine
from oms_bridge.store.models.oms_notify import PRODUCT_HOLD_PREFIX, OmsProductRef, product_hold_code
from oms_bridge.store.outbox import mark_held, rearm_held
from oms_bridge.store.rows import plain

__all__ = ["LACKS_PRODUCT_REF", "product_ids", "missing_skus", "set_product", "remove_product", "list_products",
           "parse_csv", "ProductRow", "unmapped_report", "hold_missing", "hold_reason", "MAX_PRODUCT_ID"]

log = logging.getLogger(__name__)
MAX_PRODUCT_ID = 2**31 - 1

#: SQL condition: the order has a line whose SKU has no Omnitron product id (or no SKU at all).
LACKS_PRODUCT_REF = exists().where(
    OrderLine.oms_order_id == Order.id,
    or_(OrderLine.sku.is_(None), OrderLine.sku == "",
        ~exists().where(OmsProductRef.sku == OrderLine.sku, OmsProductRef.isactive.is_(True))),
)


def product_ids(session: Session, skus: Iterable[str | None]) -> dict[str, int]:
    """SKU → Omnitron product id for the mapped ones among ``skus``."""
    wanted = {s for s in skus if s}
    if not wanted:
        return {}
    return dict(plain(session, _REFS, {"skus": list(wanted)}).tuples().all())


#: built once (every page of ``orders/`` asks)
_REFS = select(OmsProductRef.sku, OmsProductRef.omnitron_product_id).where(
    one_of(OmsProductRef.sku, "skus"), OmsProductRef.isactive.is_(True))


def missing_skus(lines: Sequence[OrderLine], refs: Mapping[str, int]) -> list[str | None]:
    """The order's SKUs without a product id, in line order (None: a line without a SKU). Pure."""
    out: list[str | None] = []
    for line in lines:
        sku = line.sku or None
        if (sku is None or sku not in refs) and sku not in out:
            out.append(sku)
    return out


def hold_reason(number: str, missing: Sequence[str | None]) -> str:
    """The sentence an admin reads on an order held for product ids."""
    first = missing[0]
    if first is None:
        head = (f"order {number} has a line without a SKU, so it has no Omnitron product id "
                "(oms.product_reference = hold); fix the order or set product_reference = \"warn\", then "
                "`oms-bridge oms retry-orders`")
    else:
        head = (f"order {number}: SKU {first} has no Omnitron product id (oms.product_reference = hold); map it: "
                f"oms-bridge oms products map {first} <OMNITRON_PRODUCT_ID>")
    rest = [s or "(no SKU)" for s in missing[1:]]
    return head + (f" (also unmapped: {', '.join(rest[:5])}{' …' if len(rest) > 5 else ''})" if rest else "")


def set_product(session: Session, sku: str, product_id: int) -> int:
    """Map ``sku``; returns how many ``oms`` rows held for it were re-armed."""
    sku = sku.strip()
    if not sku:
        raise ValueError("the SKU must not be empty")
    if isinstance(product_id, bool) or not 0 < int(product_id) <= MAX_PRODUCT_ID:
        raise ValueError(f"SKU {sku}: the Omnitron product id must be a positive whole number, got {product_id!r}")
    row = session.scalars(select(OmsProductRef).where(OmsProductRef.sku == sku)).one_or_none()
    if row is None:
        row = OmsProductRef(sku=sku, omnitron_product_id=int(product_id))
        session.add(row)
    row.omnitron_product_id, row.isactive = int(product_id), True
    session.flush()
    return rearm_held(session, "oms", code=product_hold_code(sku))


def remove_product(session: Session, sku: str) -> bool:
    row = session.scalars(select(OmsProductRef).where(OmsProductRef.sku == sku.strip())).one_or_none()
    if row is None:
        return False
    session.delete(row)
    return True


def list_products(session: Session) -> list[OmsProductRef]:
    return list(session.scalars(select(OmsProductRef).order_by(OmsProductRef.sku)))


@dataclass(frozen=True)
class ProductRow:
    """One good CSV row."""

    line_no: int
    sku: str
    product_id: int


_ID_COLUMNS = ("omnitron_product_id", "product_id", "product_pk", "pk")


def parse_csv(text: str) -> tuple[list[ProductRow], list[str]]:
    """Rows of a ``sku,omnitron_product_id`` CSV (UTF-8, header required), and one message per bad row. Pure.

    The id column may also be named ``product_id``, ``product_pk`` or ``pk``. A SKU given twice
    keeps its last row (reported).
    """
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff"), newline=""))
    header = [(h or "").strip().lower() for h in (reader.fieldnames or [])]
    id_column = next((c for c in _ID_COLUMNS if c in header), None)
    if "sku" not in header or id_column is None:
        return [], [f"the header must be sku,omnitron_product_id; got {','.join(header) or 'nothing'}"]
    rows: dict[str, ProductRow] = {}
    errors: list[str] = []
    for line_no, raw in enumerate(reader, start=2):
        row = {(k or "").strip().lower(): (v or "").strip() for k, v in raw.items() if k is not None}
        sku, value = row.get("sku", ""), row.get(id_column, "")
        if not sku and not value:
            continue  # a blank line
        if not sku:
            errors.append(f"line {line_no}: sku is empty")
        elif "\x00" in sku or len(sku) > 120:
            errors.append(f"line {line_no}: SKU {sku[:40]!r} is not a usable SKU (NUL or longer than 120)")
        elif not value.isdigit() or not 0 < int(value) <= MAX_PRODUCT_ID:
            errors.append(f"line {line_no}: SKU {sku}: {id_column} {value!r} is not a positive whole number")
        else:
            if sku in rows:
                errors.append(f"line {line_no}: SKU {sku} appears again (line {rows[sku].line_no}); the later row wins")
            rows[sku] = ProductRow(line_no, sku, int(value))
    return list(rows.values()), errors


def unmapped_report(session: Session, *, limit: int = 500) -> list[dict]:
    """SKUs without a product id in orders the OMS has not acknowledged yet, most orders first.

    ``orders``: such orders; ``held``: those whose ``oms`` row is held for the SKU; ``name``: a line name.
    """
    open_rows = (select(Delivery.oms_order_id).where(Delivery.destination == "oms", Delivery.state != "sent")
                 .scalar_subquery())
    mapped = exists().where(OmsProductRef.sku == OrderLine.sku, OmsProductRef.isactive.is_(True))
    stmt = (select(OrderLine.sku, func.count(func.distinct(OrderLine.oms_order_id)), func.min(OrderLine.name))
            .where(OrderLine.oms_order_id.in_(open_rows), ~mapped)
            .group_by(OrderLine.sku).order_by(func.count(func.distinct(OrderLine.oms_order_id)).desc(),
                                              OrderLine.sku).limit(limit))
    held = Counter(session.scalars(select(Delivery.hold_code).where(
        Delivery.destination == "oms", Delivery.state == "held", Delivery.hold_code.startswith(PRODUCT_HOLD_PREFIX))))
    return [{"sku": sku, "orders": n, "held": held.get(product_hold_code(sku), 0), "name": name}
            for sku, n, name in session.execute(stmt)]


def hold_missing(session: Session, rows: Sequence[Delivery], config: OmsConfig, *,
                 warned: set[str | None] | None = None) -> dict[str, int]:
    """Apply the policy to these ``oms`` rows before the OMS may see their orders.

    ``hold``: rows whose order lacks a product id are held (see module doc). ``warn``: each SKU is
    logged once per call, or once per ``warned`` set the caller keeps (a run over several batches).
    Returns ``{"held": n, "unmapped_orders": n}``.
    """
    counts = {"held": 0, "unmapped_orders": 0}
    if config.product_reference == "off" or not rows:
        return counts
    order_ids = [r.oms_order_id for r in rows]
    lines: dict[int, list[OrderLine]] = {}
    for line in session.scalars(select(OrderLine).where(OrderLine.oms_order_id.in_(order_ids))
                                .order_by(OrderLine.line_no)):
        lines.setdefault(line.oms_order_id, []).append(line)
    refs = product_ids(session, (ln.sku for ls in lines.values() for ln in ls))
    numbers = dict(session.execute(select(Order.id, Order.external_id).where(Order.id.in_(order_ids))).tuples().all())
    warned = set() if warned is None else warned
    for row in rows:
        missing = missing_skus(lines.get(row.oms_order_id, []), refs)
        if not missing:
            continue
        counts["unmapped_orders"] += 1
        if config.product_reference == "hold":
            mark_held(row, hold_reason(numbers.get(row.oms_order_id, "?"), missing), code=product_hold_code(missing[0]))
            counts["held"] += 1
        else:
            new = [s for s in missing if s not in warned]
            warned.update(new)
            if new:
                log.warning("SKU(s) without an Omnitron product id go to the OMS with product.pk = null: %s "
                            "(map them: oms-bridge oms products map SKU ID)", ", ".join(s or "(no SKU)" for s in new))
    return counts
