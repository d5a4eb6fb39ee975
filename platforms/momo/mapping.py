"""momo rows -> canonical orders (pure: no network, no database). docs/contracts/momo.md has the sources.

An unsent-order query answers one row per order *item*, keyed by ``completeOrderNo`` such as
``20140918203512-001-001-001``. What the mapping relies on:

- **Grouping** (inferred). The order number is the first ``order_key_parts`` dash-separated parts of
  ``completeOrderNo`` (default 1: ``20140918203512``, momo's 14-digit 訂單編號); rows sharing it form one order,
  each row one line whose ``external_line_id`` is the full ``completeOrderNo`` (the key every confirm needs).
- **Times** (inferred). momo sends no order time, but the order number starts with ``yyyyMMddHHmmss`` in
  Asia/Taipei; that is the created (and updated) time, converted to UTC. A number without a valid timestamp makes
  the order unmappable rather than guessing.
- **Status** (inferred). Every row of an *unsent* query is paid (momo collects payment) and waits for the vendor:
  canonical ``ready_to_ship`` by default (``unsent_status``); ``platform_status`` is the query that found it.
- **Money** (confirmed: Momo.java). ``buyPrice`` is the vendor's tax-inclusive purchase price (進價含稅), what
  momo pays the vendor, not what the buyer paid. The ERP sales order goes to momo as the customer, so lines are
  priced at ``buyPrice`` by default (inferred; ``price_field`` = ``salePrice`` books the consumer price some
  store and third-party rows carry instead). ``syslast`` is the quantity string. Both become ``Decimal``; TWD.
- **SKU**. ``entpGoodsNo`` (the vendor's own item number) when present, else ``goodsCode`` joined with
  ``goodsDtCode`` (the variant) by ``-``.
- **Receivers** (confirmed: Momo.java). Company rows carry the receiver in clear (``receiver``,
  ``receiverMobile``/``receiverTel``, ``postNo``, ``receiverAddr``) and the orderer as ``custName`` (momo masks it:
  林O筠). Store pickup rows carry ``receiverMask`` / ``receiver``, ``custNameMask`` and the pickup store
  ``storeIdName`` (the address is the store); third-party rows ``receiverMask``, ``receiverAddrMask``, ``postNo``,
  ``custNameMask`` and the carrier ``orderDelyGbName``. Masked values stay masked and the address is flagged
  ``masked``; the pickup store and the carrier also go into the order note, where the OMS and the admin read them.
- **Stop-shipping requests** (confirmed: Momo.java). ``stopSendingQuery`` rows (攔貨) are requests the vendor
  answers, not cancellations: they become :attr:`Order.cancel_request` (:func:`cancel_request`): ``reference`` the
  rows' ``completeOrderNo`` list, ``reason`` the ``returnReason`` (and ``notAllowReason``), ``allowed`` whether
  every row has ``allowExecuteYN`` Y. Stop rows carry no price, address or time: an order seen only there is
  built by :func:`request_only_order` and flagged ``request_only`` (the store keeps the content it has).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from zoneinfo import ZoneInfo

from platforms.base import Address, Buyer, CancelRequest, Order, OrderLine, UnmappableOrder

__all__ = ["order_number", "group_rows", "map_order", "map_rows", "iter_orders", "parse_address", "order_time",
           "cancel_request", "request_only_order", "PRICE_FIELDS", "STORE_CHAINS", "THIRD_CARRIERS"]

TAIPEI = ZoneInfo("Asia/Taipei")
STOP_QUERY = "stopSendingQuery"
PRICE_FIELDS = ("buyPrice", "salePrice")
#: store pickup chain per ``dely_gb`` code (TypeScript client definitions)
STORE_CHAINS = {"21": "7-11", "27": "全家", "28": "7-11 店到店", "29": "全家 店到店", "2A": "OK mart", "2B": "萊爾富"}
THIRD_CARRIERS = {"61": "宅配通", "62": "新竹貨運", "63": "宅急便"}
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


def _line(row: Mapping[str, Any], price_field: str | None) -> OrderLine:
    """One line; ``price_field`` None: a stop row, which carries no price (the line is priced 0)."""
    qty = _decimal(row, "syslast")
    if qty <= 0:
        raise _Unmappable(f"syslast (quantity) is {row.get('syslast')!r}, must be positive")
    name = " ".join(p for p in (str(row.get("goodsName") or "").strip(), str(row.get("goodsDtInfo") or "").strip())
                    if p and p != "無") or None
    price = _decimal(row, price_field) if price_field else Decimal(0)
    if price < 0:
        raise _Unmappable(f"{price_field} is {row.get(price_field)!r}, must not be negative")
    return OrderLine(sku=_sku(row), name=name, qty=qty, unit_price=price,
                     external_line_id=str(row["completeOrderNo"]).strip())


def _text(row: Mapping[str, Any], *fields: str) -> str | None:
    """The first of ``fields`` with a non-blank value."""
    for field in fields:
        value = str(row.get(field) or "").strip()
        if value:
            return value
    return None


def _receiver(query: str, row: Mapping[str, Any], filters: Mapping[str, str]) -> tuple[Address, str | None]:
    """(shipping address, delivery note) of the list's row shape (see the module doc)."""
    if query == "unsendStoresQuery":
        store = _text(row, "storeIdName")
        chain = STORE_CHAINS.get(str(filters.get("dely_gb") or ""))
        name = _text(row, "receiver", "Receiver", "receiverMask")
        address = Address(name=name, country="TW", line1=store, full=store, masked=True)
        where = " ".join(p for p in (chain, store) if p)
        return address, f"超商取貨 {where}" if where else None
    if query == "unsendThirdQuery":
        address = parse_address(_text(row, "receiverAddrMask", "receiverAddr"),
                                name=_text(row, "receiverMask", "receiver", "Receiver"), phone=None, masked=True)
        if _text(row, "postNo"):
            address = replace(address, zip=_text(row, "postNo"))
        carrier = _text(row, "orderDelyGbName") or THIRD_CARRIERS.get(str(filters.get("third_delyGb") or ""))
        return address, f"第三方物流 {carrier}" if carrier else None
    phone = _text(row, "receiverMobile", "receiverTel")
    fields = (row.get("receiver"), row.get("receiverTel"), row.get("receiverMobile"), row.get("receiverAddr"))
    masked = bool(row.get("receiverMask")) or any("*" in str(f or "") for f in fields)
    address = parse_address(_text(row, "receiverAddr"), name=_text(row, "receiver"), phone=phone, masked=masked)
    if _text(row, "postNo") and not address.zip:
        address = replace(address, zip=_text(row, "postNo"))
    return address, None


