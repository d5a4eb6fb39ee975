"""/healthz and /metrics on the assembled app."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.settings import reset_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order, ProcessRun
from oms_bridge.vault import Vault
from oms_bridge.web.app import create_app
from scheduler.builder import build_scheduler
from scheduler.config import ScheduleConfig


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_healthz_reports_database_and_scheduler(sqlite_settings):
    app = create_app()
    client = TestClient(app)
    assert client.get("/", follow_redirects=False).headers["location"] == "/admin/"
    answer = client.get("/healthz")
    assert answer.status_code == 200
    assert answer.json() == {"status": "ok", "database": "ok", "scheduler": "disabled"}
    sched = build_scheduler(sqlite_settings, ScheduleConfig())
    sched.start(paused=True)
    app.state.scheduler = sched
    answer = client.get("/healthz")  # started paused (as at start-up, before the first reconcile): not an error
    assert answer.status_code == 200 and answer.json()["scheduler"] == "paused"
    sched.resume()
    assert client.get("/healthz").json()["scheduler"] == "running"
    sched.shutdown(wait=False)
    answer = client.get("/healthz")
    assert answer.status_code == 503 and answer.json()["scheduler"] == "stopped"


def test_healthz_names_an_unreachable_database(home, monkeypatch):
    monkeypatch.setenv("OMS_BRIDGE_DATABASE_URL", "postgresql://postgres@127.0.0.1:1/nowhere")
    reset_settings()
    answer = TestClient(create_app()).get("/healthz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["status"] == "unhealthy" and body["database"].startswith("error: database error: ")
    assert "Connection refused" in body["database"] or "connection" in body["database"]


def test_metrics_expose_last_success_lag_and_outbox_counts(sqlite_settings):
    vault = Vault.from_settings(sqlite_settings)
    now = datetime.now(UTC)
    ended = now - timedelta(minutes=3)
    with session_scope(sqlite_settings) as s:
        add_platform(s, vault, value="momo-app", platform_type="momo", host="http://127.0.0.1:9")
        ch = add_channel(s, vault, value="momo-a", platform="momo-app", shop_id="1")
        ch.auth_state = "active"
        ch.order_watermark = now - timedelta(seconds=120)
        s.add(ProcessRun(process="getorder", oms_channel_id=ch.id, started=ended - timedelta(seconds=5), ended=ended,
                         outcome="success"))
        s.add(ProcessRun(process="getorder", oms_channel_id=ch.id, started=now, ended=now, outcome="failed"))
        for number, state in (("1", "held"), ("2", "held"), ("3", "dead"), ("4", "sent")):
            order = Order(oms_channel_id=ch.id, external_id=number)
            s.add(order)
            s.flush()
            (row,) = outbox.arm(s, order, ["erp"])
            row.state = state
    # metrics_access defaults to local clients only (no metrics_token configured)
    answer = TestClient(create_app(), client=("127.0.0.1", 50000)).get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples = _samples(answer.text)
    last = samples[("oms_bridge_process_last_success_timestamp_seconds",
                    (("channel", "momo-a"), ("process", "getorder")))]
    assert abs(last - ended.timestamp()) < 1  # the failed run after it does not count as success
    lag = samples[("oms_bridge_channel_lag_seconds", (("channel", "momo-a"),))]
    assert 119 <= lag < 200
    assert samples[("oms_bridge_deliveries", (("destination", "erp"), ("state", "held")))] == 2
    assert samples[("oms_bridge_deliveries", (("destination", "erp"), ("state", "dead")))] == 1
    assert samples[("oms_bridge_deliveries", (("destination", "logistics"), ("state", "held")))] == 0
    assert samples[("oms_bridge_channel_auth_ok", (("auth_state", "active"), ("channel", "momo-a")))] == 1
    assert "oms_bridge_scheduler_running" not in answer.text  # this app runs no scheduler
