"""Run locks across real OS processes: never two holders, and a killed holder frees its lock."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from scheduler.locks import lock_key, process_lock

HOLDER = textwrap.dedent("""
    import json, sys, time
    from oms_bridge.settings import get_settings
    from scheduler.locks import process_lock
    out, rounds, hold, mode = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    settings = get_settings()
    if mode == "forever":
        with process_lock(settings, "getorder", 7) as ok:
            print("locked" if ok else "busy", flush=True)
            time.sleep(600)
    done = 0
    with open(out, "a") as fh:
        while done < rounds:
            with process_lock(settings, "getorder", 7) as ok:
                if ok:
                    start = time.time()
                    time.sleep(hold)
                    fh.write(json.dumps([start, time.time()]) + "\\n")
                    fh.flush()
                    done += 1
            time.sleep(0.005)
""")


def _spawn(tmp_path: Path, *args: str) -> subprocess.Popen:
    script = tmp_path / "holder.py"
    script.write_text(HOLDER)
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ))


def _assert_no_overlap(intervals: list[list[float]]) -> None:
    intervals.sort()
    for (_s1, e1), (s2, _e2) in zip(intervals, intervals[1:], strict=False):
        assert s2 >= e1, f"two holders at once: one ended {e1}, the next started {s2}"


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_two_processes_never_hold_the_same_lock(store, request, tmp_path):
    request.getfixturevalue("sqlite_settings" if store == "sqlite" else "pg_settings")
    out = tmp_path / "intervals.jsonl"
    procs = [_spawn(tmp_path, str(out), "15", "0.02", "loop") for _ in range(2)]
    for p in procs:
        assert p.wait(timeout=60) == 0
    intervals = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(intervals) == 30
    _assert_no_overlap(intervals)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_killed_holder_frees_the_lock(store, request, tmp_path):
    settings = request.getfixturevalue("sqlite_settings" if store == "sqlite" else "pg_settings")
    holder = _spawn(tmp_path, str(tmp_path / "unused"), "1", "0", "forever")
    try:
        assert holder.stdout.readline().strip() == "locked"
        with process_lock(settings, "getorder", 7) as ok:
            assert ok is False  # held by the other process
        with process_lock(settings, "getorder", 8) as ok:
            assert ok is True  # another channel is independent
        with process_lock(settings, "refreshtoken", 7) as ok:
            assert ok is True  # and so is another process of the same channel
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(timeout=10)
        deadline = time.monotonic() + 10
        while True:
            with process_lock(settings, "getorder", 7) as ok:
                if ok:
                    break
            assert time.monotonic() < deadline, "the dead process's lock was never released"
            time.sleep(0.05)
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


def test_lock_keys_are_stable_signed_int4():
    a, b = lock_key("getorder", 12)
    assert (a, b) == lock_key("getorder", 12)
    assert -(2**31) <= a < 2**31 and b == 12
    assert lock_key("refreshtoken", 12)[0] != a
    assert lock_key("erp", None)[1] == 0


def test_job_body_is_skipped_while_another_holder_runs_it(sqlite_settings):
    from scheduler.jobs import run_locked

    calls = []
    with process_lock(sqlite_settings, "erp", None) as ok:
        assert ok
        assert run_locked("erp", None, calls.append, settings=sqlite_settings) is False
    assert calls == []
    assert run_locked("erp", None, calls.append, settings=sqlite_settings) is True
    assert calls == [sqlite_settings]


def test_scheduler_lock_does_not_block_the_process_own_run_lock(pg_settings):
    """The job holds its lock while the process inside takes its own: they must be different locks."""
    from channels.locks import channel_run_lock

    with process_lock(pg_settings, "getorder", 3) as outer:
        assert outer
        with channel_run_lock(pg_settings, "getorder", 3) as inner:
            assert inner