def map_order(number: str, rows: list[Mapping[str, Any]], *, query: str, status: str = "ready_to_ship",
              channel: str | None = None, filters: Mapping[str, str] | None = None,
              price_field: str = "buyPrice", stop_rows: list[Mapping[str, Any]] | None = None,
              ) -> Order | UnmappableOrder:
    """One canonical order from the rows of one order number (see the module doc).

    ``filters`` is the query variant that found the rows (the store chain / carrier codes); ``stop_rows`` the
    order's rows in ``stopSendingQuery``, if any: they become its ``cancel_request``.
    """
    filters = filters or {}
    raw: dict[str, Any] = {"query": query, "filters": dict(filters), "rows": list(rows)}
    if stop_rows:
        raw["stop_rows"] = list(stop_rows)
    if not number:
        return UnmappableOrder(None, raw, "momo row without completeOrderNo")
    if price_field not in PRICE_FIELDS:
        return UnmappableOrder(number, raw, f"momo setting price_field {price_field!r} is not one of "
                                            f"{', '.join(PRICE_FIELDS)}")
    try:
        created = order_time(number)
        lines = tuple(_line(r, price_field) for r in rows)
        request = cancel_request(stop_rows) if stop_rows else None
    except _Unmappable as exc:
        return UnmappableOrder(number, raw, f"momo order {number}: {exc}")
    first = rows[0]
    address, delivery = _receiver(query, first, filters)
    note = " / ".join(p for p in (_text(first, "msg"), _text(first, "msgNote"), _text(first, "scm_msg"), delivery)
                      if p) or None
    return Order(
        external_id=number, status=status, platform_status=query, created_at=created, updated_at=created,
        paid_at=created, currency="TWD", lines=lines, total=sum((ln.qty * ln.unit_price for ln in lines), Decimal(0)),
        buyer=Buyer(id=_text(first, "custId"), phone=address.phone,
                    name=_text(first, "custName", "custNameMask") or address.name),
        shipping_address=address, note=note,
        packages=tuple(sorted({str(r["slipNo"]) for r in rows if r.get("slipNo")})), raw=raw, channel=channel,
        cancel_request=request,
    )


