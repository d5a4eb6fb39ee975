"""Combo products (組合商品): one Cyberbiz line with no SKU becomes the ERP lines of the products inside it.

The recorded order (actinc/cyberbiz-sdk ``testdata/golden/v1/GET_v1_orders.json``) sells a combo as ONE
line with ``sku: null`` and ``item_type: "normal"``; the real products are under
``related_items[]`` (groups, each with a ``quantity``) ``.items[]`` (each with ``sku``, list ``price``,
``quantity`` and ``combo_product_price_difference``)::

    line 126360067 "哥本組"  price 9999  qty 1  sku null
      related_items[0] quantity 1
        83653662 SKU-a4eb96  price 14990  qty 1  combo_product_price_difference 9991   -> 4999
        83730772 SKU-d76be1  price 14990  qty 1  combo_product_price_difference 9990   -> 5000
                                                                                  sum    9999

So a child's price inside the combo is ``price - combo_product_price_difference`` (confirmed by the
arithmetic of the recording: 4999 + 5000 = 9999). A SKU-less line can only be held by the SKU map, so
:func:`expand` turns it into one :class:`~platforms.base.OrderLine` per child:

**Quantity** of a child = the line's quantity x the group's ``quantity`` x the child's ``quantity``
(``combo_quantity_rule`` ``per_parent_unit``: a group describes one unit of the combo). Whether a group's
``quantity`` instead counts combo units itself (several groups then split the line, ``per_group``: group
quantity x child quantity) is not documented; with ``auto`` (the default) the rule whose quantities make
the children's combo prices add up exactly to the line's price x quantity is taken, ``per_parent_unit``
when neither or both do. The recording (all quantities 1) fits both.

**Price**: when every child has ``price`` and ``combo_product_price_difference`` and the children's
``price - difference`` x quantity sum exactly to the line's price x quantity, each child gets that
price. Otherwise the line's gross (price x quantity) is split by ``combo_price_fallback``:
``proportional`` (default; weighted by list price x quantity, or by quantity when a list price is
missing) or ``first_child`` (the first child carries it all, the others are free). The line's discount
is split in proportion to the children's gross. Every split is in whole minor units (largest remainder),
and where a share does not divide by a child's quantity the unit price is rounded UP to the currency's
decimals and the difference added to that child's discount: the children's net total (unit price x
quantity - discount) always equals the combo line's net total exactly, in Decimal.

**Line ids**: ``<combo line id>:<child id>`` (``126360067:83653662``); a child id repeated within one combo
gets its group and position (``126360067:83653662@0.1``). Stable across re-reads, and
:func:`parent_line_id` turns them back into the Cyberbiz line id that custom_shipping needs.

``combo_lines``: ``expand`` (default) expands lines without a SKU that have ``related_items``;
``always`` also expands lines that carry their own SKU; ``never`` keeps every line as sent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from typing import Any

from platforms.amounts import AmountError, allocate, decimal_amount
from platforms.base import OrderLine

__all__ = ["ComboRules", "COMBO_LINES", "QUANTITY_RULES", "PRICE_FALLBACKS", "children", "expand", "parent_line_id",
           "ComboError"]

COMBO_LINES = ("expand", "always", "never")
QUANTITY_RULES = ("auto", "per_parent_unit", "per_group")
PRICE_FALLBACKS = ("proportional", "first_child")
_SEPARATOR = ":"


class ComboError(ValueError):
    """A combo line cannot be expanded; the message names the field (the order is held with it)."""


@dataclass(frozen=True)
class ComboRules:
    """The adapter settings that decide how combo lines are expanded (see the module docstring)."""

    lines: str = "expand"
    quantity: str = "auto"
    price_fallback: str = "proportional"

    def __post_init__(self) -> None:
        for name, value, allowed in (("combo_lines", self.lines, COMBO_LINES),
                                     ("combo_quantity_rule", self.quantity, QUANTITY_RULES),
                                     ("combo_price_fallback", self.price_fallback, PRICE_FALLBACKS)):
            if value not in allowed:
                raise ValueError(f"setting {name} = {value!r} must be one of {', '.join(allowed)}")


@dataclass(frozen=True)
class _Child:
    group: int
    position: int
    group_qty: Decimal
    qty: Decimal
    raw: Mapping[str, Any]
    list_price: Decimal | None
    combo_price: Decimal | None  # price - combo_product_price_difference, when both are given


def parent_line_id(external_line_id: str) -> str:
    """The Cyberbiz line id of a line: a combo child's id without its ``:<child>`` part."""
    return str(external_line_id).split(_SEPARATOR, 1)[0]


def _amount(value: Any, field: str) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return decimal_amount(value, field)
    except AmountError as exc:
        raise ComboError(str(exc)) from None


def _positive(value: Any, field: str, default: Decimal | None = None) -> Decimal:
    if value is None and default is not None:
        return default
    amount = _amount(value, field)
    if amount is None or amount <= 0:
        raise ComboError(f"{field} {value!r} is not a positive quantity")
    return amount


