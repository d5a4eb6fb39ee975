"""Regression (issue 11): killed runs stayed ``running`` forever in the web admin (the CLI showed them as
lost, and only on the host that ran them). A live run now refreshes a heartbeat on its row; a ``running``
row whose heartbeat stopped is ``lost`` on every host, in the CLI, the web admin and ``/metrics``."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time

from avail_kit import OMS_BRIDGE, cli, momo_channels, runs, wait_for, write_config
from fastapi.testclient import TestClient
from sqlalchemy import update

from oms_bridge.settings import Settings, get_settings, reset_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import ProcessRun
from oms_bridge.web.app import create_app
from oms_bridge.web.security import SESSION_COOKIE, authenticate, issue_session, set_admin_password
from sandboxes.momo import MomoSandbox


def _cli_outcome(run_id: int) -> str:
    done = cli("process", "runs", "--json", "--limit", "50")
    assert done.returncode == 0, done.stderr
    return next(r["outcome"] for r in json.loads(done.stdout) if r["run"] == run_id)


def _web_outcome(client: TestClient, run_id: int) -> str:
    page = client.get(f"/admin/runs/{run_id}").text  # the run's own page
    return re.search(r'class="state-(\w+)" id="run-outcome"', page).group(1)


def test_a_killed_run_is_lost_on_every_host_cli_web_and_metrics(sqlite_settings: Settings, home) -> None:
    write_config(home, run_heartbeat_seconds=1, run_lost_after_seconds=10)
    reset_settings()
    settings = get_settings()
    set_admin_password("admin", "the-right-password", settings=settings)
    client = TestClient(create_app(), client=("127.0.0.1", 50000))  # /metrics: local clients by default
    client.cookies.set(SESSION_COOKIE, issue_session(authenticate("admin", "the-right-password", settings=settings),
                                                     settings=settings))
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(settings, sandbox, 1, orders=2)
        sandbox.faults.inject("timeout", path="/OrderServlet.do", delay=60.0)  # the run hangs on the marketplace
        proc = subprocess.Popen([OMS_BRIDGE, "process", "run", "getorder", "--channel", "momo-1"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=dict(os.environ))
        try:
            row = wait_for(lambda: next((r for r in runs(settings, "getorder") if r.outcome == "running"), None),
                           what="the run to start")
            first_beat = row.heartbeat
            wait_for(lambda: runs(settings, "getorder")[-1].heartbeat > first_beat, timeout=20,
                     what="the live run to refresh its heartbeat")
            assert _cli_outcome(row.id) == "running" and _web_outcome(client, row.id) == "running"
        finally:
            proc.send_signal(signal.SIGKILL)  # kill -9: no chance to record anything
            proc.wait()
        # As another host sees it (no pid to probe there): only the heartbeat can tell.
        with session_scope(settings) as s:
            s.execute(update(ProcessRun).where(ProcessRun.id == row.id)
                      .values(details_json=json.dumps({"runner": "another-host:4242"})))
        assert _cli_outcome(row.id) == "running"  # its heartbeat is still fresh
        time.sleep(10)
        assert runs(settings, "getorder")[-1].outcome == "running"  # stored as it was left ...
        assert _cli_outcome(row.id) == "lost"  # ... shown as what it is
        assert _web_outcome(client, row.id) == "lost"
        metrics = client.get("/metrics").text
        assert 'oms_bridge_process_runs_lost{process="getorder"} 1.0' in metrics
