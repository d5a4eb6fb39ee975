"""The ERP delivery records why a row is held, retrying or dead as a groupable cause, keeps the last attempt's
request and answer without the buyer's data, and does not call an order unreadable at intake "held"."""

from __future__ import annotations

import json

from click.testing import CliRunner
from erp_helpers import ErpEnv
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order


def test_missing_sku_holds_group_by_sku_without_the_order_number(erp_env: ErpEnv) -> None:
    for _ in range(3):
        erp_env.add_order(lines=[("SAUCE-XO", 1, "100")])
    other = erp_env.add_order(lines=[("NOODLE-9", 1, "100")])
    stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.held == 4 and stats.details["held_by_cause"] == {"sku_unmapped": 4}
    row = erp_env.delivery(other)
    assert (row.state, row.cause_code, row.cause_subject) == ("held", "sku_unmapped", "NOODLE-9")
    out = CliRunner().invoke(cli, ["deliveries", "problems", "--state", "held"]).output
    assert "erp           held           3  SKU SAUCE-XO has no ERP product" in out
    assert "erp           held           1  SKU NOODLE-9 has no ERP product" in out
    assert other not in out and "4 delivery(ies) in 2 group(s)" in out
    data = json.loads(CliRunner().invoke(cli, ["deliveries", "problems", "--json"]).output)
    assert [(g["cause"], g["subject"], g["orders"]) for g in data["groups"]] == [
        ("sku_unmapped", "SAUCE-XO", 3), ("sku_unmapped", "NOODLE-9", 1)]
    status = json.loads(CliRunner().invoke(cli, ["erp", "status", "--json"]).output)
    assert [(r["reason"], r["orders"]) for r in status["held_reasons"]] == [
        ("SKU SAUCE-XO has no ERP product", 3), ("SKU NOODLE-9 has no ERP product", 1)]


def test_an_erp_rejection_keeps_request_and_answer_without_personal_data(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order(lines=[("PChair", 1, "100")])  # the sandbox's product without a price
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert (row.state, row.cause_code, row.cause_subject) == ("held", "sku_unpriced", "PChair")
    assert "createData C_OrderLine [line:1]" in row.last_request and "M_Product_ID=140" in row.last_request
    for personal in ("陳怡君", "0912345678", "復興南路", "buyer@example.com", "大安區"):
        assert personal not in row.last_request and personal not in row.last_answer
    assert "[line:1] error: " in row.last_answer and "[order] ok RecordID=" in row.last_answer


def test_an_unreachable_erp_is_retrying_then_dead_by_cause(erp_env: ErpEnv, monkeypatch) -> None:
    from oms_bridge.settings import get_settings, reset_settings

    ext = erp_env.add_order()
    erp_env.sandbox.stop()
    monkeypatch.setenv("OMS_BRIDGE_DELIVERY_MAX_ATTEMPTS", "2")
    reset_settings()
    run_erp_delivery(settings=get_settings())
    row = erp_env.delivery(ext)
    assert (row.state, row.cause_code, row.cause_subject) == ("retry", "delivery_failed", "the ERP did not answer")
    out = CliRunner().invoke(cli, ["erp", "status"]).output
    assert "retrying after: delivery failed: the ERP did not answer (latest: " in out
    from datetime import timedelta

    from oms_bridge.store.models import utcnow
    run_erp_delivery(settings=get_settings(), now=utcnow() + timedelta(hours=3))
    row = erp_env.delivery(ext)
    assert (row.state, row.cause_code, row.cause_subject) == ("dead", "gave_up", "the ERP did not answer")


def test_an_order_unreadable_at_intake_is_not_a_held_delivery(erp_env: ErpEnv) -> None:
    """Regression: the delivery of an order held at intake was 'held' too, counted twice as held."""
    ext = erp_env.add_order()
    with session_scope(erp_env.settings) as s:
        order = s.scalars(select(Order).where(Order.external_id == ext)).one()
        order.is_held, order.held_reason = True, "unknown status 'X'"
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert (row.state, row.cause_code) == ("waiting", "order_unreadable")
    data = json.loads(CliRunner().invoke(cli, ["deliveries", "problems", "--json"]).output)
    assert data["groups"] == [] and data["unreadable_orders"] == 1
