"""The `oms` CLI commands an admin uses around the OMS: carriers, tokens, packages, shipments."""

from __future__ import annotations

import json

from click.testing import CliRunner
from oms_fake_client import FakeOms, package_payload
from oms_helpers import add_order
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery
from oms_bridge.store.outbox import mark_held


def run(*args: str):
    return CliRunner().invoke(cli, ["oms", *args])


def test_oms_cli_carriers(sqlite_settings):
    assert "no carriers mapped" in run("carriers", "list").output
    assert run("carriers", "set", "shopee", "黑貓宅急便", "BLACKCAT").exit_code == 0
    assert run("carriers", "set", "shopee", "黑貓宅急便", "BLACKCAT-2").exit_code == 0  # update, not a second row
    assert run("carriers", "set", "momo", "新竹物流", "新竹貨運").exit_code == 0
    rows = json.loads(run("carriers", "list", "--json").output)
    assert rows == [{"platform_type": "momo", "oms_carrier": "新竹物流", "platform_carrier": "新竹貨運"},
                    {"platform_type": "shopee", "oms_carrier": "黑貓宅急便", "platform_carrier": "BLACKCAT-2"}]
    bad = run("carriers", "set", "ebay", "x", "y")
    assert bad.exit_code == 1 and "unknown platform type 'ebay'" in bad.output and "shopee" in bad.output
    empty = run("carriers", "set", "shopee", " ", "y")
    assert empty.exit_code == 1 and "non-empty" in empty.output
    assert run("carriers", "remove", "momo", "新竹物流").exit_code == 0
    assert run("carriers", "remove", "momo", "新竹物流").exit_code == 1
    assert len(json.loads(run("carriers", "list", "--platform", "shopee", "--json").output)) == 1


def test_oms_cli_rotate_all_tokens(sqlite_settings):
    first = json.loads(run("rotate-token", "--json").output)["rotated"]
    assert len(first) == 13 and "webhooks" in first
    second = json.loads(run("rotate-token", "--json").output)["rotated"]
    assert all(first[k] != second[k] for k in first)
    text = run("rotate-token", "--endpoint", "orders", "--endpoint", "cities").output
    assert "orders:" in text and "cities:" in text and "townships:" not in text


def test_oms_cli_packages_shipments_and_retry(oms: FakeOms, sqlite_settings, channel_id):
    oid = add_order(sqlite_settings, channel_id, "S1")
    oms.pull_all("orders")
    oms.send("package.status.shipped", package_payload(31, "S1", "600", "Shipped", tracking="T-31", carrier="X"))
    oms.send("package.status.delivered", package_payload(32, "S1", "9999", "Odd"))
    packages = json.loads(run("packages", "--json").output)
    assert {p["package"]: p["state"] for p in packages} == {"31": "600", "32": "9999"}
    problems = json.loads(run("packages", "--problems", "--json").output)
    assert [p["outcome"] for p in problems] == ["unknown_state"] and "9999" in problems[0]["message"]

    with session_scope(sqlite_settings) as s:
        row = s.scalars(select(Delivery).where(Delivery.oms_order_id == oid, Delivery.destination == "logistics")).one()
        mark_held(row, "test hold", code="x")
    held = json.loads(run("shipments", "--held", "--json").output)
    assert [(h["order"], h["state"], h["reason"]) for h in held] == [("S1", "held", "test hold")]
    assert "1 shipment(s) re-armed" in run("retry-shipments", "--order", str(oid)).output
    assert json.loads(run("shipments", "--held", "--json").output) == []


def test_oms_config_choices_and_clear_errors(sqlite_settings, home):
    from oms_bridge.settings import reset_settings

    (home / "config.toml").write_text(
        '[oms_bridge.oms]\nsupplier_code = "ACME-TW"\nhmac_header = "X-OMS-Sign"\n'
        '[oms_bridge.oms.status_codes]\nready_to_ship = "450"\n', encoding="utf-8")
    reset_settings()
    doc = json.loads(run("settings", "--json", "--hmac").output)
    assert doc["supplier_code"] == "ACME-TW" and doc["signature"]["header"] == "X-OMS-Sign"
    (home / "config.toml").write_text('[oms_bridge.oms]\nstatus_codes = "nope"\n', encoding="utf-8")
    reset_settings()
    bad = run("settings")
    assert bad.exit_code == 1 and "oms.status_codes must be a table" in bad.output
    (home / "config.toml").write_text('[oms_bridge.oms.status_codes]\nshipping = "500"\n', encoding="utf-8")
    reset_settings()
    bad = run("settings")
    assert bad.exit_code == 1 and "shipping is not a canonical status" in bad.output
    (home / "config.toml").write_text('[oms_bridge.oms]\nchannel_mode = "both"\n', encoding="utf-8")
    reset_settings()
    assert "channel_mode must be" in run("settings").output
