"""Properties: money is exact from dollars for any amount; adjacent fetch windows keep each update once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from platforms.shopline.adapter import filter_bounds
from platforms.shopline.mapping import money

BASE = datetime(2026, 1, 1, tzinfo=UTC)


@given(st.integers(min_value=0, max_value=10**12))
@settings(max_examples=200, deadline=None)
def test_twd_money_is_its_dollars(dollars):
    """Whatever the amount, a TWD object as Shopline writes it (cents == dollars, label NT$1,234) is that amount."""
    value = money({"cents": dollars, "currency_symbol": "NT$", "currency_iso": "TWD", "label": f"NT${dollars:,}",
                   "dollars": float(dollars)}, "total")
    assert isinstance(value, Decimal) and value == dollars and value.as_tuple().exponent == 0


@given(st.integers(min_value=0, max_value=10**12), st.sampled_from(["HKD", "USD", "SGD"]))
@settings(max_examples=200, deadline=None)
def test_two_decimal_money_is_exact_from_dollars(hundredths, currency):
    dollars = Decimal(hundredths).scaleb(-2)
    value = money({"currency_iso": currency, "label": f"${dollars:,.2f}", "dollars": float(dollars)}, "total")
    assert value == dollars and value.as_tuple().exponent == -2


micros = st.integers(min_value=0, max_value=10 * 86400 * 10**6)


@given(micros, micros, micros, micros)
@settings(max_examples=200, deadline=None)
def test_inclusive_second_filters_plus_half_open_check_keep_each_update_once(a, b, c, x):
    since, split, until = (BASE + timedelta(microseconds=m) for m in sorted((a, b, c)))
    updated = BASE + timedelta(microseconds=x // 1000 * 1000)  # Shopline keeps milliseconds

    def kept(start: datetime, stop: datetime) -> bool:
        after, before = filter_bounds(start, stop)
        sent = after <= updated <= before  # what Shopline returns (inclusive)
        return sent and start <= updated < stop  # what the adapter yields

    assert kept(since, split) + kept(split, until) == (1 if since <= updated < until else 0)