def children(item: Mapping[str, Any], where: str) -> list[_Child]:
    """The products under ``related_items`` (null or malformed groups, as in the yaml sample, are skipped)."""
    groups = item.get("related_items")
    found: list[_Child] = []
    if not isinstance(groups, list):
        return found
    for g, group in enumerate(groups):
        if not isinstance(group, Mapping) or not isinstance(group.get("items"), list):
            continue
        group_qty = _positive(group.get("quantity"), f"{where}.related_items[{g}].quantity", Decimal(1))
        for i, child in enumerate(group["items"]):
            if not isinstance(child, Mapping):
                continue
            field = f"{where}.related_items[{g}].items[{i}]"
            price = _amount(child.get("price"), f"{field}.price")
            difference = _amount(child.get("combo_product_price_difference"), f"{field}.combo_product_price_difference")
            combo = price - difference if price is not None and difference is not None else None
            found.append(_Child(g, i, group_qty, _positive(child.get("quantity"), f"{field}.quantity"), child,
                                price, combo))
    return found


def _quantities(kids: list[_Child], qty: Decimal, rule: str) -> list[Decimal]:
    if rule == "per_group":
        return [k.group_qty * k.qty for k in kids]
    return [qty * k.group_qty * k.qty for k in kids]


def _exact(kids: list[_Child], quantities: list[Decimal], gross: Decimal, places: int) -> bool:
    quantum = Decimal(1).scaleb(-places)
    if any(k.combo_price is None or k.combo_price < 0 or k.combo_price != k.combo_price.quantize(quantum)
           for k in kids):
        return False
    return sum((n * k.combo_price for n, k in zip(quantities, kids, strict=True)), Decimal(0)) == gross


def _choose(kids: list[_Child], qty: Decimal, gross: Decimal, rules: ComboRules,
            places: int) -> tuple[list[Decimal], bool]:
    """The children's quantities, and whether their combo prices account for the gross exactly."""
    if rules.quantity != "auto":
        quantities = _quantities(kids, qty, rules.quantity)
        return quantities, _exact(kids, quantities, gross, places)
    for rule in ("per_parent_unit", "per_group"):
        quantities = _quantities(kids, qty, rule)
        if _exact(kids, quantities, gross, places):
            return quantities, True
    return _quantities(kids, qty, "per_parent_unit"), False


def _shares(kids: list[_Child], quantities: list[Decimal], gross: Decimal, exact: bool, rules: ComboRules,
            places: int) -> list[Decimal]:
    if exact:
        return [n * k.combo_price for n, k in zip(quantities, kids, strict=True)]  # type: ignore[operator]
    if rules.price_fallback == "first_child":
        return allocate(gross, [Decimal(1)] + [Decimal(0)] * (len(kids) - 1), places)
    if all(k.list_price is not None and k.list_price > 0 for k in kids):
        weights = [n * k.list_price for n, k in zip(quantities, kids, strict=True)]  # type: ignore[operator]
    else:
        weights = list(quantities)
    return allocate(gross, weights, places)


def _line_ids(parent_id: str | None, kids: list[_Child]) -> list[str | None]:
    if parent_id is None:
        return [None] * len(kids)
    keys = [str(k.raw.get("id") or k.raw.get("product_variant_id") or "") for k in kids]
    ids = []
    for key, kid in zip(keys, kids, strict=True):
        if not key or keys.count(key) > 1:
            key = f"{key}@{kid.group}.{kid.position}"
        ids.append(f"{parent_id}{_SEPARATOR}{key}")
    return ids


def _text(value: Any) -> str | None:
    text = str(value).strip() if value is not None else ""
    return text or None


def _name(parent: str | None, child: Mapping[str, Any]) -> str | None:
    title, variant = _text(child.get("title")), _text(child.get("variant_title"))
    own = variant if variant and title and variant.startswith(title) else (
        f"{title} {variant}" if title and variant else (title or variant))
    return f"{parent}: {own}" if parent and own else (own or parent)


def expand(line: OrderLine, item: Mapping[str, Any], where: str, *, places: int,
           rules: ComboRules) -> list[OrderLine]:
    """``line`` as mapped, or its combo children when it is a combo to expand (see the module docstring)."""
    if rules.lines == "never" or (rules.lines == "expand" and line.sku):
        return [line]
    kids = children(item, where)
    if not kids:
        return [line]
    quantum = Decimal(1).scaleb(-places)
    gross = line.unit_price * line.qty
    if gross < 0 or line.discount < 0:
        raise ComboError(f"{where}: a combo line with a negative price or discount cannot be split")
    if gross != gross.quantize(quantum):
        raise ComboError(f"{where}: price x quantity {gross} is not a whole amount, so it cannot be split exactly")
    quantities, exact = _choose(kids, line.qty, gross, rules, places)
    shares = _shares(kids, quantities, gross, exact, rules, places)
    discounts = allocate(line.discount, shares if sum(shares, Decimal(0)) > 0 else quantities, places)
    lines = []
    for kid, n, share, discount, line_id in zip(kids, quantities, shares, discounts, _line_ids(line.external_line_id,
                                                                                               kids), strict=True):
        unit = (share / n).quantize(quantum, rounding=ROUND_CEILING)
        lines.append(OrderLine(sku=_text(kid.raw.get("sku")), name=_name(line.name, kid.raw), qty=n, unit_price=unit,
                               discount=(discount + unit * n - share).quantize(quantum), external_line_id=line_id))
    return lines
