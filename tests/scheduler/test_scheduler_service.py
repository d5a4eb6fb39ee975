"""``oms-bridge run`` as real OS processes: HTTP + scheduler, SIGTERM finishing the running batch,
and two instances on one PostgreSQL that never run a channel's process at once and lose no work
when one of them is killed."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests
from click.testing import CliRunner
from sqlalchemy import func, select

from oms_bridge.cli.main import cli
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order, ProcessRun
from sandboxes.momo import MomoSandbox
from sandboxes.momo_channels import add_momo_channels, generate_orders

OMS_BRIDGE = str(Path(sys.executable).parent / "oms-bridge")
LOGS: dict[int, Path] = {}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for(predicate, timeout: float = 20.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _configure_schedule(home: Path, minute_seconds: float) -> None:
    (home / "config.toml").write_text(
        "[oms_bridge]\n"
        f"scheduler_minute_seconds = {minute_seconds}\n"
        "scheduler_sync_seconds = 0.5\n"
        "scheduler_misfire_grace_seconds = 30\n"
        "scheduler_lease_seconds = 3\n"  # a killed instance's claimed jobs run elsewhere 3 s after its death
        "scheduler_first_run_spread_seconds = 0\n")  # first runs at once (the spread is tested elsewhere)


def _start(tmp_path: Path, name: str, *args: str) -> subprocess.Popen:
    path = tmp_path / f"{name}.log"
    log = open(path, "w")  # noqa: SIM115 - closed with the process
    proc = subprocess.Popen([OMS_BRIDGE, "run", *args], stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ))
    LOGS[proc.pid] = path
    return proc


def _stop(proc: subprocess.Popen, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
    if proc.poll() is None:
        proc.send_signal(sig)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGUSR1)  # dump its threads into its log, then fail with that log
        time.sleep(1)
        proc.kill()
        proc.wait()
        log = LOGS[proc.pid].read_text()
        raise AssertionError(f"instance {proc.pid} did not stop within {timeout} s:\n{log[-6000:]}") from None


def _order_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(Order))


def _runs(settings, process: str = "getorder") -> list[ProcessRun]:
    with session_scope(settings) as s:
        return list(s.scalars(select(ProcessRun).where(ProcessRun.process == process).order_by(ProcessRun.id)))


def test_run_flags_exclude_each_other():
    outcome = CliRunner().invoke(cli, ["run", "--no-scheduler", "--scheduler-only"])
    assert outcome.exit_code == 1 and "exclude each other" in outcome.output


def test_run_serves_http_and_scheduler_then_stops_cleanly(sqlite_settings, tmp_path):
    port = _free_port()
    proc = _start(tmp_path, "both", "--port", str(port))
    try:
        health = _wait_for(lambda: _get_json(f"http://127.0.0.1:{port}/healthz"), what="/healthz")
        assert health == {"status": "ok", "database": "ok", "scheduler": "running"}
        assert "oms_bridge_scheduler_running 1.0" in requests.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        assert _stop(proc) == 0
    assert "stopped cleanly" in (tmp_path / "both.log").read_text()

    port = _free_port()
    proc = _start(tmp_path, "web", "--no-scheduler", "--port", str(port))
    try:
        health = _wait_for(lambda: _get_json(f"http://127.0.0.1:{port}/healthz"), what="/healthz")
        assert health["scheduler"] == "disabled"
    finally:
        assert _stop(proc) == 0


def _get_json(url: str):
    try:
        return requests.get(url, timeout=2).json()
    except requests.RequestException:
        return None


def test_sigterm_lets_the_running_getorder_finish_its_batch(sqlite_settings, home, tmp_path):
    _configure_schedule(home, minute_seconds=600)
    with MomoSandbox() as sandbox:
        add_momo_channels(sqlite_settings, sandbox, 1, orders=4)
        sandbox.faults.inject("timeout", path="/OrderServlet.do", delay=2.0)  # the next order call stalls 2 s
        proc = _start(tmp_path, "worker", "--scheduler-only")
        try:
            _wait_for(lambda: any(r.outcome == "running" for r in _runs(sqlite_settings)), what="a running GetOrder")
        finally:
            code = _stop(proc)  # SIGTERM while GetOrder waits on the marketplace
    assert code == 0, (tmp_path / "worker.log").read_text()
    runs = _runs(sqlite_settings)
    assert runs and all(r.outcome == "success" and r.ended is not None for r in runs), \
        [(r.outcome, r.error_text) for r in runs]
    assert _order_count(sqlite_settings) == 4  # the batch in flight was committed, not abandoned


def _assert_no_overlap(runs: list[ProcessRun]) -> None:
    by_channel: dict[int, list[ProcessRun]] = {}
    for run in runs:
        by_channel.setdefault(run.oms_channel_id, []).append(run)
    for channel_id, items in by_channel.items():
        items.sort(key=lambda r: r.started)
        for a, b in zip(items, items[1:], strict=False):
            assert a.ended is not None and b.started >= a.ended, \
                f"channel {channel_id}: run {b.id} started {b.started} before run {a.id} ended {a.ended}"


@pytest.mark.postgres
def test_two_instances_never_overlap_and_survive_a_kill(pg_settings, home, tmp_path):
    _configure_schedule(home, minute_seconds=1)  # GetOrder every second per channel
    with MomoSandbox() as sandbox:
        shops = add_momo_channels(pg_settings, sandbox, 3, orders=5)
        instances = [_start(tmp_path, "first", "--scheduler-only"), _start(tmp_path, "second", "--scheduler-only")]
        try:
            def runs_by_pid() -> dict[int, int]:
                counts: dict[int, int] = {}
                for r in _runs(pg_settings):
                    if r.outcome == "success":
                        pid = int(json.loads(r.details_json or "{}").get("runner", "x:0").rsplit(":", 1)[1])
                        counts[pid] = counts.get(pid, 0) + 1
                return counts
            both_up = [lambda p=p: "scheduler running" in LOGS[p.pid].read_text() for p in instances]
            _wait_for(lambda: all(up() for up in both_up) and _order_count(pg_settings) == 15, timeout=40,
                      what="both instances up and the first orders in")
            time.sleep(3)  # both compete for the same due jobs for a few rounds
            # Kill the busier instance (whichever won the most runs): it dies holding work.
            counts = runs_by_pid()
            first = max(instances, key=lambda p: counts.get(p.pid, 0))
            second = next(p for p in instances if p is not first)
            first.send_signal(signal.SIGKILL)
            first.wait(timeout=10)
            killed_at = datetime.now(UTC)
            for shop_id in shops.values():  # new marketplace orders after the death
                generate_orders(sandbox, shop_id, 3)
            survivor = f":{second.pid}"

            def after_kill() -> list[ProcessRun]:
                return [r for r in _runs(pg_settings) if r.started > killed_at and r.outcome == "success"]
            # The survivor carries on for every channel, and the orders placed after the death arrive.
            try:
                _wait_for(lambda: len({r.oms_channel_id for r in after_kill()}) == 3
                          and _order_count(pg_settings) == 24, timeout=40, what="the survivor to take over")
            except AssertionError:
                recent = [(r.id, r.oms_channel_id, r.outcome, r.started, r.ended, r.error_text, r.details_json)
                          for r in _runs(pg_settings)[-15:]]
                raise AssertionError(f"survivor did not take over: orders {_order_count(pg_settings)}, "
                                     f"killed at {killed_at}, recent runs {recent}, "
                                     f"log {LOGS[second.pid].read_text()[-3000:]}") from None
            assert all(json.loads(r.details_json)["runner"].endswith(survivor) for r in after_kill())
        finally:
            codes = {p.pid: _stop(p) for p in instances if p.poll() is None}
    assert codes == {second.pid: 0}  # the survivor stopped cleanly on SIGTERM
    runs = [r for r in _runs(pg_settings) if r.outcome != "skipped"]
    dead_runner = f":{first.pid}"
    # Only a run of the killed instance may be left unfinished; every other run ended.
    assert all(r.ended is not None for r in runs if not (r.details_json or "").count(dead_runner))
    _assert_no_overlap([r for r in runs if r.ended is not None])
    assert _order_count(pg_settings) == 24  # every order exactly once (unique key + no loss)


def test_run_on_a_taken_port_fails_with_a_clear_message(sqlite_settings, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        proc = _start(tmp_path, "taken", "--no-scheduler", "--port", str(port))
        assert proc.wait(timeout=30) == 1
    output = LOGS[proc.pid].read_text()
    assert f"could not start on 127.0.0.1:{port}" in output and "Traceback" not in output
