"""The demo's own end-to-end path: sandboxes → GetOrder → ERP sandbox, with one SKU held on purpose."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from oms_bridge.cli.main import cli
from sandboxes.demo import MARKETPLACES, UNMAPPED_SKU, run_demo


@pytest.fixture
def demo_env(home, monkeypatch):
    """run_demo points the process at its own directory; record the variables so they are restored."""
    for name in ("OMS_BRIDGE_BASE_URL", "OMS_BRIDGE_HTTP_PORT", "OMS_BRIDGE_HOME", "OMS_BRIDGE_SECRET_KEYS"):
        monkeypatch.setenv(name, os.environ.get(name, "placeholder"))
    return home


def test_demo_runs_every_marketplace_into_the_erp(demo_env, tmp_path):
    lines: list[str] = []
    result = run_demo(orders_per_channel=3, home=tmp_path / "demo", echo=lines.append)
    output = "\n".join(lines)

    assert result.home == tmp_path / "demo" and (result.home / "oms-bridge.db").exists()
    assert (result.home / "secret.key").exists()  # its own key: the demo never uses the caller's
    assert len(result.channels) == 2 * len(MARKETPLACES)
    assert {c.platform_type for c in result.channels} == {cls.platform_type for cls, _ in MARKETPLACES}
    for row in result.channels:
        assert row.orders == 3, row
        assert row.erp_waiting >= 0 and row.erp_completed + row.erp_held + row.erp_waiting + row.erp_skipped == 3, row
        assert row.authorization in ("OAuth consent", "credentials checked")
    # Every order without the unmapped SKU completed in the ERP sandbox; the rest wait with a reason.
    completed = sum(r.erp_completed for r in result.channels)
    assert completed == result.erp_orders_completed > 0
    assert result.held, "the demo data includes an unmapped SKU on purpose"
    assert any(UNMAPPED_SKU in reason for _chan, _order, reason in result.held)
    # Every other hold is an unpaid order, waiting for payment; nothing is held for an unknown reason.
    assert all(UNMAPPED_SKU in reason or "unpaid" in reason for _chan, _order, reason in result.held)
    assert len(result.held) == sum(r.erp_held for r in result.channels)
    assert "completed sales orders (DocStatus CO)" in output
    assert f"oms-bridge sku map {UNMAPPED_SKU}" in output
    assert str(result.home) in output
    # A summary, not one line per held order: counted by cause, with the channels it touches.
    sku_cause = next(c for c in result.held_causes if c.code == f"missing_sku:{UNMAPPED_SKU}")
    assert sku_cause.orders == sum(1 for _c, _o, reason in result.held if UNMAPPED_SKU in reason)
    label = f"SKU {UNMAPPED_SKU} has no ERP product"  # the cause's words, as on the admin pages
    assert f"{sku_cause.orders:>5}  {label}  ({len(sku_cause.channels)} channel(s):" in output
    assert all(number not in output for _chan, number, _reason in result.held)
    total = [line for line in lines if line.startswith("total")][0].split()
    assert int(total[1]) == 3 * len(result.channels) and int(total[3]) == len(result.held)


def test_demo_summary_stays_short_with_many_held_orders(tmp_path):
    """500 held orders on 8 channels for 2 causes: the summary has 2 cause lines, and --json carries the counts."""
    from sandboxes.demo import ChannelSummary, DemoResult, HeldCause, print_summary, summary_data

    channels = [ChannelSummary(f"shop-{i}", "shopee", "OAuth consent", orders=100, erp_completed=40, erp_held=60)
                for i in range(8)]
    held = [(f"shop-{i % 8}", f"ORDER-{i:05d}", f"order ORDER-{i:05d}: SKU {UNMAPPED_SKU} has no ERP product")
            for i in range(480)] + [("shop-1", f"UNPAID-{i}", "unpaid") for i in range(20)]
    result = DemoResult(home=tmp_path, channels=channels, held=held, erp_orders_completed=320,
                        held_causes=[HeldCause(f"missing_sku:{UNMAPPED_SKU}", 480, [f"shop-{i}" for i in range(8)],
                                               held[0][2]), HeldCause("unpaid", 20, ["shop-1"], "unpaid")])
    lines: list[str] = []
    print_summary(result, lines.append)
    text = "\n".join(lines)
    assert "ORDER-00001" not in text and len(text.splitlines()) < 40
    assert f"  480  missing_sku:{UNMAPPED_SKU}  (8 channel(s): shop-0, shop-1, shop-2, shop-3 +4)" in text
    assert "   20  unpaid  (1 channel(s): shop-1)" in text
    data = summary_data(result)
    assert data["held"] == 500 and data["orders"] == 800
    assert [c["orders"] for c in data["held_causes"]] == [480, 20]


def test_demo_json_prints_the_summary_as_json(demo_env, tmp_path):
    import json

    outcome = CliRunner().invoke(cli, ["demo", "--orders", "2", "--home", str(tmp_path / "demo"), "--json"])
    assert outcome.exit_code == 0, outcome.output
    data = json.loads(outcome.stdout)
    assert data["orders"] == 2 * len(MARKETPLACES) * 2 and data["home"] == str(tmp_path / "demo")
    assert "sandbox on" in outcome.stderr  # progress goes to stderr


def test_demo_refuses_a_used_directory(demo_env, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "oms-bridge.db").write_text("precious")
    outcome = CliRunner().invoke(cli, ["demo", "--home", str(used)])
    assert outcome.exit_code == 1
    assert "fresh data directory" in outcome.output and "Traceback" not in outcome.output
    assert (used / "oms-bridge.db").read_text() == "precious"


def test_readme_first_command_runs_the_demo(tmp_path):
    """``oms-bridge demo`` as a new user runs it: a real process, nothing configured beforehand."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_BRIDGE_")}
    env["HOME"] = str(tmp_path)
    proc = subprocess.run([str(Path(sys.executable).parent / "oms-bridge"), "demo", "--orders", "2"], env=env,
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "completed sales orders" in proc.stdout and "Traceback" not in proc.stderr
    assert not (tmp_path / ".oms-bridge").exists()  # the user's default data directory stays untouched


def test_demo_serve_keeps_the_admin_running_until_sigterm(tmp_path):
    """``oms-bridge demo --serve``: the printed password logs into the admin, /metrics answers, SIGTERM stops it."""
    import re
    import signal
    import socket
    import time

    import requests

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OMS_BRIDGE_")}
    env["HOME"] = str(tmp_path)
    log = tmp_path / "serve.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([str(Path(sys.executable).parent / "oms-bridge"), "demo", "--orders", "2", "--serve",
                                 "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 60
        while "password" not in log.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        password = re.search(r"password (\S+)\)", log.read_text()).group(1)
        base = f"http://127.0.0.1:{port}"
        web = requests.Session()
        login_page = web.get(f"{base}/admin/login", timeout=5)
        token = re.search(r'name="csrf_token" value="([^"]+)"', login_page.text).group(1)
        answer = web.post(f"{base}/admin/login", data={"username": "admin", "password": password,
                                                       "csrf_token": token}, timeout=5)
        assert answer.status_code == 200 and "Dashboard" in answer.text, (answer.text[:500], log.read_text()[-3000:])
        assert "shopline-2" in answer.text and "SAUCE-CHILI" not in answer.text
        assert "SAUCE-CHILI" in web.get(f"{base}/admin/skus", timeout=5).text  # waiting for a mapping
        metrics = requests.get(f"{base}/metrics", timeout=5).text
        assert 'oms_bridge_deliveries{destination="erp",state="held"}' in metrics
        assert requests.get(f"{base}/healthz", timeout=5).json()["scheduler"] == "running"
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=30)
    assert code == 0, log.read_text()
