"""Window arithmetic (pure): any [since, until) becomes Taipei-local inclusive second ranges that tile it exactly."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from platforms.base import ChannelConfig, PlatformConfig
from platforms.cyberbiz.adapter import CyberbizAdapter
from platforms.cyberbiz.mapping import parse_local

BASE = datetime(2026, 1, 1, tzinfo=UTC)


def _adapter(max_window_days: float) -> CyberbizAdapter:
    return CyberbizAdapter(PlatformConfig(host="https://app-store-api.cyberbiz.io",
                                          settings={"max_window_days": max_window_days}),
                           ChannelConfig(name="w", shop_id="w.cyberbiz.co", settings={"auth_model": "v2"}))


@settings(max_examples=200, deadline=None)
@given(start=st.integers(0, 400 * 86400 * 1000), length=st.integers(0, 90 * 86400 * 1000),
       window=st.sampled_from([0.5, 1, 7, 31]))
def test_cyberbiz_windows_tile_the_range_exactly(start, length, window):
    since = BASE + timedelta(milliseconds=start)
    until = since + timedelta(milliseconds=length)
    ranges = [(parse_local(a, "a"), parse_local(b, "b")) for a, b in _adapter(window).windows(since, until)]
    # every whole second t with since <= t < until is in exactly one range, and nothing else is
    first = since.replace(microsecond=0) + (timedelta(seconds=1) if since.microsecond else timedelta(0))
    last = until.replace(microsecond=0) - (timedelta(0) if until.microsecond else timedelta(seconds=1))
    if last < first:
        assert ranges == []
        return
    assert ranges[0][0] == first and ranges[-1][1] == last
    for (_, end), (nxt, _) in zip(ranges, ranges[1:], strict=False):
        assert nxt == end + timedelta(seconds=1)
    for a, b in ranges:
        assert a <= b and b - a < timedelta(days=window)
