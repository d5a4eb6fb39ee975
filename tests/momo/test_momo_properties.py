"""Properties: the dataList cipher round-trips anything; adjacent fetch windows never overlap or leave a gap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from platforms.momo.adapter import query_bounds, split_windows
from platforms.momo.crypto import decrypt_data_list, encrypt_data_list

BASE = datetime(2026, 1, 1, tzinfo=UTC)
offsets = st.integers(min_value=0, max_value=200 * 86400)


@given(st.text(), st.text(max_size=40))
@settings(max_examples=60, deadline=None)
def test_cipher_round_trips(plaintext, password):
    assert decrypt_data_list(encrypt_data_list(plaintext, password), password) == plaintext


def _answered_by(windows: list[tuple[datetime, datetime]], when: datetime) -> int:
    """How many queries (sent as the adapter sends them) the sandbox would answer ``when`` in."""
    count = 0
    for start, stop in windows:
        fr, to = query_bounds(start, stop, to_inclusive=True)
        count += fr <= when < to + timedelta(minutes=1)  # momo: from the start of fr's minute to the end of to's
    return count


@given(offsets, offsets, offsets, offsets, st.integers(min_value=1, max_value=59))
@settings(max_examples=200, deadline=None)
def test_adjacent_runs_answer_every_instant_exactly_once(a, b, c, x, max_days):
    since, split, until = (BASE + timedelta(seconds=s) for s in sorted((a, b, c)))
    when = BASE + timedelta(seconds=x)
    windows = split_windows(since, split, max_days) + split_windows(split, until, max_days)
    floor = since.replace(second=0)
    expected = 1 if floor <= when < until.replace(second=0) else 0
    assert _answered_by(windows, when) == expected
    assert all(stop - start <= timedelta(days=max_days) for start, stop in windows)
