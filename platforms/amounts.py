"""Marketplace amounts to :class:`~decimal.Decimal`, never through binary float arithmetic.

Shopee and Cyberbiz send money as JSON numbers (floats once parsed). ``Decimal(str(value))`` keeps what
the API wrote (``199.9`` stays ``199.9``, not ``199.900000000000005684…``), and rounding to the currency's
minor unit happens once, half-up, as a receipt would. Which currencies have no minor unit is a
platform fact and stays in each platform's mapping; how to read and round is written only here.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_FLOOR, ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

__all__ = ["AmountError", "decimal_amount", "round_to_places", "allocate"]


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


def allocate(total: Decimal, weights: Sequence[Decimal], places: int) -> list[Decimal]:
    """``total`` split over ``weights`` in whole minor units, summing to ``total`` exactly.

    Largest remainder: each share is floored to the minor unit, and the units left go one each to the
    shares with the largest cut-off fractions (the earlier share on a tie), so the result is deterministic.
    All zero (or no positive) weights put everything on the first share. ``total`` must be a multiple of
    the minor unit (an amount already rounded with :func:`round_to_places`).
    """
    if not weights:
        raise ValueError("allocate needs at least one weight")
    quantum = Decimal(1).scaleb(-places)
    units = total / quantum
    if units != units.to_integral_value():
        raise ValueError(f"{total} is not a whole number of {quantum}")
    positive = [w if w > 0 else Decimal(0) for w in weights]
    whole = sum(positive, Decimal(0))
    if whole == 0:
        return [total] + [Decimal(0) * quantum] * (len(weights) - 1)
    exact = [units * w / whole for w in positive]
    floors = [e.to_integral_value(rounding=ROUND_FLOOR) for e in exact]
    left = int(units - sum(floors, Decimal(0)))
    order = sorted(range(len(exact)), key=lambda i: (-(exact[i] - floors[i]), i))
    for i in order[:left]:
        floors[i] += 1
    return [(f * quantum).quantize(quantum) for f in floors]
