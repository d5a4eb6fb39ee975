"""Run locks: advisory-lock keys fit int4 and differ per process; SQLite mutex times out clearly."""

from __future__ import annotations

import pytest

from channels.locks import LockTimeout, channel_run_lock, lock_keys, sqlite_channel_mutex


def test_lock_keys_are_int4_and_distinct_per_process():
    keys = {p: lock_keys(p, 7) for p in ("getorder", "refreshtoken", "backfill", "refresh")}
    assert len({k[0] for k in keys.values()}) == 4
    assert all(-(2**31) <= k[0] < 2**31 and k[1] == 7 for k in keys.values())
    assert lock_keys("getorder", 7) == lock_keys("getorder", 7)


def test_sqlite_mutex_waits_then_times_out(sqlite_settings):
    with sqlite_channel_mutex(sqlite_settings, "refresh", 1):
        with pytest.raises(LockTimeout, match="refresh lock still taken"):
            with sqlite_channel_mutex(sqlite_settings, "refresh", 1, timeout=0.2):
                pass
        with sqlite_channel_mutex(sqlite_settings, "refresh", 2, timeout=0.2):
            pass  # another channel is independent
    with sqlite_channel_mutex(sqlite_settings, "refresh", 1, timeout=0.2):
        pass  # released


def test_run_lock_is_try_only_on_both_stores(store_settings):
    with channel_run_lock(store_settings, "getorder", 3) as first:
        with channel_run_lock(store_settings, "getorder", 3) as second:
            assert first and not second
    with channel_run_lock(store_settings, "getorder", 3) as again:
        assert again
