"""Regression (issue 11): "database is locked" on the embedded SQLite store under ordinary concurrent use.

Writers that began as readers could not upgrade in WAL mode and failed at once, whatever the busy
timeout: four GetOrder runs at once (the scheduler's four workers) failed most rounds, and `channel
update` failed while `oms-bridge run` worked. Every write transaction now takes the write lock at BEGIN
(:mod:`oms_bridge.store.db`); read-only units are marked and cannot write.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

from avail_kit import FAST, RunProcess, cli, generate, momo_channels, runs, wait_for, write_config

from channels.getorder import run_getorder
from oms_bridge.settings import Settings
from sandboxes.momo import MomoSandbox


def test_four_getorder_runs_at_once_never_meet_a_lock_error(store_settings: Settings) -> None:
    """What the scheduler's four workers do: four channels' GetOrder in four threads, started together."""
    with MomoSandbox(rate_limit=0) as sandbox:
        channels = momo_channels(store_settings, sandbox, 4)
        for rnd in range(4):
            for _cid, shop in channels.values():
                generate(sandbox, shop, 25)
            barrier = threading.Barrier(4)

            def one(channel_id: int, barrier: threading.Barrier = barrier) -> tuple[str, str | None]:
                barrier.wait()
                try:
                    stats = run_getorder(channel_id, settings=store_settings, policy=FAST)
                except Exception as exc:  # noqa: BLE001 - the failure under test is an escaping OperationalError
                    return "raised", f"{type(exc).__name__}: {exc}"[:300]
                return stats.outcome, stats.error_text

            with ThreadPoolExecutor(4) as pool:
                outcomes = list(pool.map(one, [cid for cid, _shop in channels.values()]))
            assert outcomes == [("success", None)] * 4, f"round {rnd}: {outcomes}"
    assert not [r for r in runs(store_settings) if r.outcome != "success"]


def test_cli_writes_while_oms_bridge_run_works(sqlite_settings: Settings, home, tmp_path) -> None:
    """`channel update` from a shell while the scheduler pulls orders: every call succeeds."""
    write_config(home, scheduler_minute_seconds=0.5, scheduler_sync_seconds=1, scheduler_misfire_grace_seconds=30,
                 getorder_batch_size=5)
    with MomoSandbox(rate_limit=0) as sandbox:
        channels = momo_channels(sqlite_settings, sandbox, 4, orders=40, interval=1)
        service = RunProcess(tmp_path, "worker", "--scheduler-only")
        try:
            wait_for(lambda: len([r for r in runs(sqlite_settings, "getorder") if r.outcome == "success"]) >= 4,
                     timeout=60, what="the scheduler's first GetOrder runs")
            stop = threading.Event()

            def feed() -> None:  # the marketplace keeps selling: every run has batches to commit
                while not stop.wait(0.5):
                    for _cid, shop in channels.values():
                        generate(sandbox, shop, 5)
            feeder = threading.Thread(target=feed, daemon=True)
            feeder.start()
            try:
                def update_name(i: int):
                    return cli("channel", "update", f"momo-{i % 4 + 1}", "--name", f"renamed {i}",
                               "--settings-json", "{}")
                with ThreadPoolExecutor(2) as pool:
                    results = list(pool.map(update_name, range(12)))
            finally:
                stop.set()
                feeder.join()
        finally:
            assert service.stop() == 0, service.stderr[-4000:]
    failed = [(r.returncode, r.stderr.strip()[-300:]) for r in results if r.returncode != 0]
    assert not failed, failed
    assert "locked" not in service.stderr
    bad = [(r.id, r.outcome, r.error_text) for r in runs(sqlite_settings) if r.outcome not in ("success", "partial")]
    assert not bad, bad
