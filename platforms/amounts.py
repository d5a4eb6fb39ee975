"""Marketplace amounts to :class:`~decimal.Decimal`, never through binary float arithmetic.

Shopee and Cyberbiz send money as JSON numbers (floats once parsed). ``Decimal(str(value))`` keeps what
the API wrote (``199.9`` stays ``199.9``, not ``199.900000000000005684…``), and rounding to the currency's
minor unit happens once, half-up, as a receipt would. Which currencies have no minor unit is a
platform fact and stays in each platform's mapping; how to read and round is written only here.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = ["AmountError", "decimal_amount", "round_to_places"]


class AmountError(ValueError):
    """A field that should hold an amount does not (mappers turn it into their unmappable-order error)."""


def decimal_amount(value: Any, field: str) -> Decimal:
    """A JSON number or numeric string as an exact, finite Decimal; anything else is :class:`AmountError`."""
    if value is None or isinstance(value, bool):
        raise AmountError(f"{field} is not an amount: {value!r}")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise AmountError(f"{field} is not an amount: {value!r}") from None
    if not amount.is_finite():
        raise AmountError(f"{field} is not a finite amount: {value!r}")
    return amount


def round_to_places(amount: Decimal, places: int) -> Decimal:
    """``amount`` rounded half-up to ``places`` decimals (0 for TWD: ``10.5`` → ``11``)."""
    return amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
