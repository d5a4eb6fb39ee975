"""Regression: `kill` (SIGTERM, as cron/systemd/timeout send it) of a running backfill left its
process run `running` forever. It must end `interrupted`, keep what was committed, and resume."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from channels.authorization import complete_authorization, start_authorization
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import ProcessRun
from sandboxes.shopee import ShopeeSandbox


class _Done:
    def __init__(self, result) -> None:
        self.returncode, self.stdout, self.stderr = result.exit_code, result.output, result.output


def _cli(*args: str, input: str | None = None) -> _Done:
    """In-process (CliRunner) for the setup steps; only the command that gets the signal is a real process."""
    from click.testing import CliRunner

    from oms_bridge.cli.main import cli
    return _Done(CliRunner().invoke(cli, list(args), input=input))


def _backfill_row(settings: Settings) -> ProcessRun | None:
    with session_scope(settings) as s:
        return s.scalars(select(ProcessRun).where(ProcessRun.process == "backfill")
                         .order_by(ProcessRun.id.desc())).first()


def test_qa_sigterm_ends_a_backfill_as_interrupted_and_it_resumes(sqlite_settings: Settings) -> None:
    shopee = ShopeeSandbox().start()
    try:
        pf = shopee.platform_fields()
        assert _cli("platform", "add", "shp", "--type", "shopee", "--host", pf["host"], "--app-id", pf["app_id"],
                    "--secret-stdin", input=pf["app_secret"] + "\n").returncode == 0
        shop = shopee.add_shop()
        assert _cli("channel", "add", "shop-a", "--platform", "shp", "--shop-id", shop["shop_id"]).returncode == 0
        params = shopee.consent(start_authorization("shop-a", settings=sqlite_settings), shop_id=shop["shop_id"])
        complete_authorization("shopee", params, settings=sqlite_settings)
        end = datetime.now(UTC) - timedelta(days=1)
        shopee.generate_orders(shop["shop_id"], 50, start=end - timedelta(days=120), end=end)
        since = (datetime.now(UTC) - timedelta(days=150)).strftime("%Y-%m-%d")
        proc = subprocess.Popen([shutil.which("oms-bridge") or "oms-bridge", "orders", "backfill", "--channel",
                                 "shop-a", "--since", since], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=os.environ.copy())
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until it is really working (a running row with a checkpoint)
            row = _backfill_row(sqlite_settings)
            if row is not None and row.outcome == "running" and row.api_calls == 0:
                time.sleep(0.3)
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the backfill finished before it could be interrupted"
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "Traceback" not in err
        row = _backfill_row(sqlite_settings)
        assert row.outcome == "interrupted" and row.ended is not None
        again = _cli("orders", "backfill", "--channel", "shop-a", "--since", since)
        assert again.returncode == 0, again.stderr
        assert "backfill success" in again.stdout and "resumed from" in again.stdout
        listed = _cli("orders", "list", "--channel", "shop-a", "--limit", "1000", "--json")
        assert len(json.loads(listed.stdout)) == 50
    finally:
        shopee.stop()


def test_qa_backfill_resumes_with_a_later_end_and_another_window_size(sqlite_settings: Settings) -> None:
    from channels.backfill import run_backfill
    from oms_bridge.store.models import Channel, Order

    shopee = ShopeeSandbox().start()
    try:
        pf = shopee.platform_fields()
        assert _cli("platform", "add", "shp", "--type", "shopee", "--host", pf["host"], "--app-id", pf["app_id"],
                    "--secret-stdin", input=pf["app_secret"] + "\n").returncode == 0
        shop = shopee.add_shop()
        assert _cli("channel", "add", "shop-a", "--platform", "shp", "--shop-id", shop["shop_id"]).returncode == 0
        params = shopee.consent(start_authorization("shop-a", settings=sqlite_settings), shop_id=shop["shop_id"])
        complete_authorization("shopee", params, settings=sqlite_settings)
        now = datetime.now(UTC)
        since = now - timedelta(days=20)
        shopee.generate_orders(shop["shop_id"], 40, start=since, end=now - timedelta(hours=1))
        with session_scope(sqlite_settings) as s:
            channel_id = s.scalars(select(Channel.id)).one()

        def stop_after_three(done: int, total: int) -> None:
            if done == 3:
                raise KeyboardInterrupt  # Ctrl-C right after the third window committed

        try:
            run_backfill(channel_id, since, now - timedelta(minutes=10), settings=sqlite_settings,
                         window=timedelta(days=1), progress=stop_after_three)
        except KeyboardInterrupt:
            pass
        # "the same command again": no --until (a later "now") and a 7-day window this time
        stats = run_backfill(channel_id, since, now, settings=sqlite_settings, window=timedelta(days=7))
        assert stats.outcome == "success" and stats.details["resumed_from"] is not None
        assert datetime.fromisoformat(stats.details["resumed_from"]) == since + timedelta(days=3)
        with session_scope(sqlite_settings) as s:
            stored = s.scalars(select(Order.external_id)).all()
        assert len(stored) == len(set(stored)) == 40  # nothing skipped at the window-size change, nothing doubled
    finally:
        shopee.stop()


def test_qa_a_run_whose_process_died_shows_as_lost(sqlite_settings: Settings) -> None:
    """kill -9 leaves the row `running`; `process runs` tells it apart from a run that is still going."""
    import socket

    from click.testing import CliRunner

    from oms_bridge.cli.main import cli

    dead = subprocess.Popen(["true"])
    dead.wait()  # a pid that no longer exists
    with session_scope(sqlite_settings) as s:
        for pid in (dead.pid, os.getpid()):
            s.add(ProcessRun(process="getorder", started=datetime.now(UTC), outcome="running",
                             details_json=json.dumps({"runner": f"{socket.gethostname()}:{pid}"})))
    rows = json.loads(CliRunner().invoke(cli, ["process", "runs", "--json"]).output)
    assert [r["outcome"] for r in rows] == ["running", "lost"]
