"""SKU → Omnitron product id: served as product.pk, the off/warn/hold policy in pull mode, CLI and CSV."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms, package_payload
from oms_helpers import add_channel, add_order, setup_json
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.oms.products import parse_csv
from oms_bridge.oms.push import run_oms_delivery
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery
from oms_bridge.web.app import create_app
from scheduler.config import ScheduleConfig
from scheduler.jobs import oms_delivery_job
from scheduler.sync import desired_jobs

TWO_SKUS = (("MUG-CER-350", "馬克杯", "1", "299", "0"), ("TEA-OOLONG-150", "烏龍茶", "2", "480", "0"))


@pytest.fixture
def store_oms(store_settings) -> Iterator[tuple[FakeOms, object, int]]:
    """(fake OMS, settings, channel id) on SQLite and on PostgreSQL: the product SQL runs on both."""
    channel = add_channel(store_settings)
    with TestClient(create_app()) as client:
        yield FakeOms.from_setup(setup_json(), client), store_settings, channel


def run(*args: str):
    return CliRunner().invoke(cli, ["oms", *args])


def policy(home: Path, mode: str) -> None:
    (home / "config.toml").write_text(f'[oms_bridge.oms]\nproduct_reference = "{mode}"\n', encoding="utf-8")
    reset_settings()


def oms_row(settings, order_id: int) -> Delivery:
    with session_scope(settings) as s:
        return s.scalars(select(Delivery).where(Delivery.oms_order_id == order_id,
                                                Delivery.destination == "oms")).one()


def test_oms_items_carry_the_omnitron_product_id(store_oms):
    """Issue 14: order items were served with product.pk = None whatever was known."""
    oms, sqlite_settings, channel_id = store_oms
    add_order(sqlite_settings, channel_id, "PK1", lines=TWO_SKUS)
    assert run("products", "map", "TEA-OOLONG-150", "8362").exit_code == 0
    order = oms.get("orders").json()["results"][0]
    products = [i["product"] for i in order["orderitem_set"]]
    assert [(p["sku"], p["pk"], p["id"]) for p in products] == [
        ("MUG-CER-350", None, None), ("TEA-OOLONG-150", 8362, 8362), ("TEA-OOLONG-150", 8362, 8362)]
    items = oms.pull_all("orderitem_set")
    assert [i["product"]["pk"] for i in items] == [None, 8362, 8362]
    assert run("products", "map", "MUG-CER-350", "365").exit_code == 0
    assert oms.get("orders", order["id"]).json()["orderitem_set"][0]["product"]["pk"] == 365


def test_oms_warn_reports_unmapped_skus_before_the_oms_reads(store_oms):
    oms, sqlite_settings, channel_id = store_oms
    o1 = add_order(sqlite_settings, channel_id, "U1", lines=TWO_SKUS)
    add_order(sqlite_settings, channel_id, "U2", lines=(TWO_SKUS[0],))
    report = json.loads(run("products", "list", "--unmapped", "--json").output)
    assert report == [{"sku": "MUG-CER-350", "orders": 2, "held": 0, "name": "馬克杯"},
                      {"sku": "TEA-OOLONG-150", "orders": 1, "held": 0, "name": "烏龍茶"}]
    text = run("products", "list", "--unmapped").output
    assert "MUG-CER-350\t2 order(s)" in text and "product_reference = warn" in text
    # warn serves them (product.pk null) and they stay reported until the OMS acts on them
    order = next(o for o in oms.pull_all("orders") if o["number"] == "U1")
    assert len(json.loads(run("products", "list", "--unmapped", "--json").output)) == 2
    items = tuple(i["id"] for i in order["orderitem_set"])
    oms.send("package.created", package_payload(1, "U1", "100", "Waiting", item_ids=items))
    assert oms_row(sqlite_settings, o1).state == "sent"
    assert json.loads(run("products", "list", "--unmapped", "--json").output) == [
        {"sku": "MUG-CER-350", "orders": 1, "held": 0, "name": "馬克杯"}]


def test_oms_hold_keeps_orders_from_the_oms_until_mapped(store_oms, home):
    oms, sqlite_settings, channel_id = store_oms
    policy(home, "hold")
    held = add_order(sqlite_settings, channel_id, "H1", lines=TWO_SKUS)
    add_order(sqlite_settings, channel_id, "H2", lines=(("TEA-OOLONG-150", "烏龍茶", "1", "480", "0"),))
    assert run("products", "map", "TEA-OOLONG-150", "8362").exit_code == 0
    # never served while a SKU lacks its id: not in the list, the detail, the items, the count
    assert [o["number"] for o in oms.pull_all("orders")] == ["H2"]
    assert oms.get("orders", held).status_code == 404
    assert {i["order"] for i in oms.pull_all("orderitem_set")} == {oms.pull_all("orders")[0]["id"]}
    # the OMS delivery run holds it with the reason and the command (pull mode: it only checks)
    stats = run_oms_delivery(settings=get_settings())
    assert stats.details["product_held"] == 1
    row = oms_row(sqlite_settings, held)
    assert (row.state, row.hold_code) == ("held", "omnitron_product:MUG-CER-350")
    assert "oms-bridge oms products map MUG-CER-350 <OMNITRON_PRODUCT_ID>" in row.last_error
    report = json.loads(run("products", "list", "--unmapped", "--json").output)
    assert report == [{"sku": "MUG-CER-350", "orders": 1, "held": 1, "name": "馬克杯"}]
    out = run("products", "map", "MUG-CER-350", "365").output
    assert "1 held order(s) queued again for the OMS" in out
    assert oms_row(sqlite_settings, held).state == "pending"
    served = {o["number"]: o for o in oms.pull_all("orders")}
    assert [i["product"]["pk"] for i in served["H1"]["orderitem_set"]] == [365, 8362, 8362]
    assert oms_row(sqlite_settings, held).state == "waiting"
    # back to warn: rows still held for a SKU are released by the next run
    o3 = add_order(sqlite_settings, channel_id, "H3", lines=(("NEW-SKU", "新品", "1", "10", "0"),))
    run_oms_delivery(settings=get_settings())
    assert oms_row(sqlite_settings, o3).state == "held"
    policy(home, "warn")
    assert run_oms_delivery(settings=get_settings()).details["rearmed_product"] == 1
    assert oms_row(sqlite_settings, o3).state == "pending"


def test_oms_products_cli_and_csv(sqlite_settings, tmp_path):
    assert "no Omnitron product ids" in run("products", "list").output
    assert run("products", "map", "A-1", "0").exit_code == 1
    assert "positive whole number" in run("products", "map", "A-1", "0").output
    assert run("products", "map", " ", "5").exit_code == 1
    csv_file = tmp_path / "products.csv"
    csv_file.write_text("\ufeffsku,omnitron_product_id\nA-1,101\nB-2,x\n,7\nC-3,103\nA-1,111\n\n", encoding="utf-8")
    result = run("products", "import", str(csv_file))
    assert result.exit_code == 1
    assert "line 3: SKU B-2: omnitron_product_id 'x' is not a positive whole number" in result.output
    assert "line 4: sku is empty" in result.output and "line 6: SKU A-1 appears again (line 2)" in result.output
    assert "2 product id(s) imported, 3 problem(s)" in result.output
    rows = json.loads(run("products", "list", "--json").output)
    assert rows == [{"sku": "A-1", "omnitron_product_id": 111}, {"sku": "C-3", "omnitron_product_id": 103}]
    bad = tmp_path / "bad.csv"
    bad.write_text("sku,m_product_id\nA,1\n", encoding="utf-8")
    out = run("products", "import", str(bad))
    assert out.exit_code == 1 and "header must be sku,omnitron_product_id" in out.output
    big5 = tmp_path / "big5.csv"
    big5.write_bytes("sku,pk\n茶,1\n".encode("big5"))
    assert "not UTF-8" in run("products", "import", str(big5)).output
    assert run("products", "unmap", "A-1").exit_code == 0
    assert run("products", "unmap", "A-1").exit_code == 1
    assert parse_csv("SKU,PK\nZ-9,9\n") == ([parse_csv("sku,pk\nZ-9,9\n")[0][0]], [])


def test_oms_settings_validation_and_the_delivery_job(sqlite_settings, home):
    (home / "config.toml").write_text('[oms_bridge.oms]\nproduct_reference = "maybe"\n', encoding="utf-8")
    reset_settings()
    bad = run("settings")
    assert bad.exit_code == 1 and "oms.product_reference must be one of 'off', 'warn', 'hold'" in bad.output
    cfg = ScheduleConfig(delivery_seconds=60)
    assert "oms-delivery" in desired_jobs(get_settings(), cfg)  # a broken table still gets its run, to report it
    assert "getorder" not in str(desired_jobs(get_settings(), cfg))  # no channels: nothing else to schedule
    for text, wanted in (("", False), ('order_notify = "push"\n', True), ('product_reference = "hold"\n', True),
                         ('product_reference = "off"\n', False)):
        (home / "config.toml").write_text("[oms_bridge.oms]\n" + text, encoding="utf-8")
        reset_settings()
        jobs = desired_jobs(get_settings(), cfg)
        assert ("oms-delivery" in jobs) is wanted, text
        if wanted:
            assert jobs["oms-delivery"].func is oms_delivery_job and jobs["oms-delivery"].seconds == 60
        assert {"erp-delivery", "logistics-delivery"} <= set(jobs)
    (home / "config.toml").write_text('[oms_bridge.oms]\npush_headers = {Authorization = "Token x"}\n',
                                      encoding="utf-8")
    reset_settings()
    assert "must not carry Authorization" in run("settings").output
    (home / "config.toml").write_text('[oms_bridge.oms]\npush_url = "oms.example.com"\n', encoding="utf-8")
    reset_settings()
    assert "push_url must be an http(s) URL" in run("settings").output


def test_oms_settings_json_shows_how_orders_reach_the_oms(sqlite_settings, home):
    doc = setup_json()
    assert doc["orders"] == {"notify": "pull", "product_reference": "warn"}
    (home / "config.toml").write_text('[oms_bridge.oms]\norder_notify = "push"\npush_url = "http://127.0.0.1:9"\n',
                                      encoding="utf-8")
    reset_settings()
    doc = setup_json()
    assert doc["orders"]["push"] == {"order.created": "http://127.0.0.1:9/api/v1/oms/order/",
                                     "order.updated": "http://127.0.0.1:9/api/v1/oms/order/", "token": False,
                                     "secret": False, "signature_header": "X-Whisperer-Signature"}
    text = CliRunner().invoke(cli, ["oms", "settings", "--rotate"]).output
    assert "Orders are pushed to the OMS: order.created → http://127.0.0.1:9/api/v1/oms/order/" in text
    assert "OMS token NOT set" in text


def test_product_ids_match_whole_skus_only(store_settings):
    """The page's SKUs go to the database as one list (oms_bridge.store.lists): on PostgreSQL an array cast to the
    column's VARCHAR(120)[] cut a longer SKU to 120 characters, and it matched the SKU it starts with."""
    from oms_bridge.oms.products import product_ids, set_product

    stored = "S" * 120
    with session_scope(store_settings) as s:
        set_product(s, stored, 77)
        set_product(s, "MUG-1", 78)
    with session_scope(store_settings) as s:
        assert product_ids(s, [stored + "-XL", "MUG-1", None, "NOPE"]) == {"MUG-1": 78}
        assert product_ids(s, [stored]) == {stored: 77}
