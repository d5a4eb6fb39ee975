"""momo rows -> canonical orders (pure: no network, no database).

An unsent-order query answers one row per order *item*, keyed by ``completeOrderNo`` such as
``20140918203512-001-001-001``. Choices (spec §3 is third-party only; all configurable by the adapter):

- **Grouping.** The order number is the first ``order_key_parts`` dash-separated parts of
  ``completeOrderNo`` (default 1: ``20140918203512``, momo's 14-digit 訂單編號); rows sharing it form
  one order, each row one line whose ``external_line_id`` is the full ``completeOrderNo`` (the key
  the ship confirm needs).
- **Times.** momo sends no order time, but the order number starts with ``yyyyMMddHHmmss`` in
  Asia/Taipei; that is the created (and updated) time, converted to UTC. A number that does not
  start with a valid timestamp makes the order unmappable rather than guessing.
- **Status.** Every row of an *unsent* query is paid (momo collects payment) and waits for the
  vendor to ship: canonical ``ready_to_ship`` by default (``unsent_status``); ``platform_status``
  is the query that found it (``unsendCompanyQuery`` ...).
- **Money.** ``buyPrice`` is the unit price the vendor is paid (a string or number; commas allowed),
  ``syslast`` the quantity string; both become ``Decimal``. Currency TWD.
- **SKU.** ``entpGoodsNo`` (the vendor's own item number) when present, else ``goodsCode`` joined
  with ``goodsDtCode`` (the variant) by ``-``.
- **Masking.** Store and third-party rows carry masked receivers (``王*明``); they stay masked and
  the address is flagged ``masked``.
- **Contact.** ``receiverMobile`` before ``receiverTel``; ``postNo`` is the zip when present; the
  buyer is ``custName`` (masked by momo, e.g. ``林O筠``) or else the receiver.
- **Cancellations.** Rows of ``stopSendingQuery`` (攔貨: the buyer cancelled, momo asks the vendor
  not to ship) map to ``cancelled``. momo sends no ``buyPrice`` there, so such lines carry unit price
  0 and the order ``total`` is None: the destinations act on the status (cancel), not on amounts.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from platforms.base import Address, Buyer, Order, OrderLine, UnmappableOrder

__all__ = ["order_number", "group_rows", "map_order", "map_rows", "iter_orders", "parse_address", "order_time"]

TAIPEI = ZoneInfo("Asia/Taipei")
STOP_QUERY = "stopSendingQuery"
MASKED_QUERIES = ("unsendStoresQuery", "unsendThirdQuery")
_ADDRESS_RE = re.compile(r"^\s*(?P<zip>\d{3,6})?\s*(?P<city>[^\d\s]{2}[市縣])?(?P<district>[^\d\s]{1,4}?[區鄉鎮市])?"
                         r"(?P<rest>.*)$")


class _Unmappable(ValueError):
    """A row field that cannot be mapped; the message names the field."""


def order_number(complete_order_no: str, parts: int = 1) -> str:
    """The order a ``completeOrderNo`` belongs to: its first ``parts`` dash-separated parts."""
    return "-".join(str(complete_order_no).strip().split("-")[:max(1, parts)])


def group_rows(rows: Iterable[Mapping[str, Any]], parts: int = 1) -> dict[str, list[Mapping[str, Any]]]:
    """Rows grouped by order number, in first-seen order (rows without a number go under ``""``)."""
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for row in rows:
        number = str(row.get("completeOrderNo") or "").strip()
        groups.setdefault(order_number(number, parts) if number else "", []).append(row)
    return groups


def order_time(number: str) -> datetime:
    """Aware UTC time from the ``yyyyMMddHHmmss`` (Asia/Taipei) head of an order number."""
    head = number[:14]
    try:
        local = datetime.strptime(head, "%Y%m%d%H%M%S")
    except ValueError:
        raise _Unmappable(f"order number {number!r} does not start with a yyyyMMddHHmmss time") from None
    return local.replace(tzinfo=TAIPEI).astimezone(UTC)


def parse_address(full: str | None, *, name: str | None, phone: str | None, masked: bool) -> Address:
    """Split a Taiwanese one-line address (zip, 縣市, 鄉鎮市區, rest) and keep the one-line form."""
    text = (full or "").strip()
    match = _ADDRESS_RE.match(text) if text else None
    parts = match.groupdict() if match else {}
    return Address(name=name, phone=phone, country="TW", city=parts.get("city"), district=parts.get("district"),
                   zip=parts.get("zip"), line1=(parts.get("rest") or "").strip() or None, full=text or None,
                   masked=masked)


def _decimal(row: Mapping[str, Any], field: str) -> Decimal:
    value = row.get(field)
    if value is None or isinstance(value, float | bool):
        raise _Unmappable(f"{field} is {value!r}, expected a decimal string")
    try:
        result = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        raise _Unmappable(f"{field} is {value!r}, not a number") from None
    if not result.is_finite():
        raise _Unmappable(f"{field} is {value!r}, not a finite number")
    return result


def _sku(row: Mapping[str, Any]) -> str | None:
    own = str(row.get("entpGoodsNo") or "").strip()
    if own:
        return own
    code = str(row.get("goodsCode") or "").strip()
    variant = str(row.get("goodsDtCode") or "").strip()
    if not code:
        return None
    return f"{code}-{variant}" if variant else code


def _line(row: Mapping[str, Any], *, priced: bool = True) -> OrderLine:
    qty = _decimal(row, "syslast")
    if qty <= 0:
        raise _Unmappable(f"syslast (quantity) is {row.get('syslast')!r}, must be positive")
    name = " ".join(p for p in (str(row.get("goodsName") or "").strip(), str(row.get("goodsDtInfo") or "").strip())
                    if p) or None
    price = _decimal(row, "buyPrice") if priced or row.get("buyPrice") not in (None, "") else Decimal(0)
    return OrderLine(sku=_sku(row), name=name, qty=qty, unit_price=price,
                     external_line_id=str(row["completeOrderNo"]).strip())


def _text(row: Mapping[str, Any], field: str) -> str | None:
    return str(row.get(field) or "").strip() or None


def _is_masked(query: str, row: Mapping[str, Any]) -> bool:
    fields = (row.get("receiver"), row.get("receiverTel"), row.get("receiverAddr"))
    return query in MASKED_QUERIES or bool(row.get("receiverMask")) or any("*" in str(f or "") for f in fields)


def map_order(number: str, rows: list[Mapping[str, Any]], *, query: str, status: str = "ready_to_ship",
              channel: str | None = None) -> Order | UnmappableOrder:
    """One canonical order from the rows of one order number (see the module docstring)."""
    raw = {"query": query, "rows": list(rows)}  # the parsed rows themselves: no copy (memory stays per window)
    if not number:
        return UnmappableOrder(None, raw, "momo row without completeOrderNo")
    cancelled = query == STOP_QUERY
    try:
        created = order_time(number)
        lines = tuple(_line(r, priced=not cancelled) for r in rows)
    except _Unmappable as exc:
        return UnmappableOrder(number, raw, f"momo order {number}: {exc}")
    first = rows[0]
    receiver = _text(first, "receiver")
    phone = _text(first, "receiverMobile") or _text(first, "receiverTel")
    masked = _is_masked(query, first)
    note = _text(first, "msg") or _text(first, "msgNote")
    priced = all(r.get("buyPrice") not in (None, "") for r in rows)
    address = parse_address(first.get("receiverAddr"), name=receiver, phone=phone, masked=masked)
    if _text(first, "postNo") and not address.zip:
        address = replace(address, zip=_text(first, "postNo"))
    return Order(
        external_id=number, status="cancelled" if cancelled else status, platform_status=query, created_at=created,
        updated_at=created, paid_at=created, currency="TWD", lines=lines,
        total=sum((ln.qty * ln.unit_price for ln in lines), Decimal(0)) if priced else None,
        buyer=Buyer(id=_text(first, "custId"), phone=phone,
                    name=_text(first, "custName") or _text(first, "custNameMask") or receiver),
        shipping_address=address,
        note=note, packages=tuple(sorted({str(r["slipNo"]) for r in rows if r.get("slipNo")})), raw=raw,
        channel=channel,
    )


def iter_orders(rows: Iterable[Mapping[str, Any]], *, query: str, parts: int = 1, status: str = "ready_to_ship",
                channel: str | None = None) -> Iterator[Order | UnmappableOrder]:
    """The orders of one query answer, mapped one at a time (the caller's memory holds one answer's rows)."""
    for number, group in group_rows(rows, parts).items():
        yield map_order(number, group, query=query, status=status, channel=channel)


def map_rows(rows: Iterable[Mapping[str, Any]], *, query: str, parts: int = 1, status: str = "ready_to_ship",
             channel: str | None = None) -> list[Order | UnmappableOrder]:
    """All orders of one query answer, as a list."""
    return list(iter_orders(rows, query=query, parts=parts, status=status, channel=channel))
