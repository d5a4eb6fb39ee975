"""/metrics can be graphed: counters where the work happens (orders fetched, delivery outcomes, API calls by
outcome), histograms (API latency, run durations), the oldest undelivered row's age - and every metric the
shipped Grafana dashboard queries exists in the output."""

from __future__ import annotations

import json
import re
import sys
from datetime import timedelta
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import select, update

from channels.getorder import run_getorder
from oms_bridge.erp.connections import save_connection
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, utcnow
from oms_bridge.vault import Vault
from oms_bridge.web.app import create_app
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.idempiere.server import ErpSandbox
from scheduler.builder import build_scheduler
from scheduler.config import ScheduleConfig

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "channels"))
from channels_kit import FAST, bind  # noqa: E402 - the channel tests' kit

DASHBOARD = Path(__file__).resolve().parents[2] / "docs" / "grafana-dashboard.json"


def _scrape(scheduler=None) -> dict[str, list[tuple[dict[str, str], float]]]:
    app = create_app()
    app.state.scheduler = scheduler
    text = TestClient(app, client=("127.0.0.1", 50000)).get("/metrics").text
    samples: dict[str, list[tuple[dict[str, str], float]]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            samples.setdefault(s.name, []).append((dict(s.labels), s.value))
    return samples


def _value(samples, name: str, **labels: str) -> float:
    return sum(v for found, v in samples.get(name, []) if all(found.get(k) == w for k, w in labels.items()))


def _wire_erp(settings, channel_id: int, erp: ErpSandbox) -> None:
    fields = erp.connection_fields()
    with session_scope(settings) as s:
        conn = save_connection(s, Vault.from_settings(settings), "gw", **fields,
                               settings={"timeout_seconds": 10})
        s.execute(update(Channel).where(Channel.id == channel_id).values(oms_erp_connection_id=conn.id,
                                                                         **erp.channel_mapping()))


def test_counters_and_histograms_follow_the_work_and_the_dashboard_queries_exist(sqlite_settings) -> None:
    before = _scrape()
    erp = ErpSandbox().start()
    sandbox = CyberbizSandbox().start()
    try:
        bound = bind(sqlite_settings, sandbox, "cbz-metrics")
        _wire_erp(sqlite_settings, bound.channel_id, erp)
        now = utcnow()
        sandbox.generate_orders(bound.shop_id, 4, start=now - timedelta(hours=3), end=now - timedelta(hours=1),
                                status="paid")
        sandbox.faults.inject("429", count=1)  # one refused request, retried: outcome rate_limited, then ok
        assert run_getorder(bound.channel_id, settings=sqlite_settings, clock=sandbox.clock.now, policy=FAST).new == 4
        assert run_erp_delivery(settings=sqlite_settings).sent == 4
        with session_scope(sqlite_settings) as s:  # the OMS has not read one order for two hours
            row = s.scalars(select(Delivery).where(Delivery.destination == "oms").order_by(Delivery.id)).first()
            row.armed_at = now - timedelta(hours=2)
    finally:
        sandbox.stop()
        erp.stop()
    sched = build_scheduler(sqlite_settings, ScheduleConfig(reconcile_time=""))
    sched.start(paused=True)  # an instance that runs a scheduler also reports it
    try:
        after = _scrape(sched)
    finally:
        sched.shutdown(wait=False)

    def delta(name: str, **labels: str) -> float:
        return _value(after, name, **labels) - _value(before, name, **labels)

    assert delta("oms_bridge_orders_fetched_total", channel="cbz-metrics") == 4
    assert delta("oms_bridge_deliveries_total", destination="erp", state="sent") == 4
    assert delta("oms_bridge_api_calls_total", platform="cyberbiz", outcome="rate_limited") == 1
    assert delta("oms_bridge_api_calls_total", platform="cyberbiz", outcome="ok") >= 2  # credentials check + list
    assert delta("oms_bridge_api_calls_total", platform="idempiere", outcome="ok") >= 2  # pre-check + composite
    assert delta("oms_bridge_api_latency_seconds_count", platform="cyberbiz") == delta(
        "oms_bridge_api_calls_total", platform="cyberbiz")
    assert delta("oms_bridge_run_duration_seconds_count", process="getorder") == 1
    assert delta("oms_bridge_run_duration_seconds_count", process="erp_delivery") == 1
    assert delta("oms_bridge_run_duration_seconds_bucket", process="getorder", le="+Inf") == 1
    age = _value(after, "oms_bridge_delivery_oldest_pending_age_seconds", destination="oms")
    assert 7000 < age < 7400
    assert _value(after, "oms_bridge_delivery_oldest_pending_age_seconds", destination="erp") == 0

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel.get("targets", [])]
    assert len(exprs) >= 10
    queried = {name for expr in exprs for name in re.findall(r"\boms_bridge_[a-z_]+", expr)}
    assert {"oms_bridge_orders_fetched_total", "oms_bridge_deliveries_total", "oms_bridge_api_calls_total",
            "oms_bridge_api_latency_seconds_bucket", "oms_bridge_run_duration_seconds_bucket",
            "oms_bridge_delivery_oldest_pending_age_seconds"} <= queried
    assert _value(after, "oms_bridge_scheduler_running") == 1
    missing = sorted(name for name in queried if not after.get(name))
    assert not missing, f"the dashboard queries metrics /metrics does not serve: {missing}"


def test_api_calls_to_nowhere_count_as_unreachable(sqlite_settings) -> None:
    import socket

    import pytest

    from oms_bridge.remote.http import HttpClient, RetryPolicy, json_body
    from platforms.base import TransientError

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # closed again: nothing listens there
    client = HttpClient(f"http://127.0.0.1:{port}", platform="metrics-test",
                        classify=lambda r: json_body(r, platform="metrics-test"),
                        policy=RetryPolicy(max_attempts=2, sleep=lambda s: None, connect_timeout=1, read_timeout=1))
    with pytest.raises(TransientError):
        client.request("GET", "/orders")
    samples = _scrape()
    assert _value(samples, "oms_bridge_api_calls_total", platform="metrics-test", outcome="unreachable") == 2
    assert _value(samples, "oms_bridge_api_latency_seconds_count", platform="metrics-test") == 2