def cancel_request(stop_rows: list[Mapping[str, Any]]) -> CancelRequest:
    """The stop-shipping request of one order's ``stopSendingQuery`` rows (see the module doc)."""
    numbers = [str(r.get("completeOrderNo") or "").strip() for r in stop_rows]
    if not all(numbers):
        raise _Unmappable("a stopSendingQuery row has no completeOrderNo")
    flags = {str(r.get("allowExecuteYN") or "").strip().upper() for r in stop_rows}
    allowed = False if "N" in flags else (True if flags == {"Y"} else None)
    reasons = dict.fromkeys(t for r in stop_rows for t in (_text(r, "returnReason"), _text(r, "notAllowReason")) if t)
    return CancelRequest(reason="; ".join(reasons) or None, reference=",".join(sorted(numbers)), allowed=allowed)


def request_only_order(number: str, stop_rows: list[Mapping[str, Any]], *, status: str = "ready_to_ship",
                       channel: str | None = None) -> Order | UnmappableOrder:
    """An order known only from its stop rows: the request, unpriced lines, ``request_only`` (module doc)."""
    raw = {"query": STOP_QUERY, "stop_rows": list(stop_rows)}
    if not number:
        return UnmappableOrder(None, raw, "momo stopSendingQuery row without completeOrderNo")
    try:
        created = order_time(number)
        request = cancel_request(stop_rows)
    except _Unmappable as exc:
        return UnmappableOrder(number, raw, f"momo order {number} (stop list): {exc}")
    # the lines are only what the stop list shows (the store keeps a known order's own): a row whose quantity
    # cannot be read is left out rather than keeping the request from being answered
    lines = []
    for row in stop_rows:
        try:
            lines.append(_line(row, None))
        except _Unmappable:
            continue
    return Order(external_id=number, status=status, platform_status=STOP_QUERY, created_at=created,
                 updated_at=created, currency="TWD", lines=tuple(lines), total=None,
                 shipping_address=Address(name=_text(stop_rows[0], "receiver"), country="TW", masked=True),
                 raw=raw, channel=channel, cancel_request=request, request_only=True)


def iter_orders(rows: Iterable[Mapping[str, Any]], *, query: str, parts: int = 1, status: str = "ready_to_ship",
                channel: str | None = None, filters: Mapping[str, str] | None = None,
                price_field: str = "buyPrice") -> Iterator[Order | UnmappableOrder]:
    """The orders of one query answer, mapped one at a time."""
    for number, group in group_rows(rows, parts).items():
        yield map_order(number, group, query=query, status=status, channel=channel, filters=filters,
                        price_field=price_field)


def map_rows(rows: Iterable[Mapping[str, Any]], *, query: str, parts: int = 1, status: str = "ready_to_ship",
             channel: str | None = None, filters: Mapping[str, str] | None = None,
             price_field: str = "buyPrice") -> list[Order | UnmappableOrder]:
    """All orders of one query answer, as a list."""
    return list(iter_orders(rows, query=query, parts=parts, status=status, channel=channel, filters=filters,
                            price_field=price_field))
