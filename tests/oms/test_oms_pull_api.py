"""The pull API as an OMS configured from `oms-bridge oms settings` sees it."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
from click.testing import CliRunner
from oms_fake_client import FakeOms, package_payload
from oms_helpers import T0, add_channel, add_order, bump_order, setup_json
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.oms.config import ENDPOINTS
from oms_bridge.settings import reset_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery
from oms_bridge.store.models.oms import OmsApiToken, OmsCity, OmsTownship


def test_oms_settings_lists_every_endpoint_with_its_own_token(sqlite_settings):
    doc = setup_json()
    conf = doc["OMNITRON_CLIENT_SETTINGS"]["json_value"]["endpoint_conf"]
    assert [e["endpoint"] for e in conf] == list(ENDPOINTS)
    assert all(e["base_url"] == "http://127.0.0.1:8765/api/v1/applications/oms" for e in conf)
    tokens = [e["auth"]["token"] for e in conf]
    assert len(set(tokens)) == len(tokens) and all(len(t) >= 40 for t in tokens)
    assert doc["supplier_code"] == "OMS-BRIDGE" and "no longer work" in doc["warning"]
    hooks = {h["event_type"]: h["target_url"] for h in doc["webhooks"]}
    assert hooks["package.created"].endswith("/api/v1/applications/oms/packages/")
    assert hooks["package.status.shipped"].endswith("/api/v1/applications/oms/packages/update-status/")
    assert len(hooks) == 9
    assert doc["channel"]["mode"] == "static" and "first order" in doc["channel"]["note"]
    with session_scope(sqlite_settings) as s:  # only hashes are stored
        stored = {r.endpoint: r.token_hash for r in s.scalars(select(OmsApiToken))}
    assert set(tokens).isdisjoint(stored.values())
    again = CliRunner().invoke(cli, ["oms", "settings"])  # a look must not break a live OMS
    assert again.exit_code == 1 and "--rotate" in again.output and "Traceback" not in again.output
    with session_scope(sqlite_settings) as s:
        assert {r.endpoint: r.token_hash for r in s.scalars(select(OmsApiToken))} == stored
    text = CliRunner().invoke(cli, ["oms", "settings", "--rotate"]).output
    assert "OMNITRON_CLIENT_SETTINGS" in text and "whisperer/hooks" in text and "no longer work" in text


def test_oms_client_pulls_every_endpoint(oms: FakeOms, sqlite_settings, channel_id):
    o1 = add_order(sqlite_settings, channel_id, "2603010001",
                   lines=(("TEA-OOLONG-150", "烏龍茶", "3", "480", "10"), ("MUG-CER-350", "馬克杯", "1", "299", "0")))
    add_order(sqlite_settings, channel_id, "2603010002", city="高雄市", district="前鎮區", zipcode="806")
    add_order(sqlite_settings, channel_id, "held-1", held=True)

    orders = oms.pull_all("orders", limit=1)
    assert [o["number"] for o in orders] == ["2603010001", "2603010002"]
    first = orders[0]
    assert first["pk"] == first["id"] == o1 and first["status"] == "400" and first["currency"] == "twd"
    assert first["amount"] == "1789.00" and first["shipping_amount"] == "60.00"
    assert first["customer"]["last_name"] == "陳" and first["customer"]["first_name"] == "怡君"
    items = first["orderitem_set"]
    assert len(items) == 4  # one per unit: 3 tea + 1 mug
    assert [i["product"]["sku"] for i in items] == ["TEA-OOLONG-150"] * 3 + ["MUG-CER-350"]
    assert [i["discount_amount"] for i in items[:3]] == ["3.34", "3.33", "3.33"]
    assert sum(Decimal(i["discount_amount"]) for i in items) == Decimal("10")
    assert all(i["status"] == "400" and i["price_currency"] == "twd" and i["tax_rate"] == "5.00" for i in items)

    cities = oms.pull_all("cities", limit=100)
    townships = oms.pull_all("townships", limit=500)
    districts = oms.pull_all("districts", limit=500)
    countries = oms.pull_all("countries")
    assert len(cities) == 22 and len(townships) == 368 and len(districts) == 368
    assert countries == oms.pull_all("countries_with_code", code="tw")
    assert countries[0]["code"] == "TW"
    for name in ("countries_count", "townships_count", "districts_count"):
        resp = oms.get(name)
        assert resp.status_code == 200
    assert oms.get("townships_count").json() == {"count": 368}
    assert oms.get("districts_count", city=cities[0]["pk"]).json() == {"count": 12}

    # The order's address resolves to catalogue ids the OMS has pulled.
    addr = first["shipping_address"]
    assert addr["country"]["pk"] == countries[0]["pk"]
    city = next(c for c in cities if c["pk"] == addr["city"]["pk"])
    township = next(t for t in townships if t["pk"] == addr["township"]["pk"])
    district = next(d for d in districts if d["pk"] == addr["district"]["pk"])
    assert (city["name"], township["name"], township["postcode"]) == ("臺北市", "大安區", "106")
    assert district["township"] == township["pk"] and township["city"] == city["pk"]

    item_rows = oms.pull_all("orderitem_set", limit=3)
    assert [i["id"] for i in item_rows] == [i["id"] for o in orders for i in o["orderitem_set"]]
    assert oms.pull_all("cancellation_plans") == []
    detail = oms.get("orders", o1).json()
    assert detail["number"] == "2603010001" and detail["orderitem_set"] == items


def test_oms_read_is_not_delivery_until_the_oms_acts_and_change_shows_again(oms: FakeOms, sqlite_settings,
                                                                             channel_id):
    """Issue 14: a read is an offer, not a delivery; the OMS acting on the order (here a package webhook) is."""
    oid = add_order(sqlite_settings, channel_id, "A1")
    first = oms.get("orders").json()["results"][0]
    before = first["modified_date"]
    with session_scope(sqlite_settings) as s:
        row = s.scalars(select(Delivery).where(Delivery.oms_order_id == oid)).one()
        assert (row.state, row.delivered_version) == ("waiting", None) and "read by the OMS" in row.last_error
    items = tuple(i["id"] for i in first["orderitem_set"])
    assert oms.send("package.created", package_payload(5, "A1", "100", "Waiting", item_ids=items)).status_code == 200
    with session_scope(sqlite_settings) as s:
        row = s.scalars(select(Delivery).where(Delivery.oms_order_id == oid)).one()
        assert (row.state, row.delivered_version) == ("sent", 1) and "package.created 5" in row.external_ref
    bump_order(sqlite_settings, oid, status="cancelled")
    with session_scope(sqlite_settings) as s:
        assert s.scalars(select(Delivery).where(Delivery.oms_order_id == oid)).one().state == "pending"
    # A package event for the old version does not deliver the new one the OMS has not read.
    oms.send("package.status.packed", package_payload(5, "A1", "500", "Packed"))
    with session_scope(sqlite_settings) as s:
        assert s.scalars(select(Delivery).where(Delivery.oms_order_id == oid)).one().state == "pending"
    changed = oms.pull_all("orders", modified_date__gte=before)
    assert [o["status"] for o in changed] == ["100"]
    with session_scope(sqlite_settings) as s:
        row = s.scalars(select(Delivery).where(Delivery.oms_order_id == oid)).one()
        assert (row.state, row.order_version) == ("waiting", 2)
    # The OMS completes the cancellation through order_item_bulk_update: it acted on version 2.
    resp = oms.post("order_item_bulk_update", [{"id": i, "status": "100"} for i in items])
    assert resp.status_code == 200, resp.text
    with session_scope(sqlite_settings) as s:
        row = s.scalars(select(Delivery).where(Delivery.oms_order_id == oid)).one()
        assert (row.state, row.delivered_version) == ("sent", 2) and "order_item_bulk_update" in row.external_ref


def test_oms_ack_endpoint(oms: FakeOms, sqlite_settings, channel_id):
    oid = add_order(sqlite_settings, channel_id, "ACK1")
    early = oms.http.post(oms.url("orders", oid) + "ack/", headers=oms.headers("orders"))
    assert early.status_code == 409 and "not offered" in early.json()["detail"]
    oms.get("orders", oid)
    resp = oms.http.post(oms.url("orders", oid) + "ack/", headers=oms.headers("orders"))
    assert resp.status_code == 200 and resp.json() == {"order": oid, "acknowledged": True, "changed": True,
                                                       "version": 1}
    again = oms.http.post(oms.url("orders", oid) + "ack/", headers=oms.headers("orders"))
    assert again.status_code == 200 and again.json()["changed"] is False
    assert oms.http.post(oms.url("orders", oid) + "ack/", headers=oms.headers("cities")).status_code == 401
    assert oms.http.post(oms.url("orders", 99999) + "ack/", headers=oms.headers("orders")).status_code == 404
    with session_scope(sqlite_settings) as s:
        row = s.scalars(select(Delivery).where(Delivery.oms_order_id == oid)).one()
        assert (row.state, row.external_ref) == ("sent", "acknowledged v1: ack call")


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_oms_every_endpoint_refuses_missing_and_wrong_tokens(oms: FakeOms, app_client, endpoint):
    url = oms.url(endpoint)
    send = app_client.post if endpoint == "order_item_bulk_update" else app_client.get
    kwargs = {"json": [{"id": 1}]} if endpoint == "order_item_bulk_update" else {}
    other = oms.conf["orders" if endpoint != "orders" else "cities"]["auth"]["token"]
    for headers in ({}, {"Authorization": "Token nope"}, {"Authorization": "Basic abc"},
                    {"Authorization": f"Token {other}"}):
        resp = send(url, headers=headers, **kwargs)
        assert resp.status_code == 401, (endpoint, headers, resp.text)
        assert resp.json()["detail"] and resp.headers["www-authenticate"] == "Token"


def test_oms_rotate_token_retires_the_old_one(oms: FakeOms, app_client):
    assert oms.get("cities").status_code == 200
    result = CliRunner().invoke(cli, ["oms", "rotate-token", "--endpoint", "cities", "--json"])
    assert result.exit_code == 0, result.output
    new = json.loads(result.output)["rotated"]["cities"]
    assert oms.get("cities").status_code == 401
    assert oms.get("townships").status_code == 200  # others untouched
    oms.conf["cities"]["auth"]["token"] = new
    assert oms.get("cities").status_code == 200
    bad = CliRunner().invoke(cli, ["oms", "rotate-token", "--endpoint", "nope"])
    assert bad.exit_code == 1 and "unknown endpoint 'nope'" in bad.output


def test_oms_paging_and_filters(oms: FakeOms, sqlite_settings, channel_id):
    ids = [add_order(sqlite_settings, channel_id, f"N{n}", created=T0 + timedelta(days=n),
                     status=("paid", "shipped", "cancelled")[n % 3]) for n in range(7)]
    page2 = oms.get("orders", limit=3, page=2).json()
    assert page2["count"] == 7 and [o["id"] for o in page2["results"]] == ids[3:6]
    assert "page=3" in page2["next"] and "page=1" in page2["previous"]
    assert oms.get("orders", limit=3, page=9).status_code == 404
    assert [o["number"] for o in oms.pull_all("orders", status="500")] == ["N1", "N4"]
    assert [o["number"] for o in oms.pull_all("orders", status__in="500,100")] == ["N1", "N2", "N4", "N5"]
    assert [o["number"] for o in oms.pull_all("orders", number="N3")] == ["N3"]
    assert [o["id"] for o in oms.pull_all("orders", id__in=f"{ids[0]},{ids[6]}")] == [ids[0], ids[6]]
    placed = oms.pull_all("orders", date_placed__gte=(T0 + timedelta(days=5)).isoformat())
    assert [o["number"] for o in placed] == ["N5", "N6"]
    assert [o["number"] for o in oms.pull_all("orders", date_placed__lte="2026-03-02")] == ["N0"]
    assert len(oms.pull_all("orders", channel="oms-bridge")) == 7
    assert oms.pull_all("orders", channel="other") == []
    for params, field in (({"modified_date__gte": "yesterday"}, "modified_date__gte"),
                          ({"id__in": "1,x"}, "id__in"), ({"limit": 0}, "limit"), ({"page": 0}, "page")):
        resp = oms.get("orders", **params)
        assert resp.status_code in (400, 422), resp.text
        assert field in resp.text
    assert oms.get("orders", 999999).status_code == 404
    assert oms.get("cities", is_active="maybe").status_code == 400


def test_oms_per_channel_mode_uses_marketplace_channels(app_client, sqlite_settings, home):
    (home / "config.toml").write_text('[oms_bridge.oms]\nchannel_mode = "per_channel"\n', encoding="utf-8")
    from oms_bridge.settings import reset_settings

    reset_settings()
    a = add_channel(sqlite_settings, value="shopee-a", oms_channel_code="SHOPEE-A")
    b = add_channel(sqlite_settings, value="momo-b", platform_type="momo")
    add_order(sqlite_settings, a, "X1")
    add_order(sqlite_settings, b, "X2")
    oms = FakeOms.from_setup(setup_json(), app_client)
    orders = oms.pull_all("orders")
    assert [(o["channel"], o["channel_code"]) for o in orders] == [(a, "SHOPEE-A"), (b, "momo-b")]
    assert [o["number"] for o in oms.pull_all("orders", channel="SHOPEE-A")] == ["X1"]
    assert [o["number"] for o in oms.pull_all("orders", channel=str(b))] == ["X2"]


def test_oms_unknown_places_join_the_catalogue(oms: FakeOms, sqlite_settings, channel_id):
    add_order(sqlite_settings, channel_id, "P1", city="台北市", district="大安區", zipcode="106")  # 台 spelling
    add_order(sqlite_settings, channel_id, "P2", state="新北市", city="板橋區", district=None, zipcode="220")
    add_order(sqlite_settings, channel_id, "P3", city=None, district=None, zipcode="970")  # postcode only
    add_order(sqlite_settings, channel_id, "P4", city="臺北市", district="天龍區", zipcode="999")  # unknown
    add_order(sqlite_settings, channel_id, "P5", state="****", city="****", district="****", zipcode="****")
    orders = {o["number"]: o["shipping_address"] for o in oms.pull_all("orders")}
    assert (orders["P1"]["city"]["name"], orders["P1"]["township"]["name"]) == ("臺北市", "大安區")
    assert (orders["P2"]["city"]["name"], orders["P2"]["township"]["name"]) == ("新北市", "板橋區")
    assert (orders["P3"]["city"]["name"], orders["P3"]["township"]["name"]) == ("花蓮縣", "花蓮市")
    assert orders["P4"]["township"]["name"] == "天龍區" and orders["P4"]["district"]["name"] == "天龍區"
    assert orders["P5"]["country"]["code"] == "TW" and orders["P5"]["city"] is None  # masked: country only
    assert oms.get("townships_count").json() == {"count": 369}
    with session_scope(sqlite_settings) as s:
        added = s.scalars(select(OmsTownship).where(OmsTownship.source == "order")).all()
        assert [t.name for t in added] == ["天龍區"]
        assert s.scalars(select(OmsCity).where(OmsCity.source == "order")).all() == []


def test_oms_real_server_with_printed_urls(sqlite_settings, channel_id, monkeypatch):
    """A real uvicorn server on 127.0.0.1: the OMS uses the printed absolute URLs and the `next` links."""
    import threading
    import time

    import requests
    import uvicorn

    from oms_bridge.web.app import create_app

    for n in range(3):
        add_order(sqlite_settings, channel_id, f"R{n}")
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        port = server.servers[0].sockets[0].getsockname()[1]
        # `next` links are built on the configured public address, never on the request's Host header
        monkeypatch.setenv("OMS_BRIDGE_BASE_URL", f"http://127.0.0.1:{port}")
        reset_settings()
        doc = setup_json("--base-url", f"http://127.0.0.1:{port}")
        oms = FakeOms.from_setup(doc, requests.Session())
        assert oms.url("orders") == f"http://127.0.0.1:{port}/api/v1/applications/oms/orders/"
        assert [o["number"] for o in oms.pull_all("orders", limit=2)] == ["R0", "R1", "R2"]
        assert len(oms.pull_all("districts", limit=200)) == 368
        assert oms.get("orders", limit=2).json()["next"].startswith(f"http://127.0.0.1:{port}/")
        resp = oms.send("package.created", {"id": 1, "order_number": "R0", "state": {"enum_value": "100"}})
        assert resp.status_code == 200 and resp.json()["status"] == "applied"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.mark.parametrize("readers", [4])
def test_oms_concurrent_first_reads_make_one_of_everything(store_settings, readers):
    """Several OMS workers read at once before anything exists: one catalogue, one item set, no error."""
    import threading

    from fastapi.testclient import TestClient
    from sqlalchemy import func

    from oms_bridge.store.models.oms import OmsCountry, OmsOrderItem
    from oms_bridge.web.app import create_app

    channel = add_channel(store_settings)
    for n in range(3):
        add_order(store_settings, channel, f"C{n}")
    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(setup_json(), client)
        results: list[object] = []

        def read() -> None:
            try:
                results.append(len(oms.pull_all("orders")))
            except BaseException as exc:  # noqa: BLE001 - reported below
                results.append(exc)

        threads = [threading.Thread(target=read) for _ in range(readers)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert results == [3] * readers
    with session_scope(store_settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsCountry)) == 1
        assert s.scalar(select(func.count()).select_from(OmsOrderItem)) == 6


def _analyze_counts(settings, tables) -> dict[str, int]:
    from sqlalchemy import text

    from oms_bridge.store.db import get_engine

    with get_engine(settings).connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        return dict(conn.execute(text("SELECT relname, analyze_count FROM pg_stat_user_tables WHERE relname = ANY(:t)"),
                                 {"t": list(tables)}).tuples().all())


def test_first_reads_keep_the_statistics_of_the_tables_they_load(pg_settings, monkeypatch):
    """The OMS's first reads load oms_order_item and oms_order_event a page at a time; once enough rows were
    recorded the tables are analysed (after the response), as GetOrder's loads are: unanalysed, PostgreSQL read
    each page's items by scanning the whole table (issue 18). Re-reading changes nothing and counts nothing."""
    import time

    from fastapi.testclient import TestClient

    from oms_bridge.store import statistics
    from oms_bridge.web.app import create_app

    monkeypatch.setattr(statistics, "MIN_ROWS", 20)  # a few pages' worth instead of a thousand rows
    monkeypatch.setattr(statistics, "_noted", {})
    channel = add_channel(pg_settings)
    for n in range(30):
        add_order(pg_settings, channel, f"S{n:03d}", created=T0 + timedelta(minutes=n))
    before = _analyze_counts(pg_settings, statistics.OMS_TABLES)
    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(setup_json(), client)
        assert len(oms.pull_all("orders")) == 30  # every order read and recorded as offered
        deadline = time.monotonic() + 15  # the analysing backend reports its counts a moment later
        while True:
            after = _analyze_counts(pg_settings, statistics.OMS_TABLES)
            if all(after[t] > before[t] for t in statistics.OMS_TABLES) or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert all(after[t] > before[t] for t in statistics.OMS_TABLES), (before, after)
        assert sum(statistics._noted.values()) < 20  # what was counted past the last refresh
        noted = dict(statistics._noted)
        assert len(oms.pull_all("orders")) == 30  # the steady state records nothing: nothing more is counted
        assert statistics._noted == noted


def test_first_reads_count_nothing_on_sqlite(sqlite_settings, monkeypatch):
    from oms_bridge.store import statistics

    monkeypatch.setattr(statistics, "_noted", {})
    assert statistics.note_load(sqlite_settings, 5000) == [] and statistics._noted == {}
