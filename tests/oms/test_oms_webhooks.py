"""Package webhooks: auth, idempotency, ordering, unknown states, malformed bodies, push-back arming."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms, package_payload
from oms_helpers import add_channel, add_order, setup_json
from sqlalchemy import func, select

from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, Package
from oms_bridge.store.models.oms import OmsPackageState, OmsWebhookEvent
from oms_bridge.web.app import create_app


@pytest.fixture
def env(store_settings: Settings) -> Iterator[tuple[Settings, FakeOms, int]]:
    """Both stores: a channel with one order, and an OMS that has pulled it (so it knows the item ids)."""
    channel = add_channel(store_settings)
    add_order(store_settings, channel, "260301A", lines=(("TEA-OOLONG-150", "烏龍茶", "2", "480", "0"),))
    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(setup_json(), client)
        yield store_settings, oms, oms.get("orders").json()["results"][0]


def _states(settings: Settings, package: str) -> list[tuple[str, bool]]:
    with session_scope(settings) as s:
        pkg = s.scalars(select(Package).where(Package.external_id == package)).one()
        return [(r.state_code, r.is_applied) for r in s.scalars(
            select(OmsPackageState).where(OmsPackageState.oms_package_id == pkg.id).order_by(OmsPackageState.id))]


def _package(settings: Settings, package: str) -> Package:
    with session_scope(settings) as s:
        return s.scalars(select(Package).where(Package.external_id == package)).one()


def _logistics(settings: Settings, order_id: int) -> Delivery | None:
    with session_scope(settings) as s:
        return s.scalars(select(Delivery).where(Delivery.oms_order_id == order_id,
                                                Delivery.destination == "logistics")).one_or_none()


def test_oms_package_lifecycle_arms_logistics_once(env):
    settings, oms, order = env
    items = tuple(i["id"] for i in order["orderitem_set"])
    created = oms.send("package.created", package_payload(73, "260301A", "100", "Waiting",
                                                          at="2026-03-01T05:00:00Z", item_ids=items))
    assert created.status_code == 200 and created.json()["status"] == "applied"
    assert created.json()["order"] == order["id"]
    packed = oms.send("package.status.packed", package_payload(73, "260301A", "500", "Packed",
                                                               at="2026-03-01T06:00:00Z"))
    assert packed.json()["status"] == "applied" and _logistics(settings, order["id"]) is None
    shipped_uuid = "shipped-evt-1"
    shipped = oms.send("package.status.shipped",
                       package_payload(73, "260301A", "600", "Shipped", at="2026-03-01T07:00:00Z",
                                       tracking="TW123456789", carrier="BLACKCAT"), event_uuid=shipped_uuid)
    assert shipped.json()["logistics_armed"] is True
    row = _logistics(settings, order["id"])
    assert (row.state, row.action) == ("pending", "ship")
    pkg = _package(settings, "73")
    assert (pkg.state_code, pkg.tracking_number, pkg.carrier, pkg.oms_order_id) == (
        "600", "TW123456789", "BLACKCAT", order["id"])

    # The OMS retries the same event: nothing is applied twice, the delivery is not re-armed.
    with session_scope(settings) as s:
        s.get(Delivery, row.id).state = "sent"
    again = oms.send("package.status.shipped",
                     package_payload(73, "260301A", "600", "Shipped", at="2026-03-01T07:00:00Z",
                                     tracking="TW123456789"), event_uuid=shipped_uuid)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert _logistics(settings, order["id"]).state == "sent"
    assert _states(settings, "73") == [("100", True), ("500", True), ("600", True)]

    # A late, older event is kept in the history but does not move the package back.
    late = oms.send("package.status.packed", package_payload(73, "260301A", "500", "Packed",
                                                             at="2026-03-01T06:30:00Z"))
    assert late.json()["status"] == "stale"
    assert _package(settings, "73").state_code == "600"
    assert _states(settings, "73")[-1] == ("500", False)
    delivered = oms.send("package.status.delivered", package_payload(73, "260301A", "700", "Delivered",
                                                                     at="2026-03-01T09:00:00Z"))
    assert delivered.json()["status"] == "applied" and _package(settings, "73").state_code == "700"
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsWebhookEvent)) == 5


def test_oms_out_of_order_created_after_shipped(env):
    settings, oms, order = env
    oms.send("package.status.shipped", package_payload(80, "260301A", "600", "Shipped", at="2026-03-01T07:00:00Z",
                                                       tracking="T-80"))
    late_created = oms.send("package.created", package_payload(80, "260301A", "100", "Waiting",
                                                               at="2026-03-01T05:00:00Z"))
    assert late_created.json()["status"] == "stale"
    pkg = _package(settings, "80")
    assert (pkg.state_code, pkg.tracking_number) == ("600", "T-80")


def test_oms_unknown_state_is_stored_and_reported(env, caplog):
    settings, oms, order = env
    resp = oms.send("package.status.ready_for_customer_pickup",
                    package_payload(90, "260301A", "4242", "Mystery state", at="2026-03-01T08:00:00Z"))
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "unknown_state" and "'4242'" in body["message"]
    assert "ready_for_customer_pickup" in body["message"]
    assert _package(settings, "90").state_code == "4242"
    assert any("4242" in r.getMessage() for r in caplog.records)
    with session_scope(settings) as s:
        event = s.scalars(select(OmsWebhookEvent)).one()
        assert event.outcome == "unknown_state" and "4242" in event.message
        state = s.scalars(select(OmsPackageState)).one()
        assert (state.is_known, state.state_slug) == (False, "ready_for_customer_pickup")


def test_oms_unknown_code_on_shipped_event_still_ships(env):
    settings, oms, order = env
    resp = oms.send("package.status.shipped", package_payload(91, "260301A", "777", "Kargoya verildi",
                                                              tracking="T-91"))
    assert resp.json()["status"] == "unknown_state" and resp.json()["logistics_armed"] is True
    assert _logistics(settings, order["id"]).action == "ship"


def test_oms_unlinked_package_is_kept(env):
    settings, oms, _order = env
    resp = oms.send("package.created", package_payload(95, "NO-SUCH-ORDER", "100", "Waiting"))
    assert resp.status_code == 200 and resp.json()["status"] == "unlinked"
    assert "no order with number 'NO-SUCH-ORDER'" in resp.json()["message"]
    assert _package(settings, "95").oms_order_id is None


def _valid() -> dict:
    return {"event": {"type": "package.status.packed", "uuid": "u-1"},
            "payload": package_payload(1, "260301A", "500", "Packed")}


def _drop(path: str):
    def change(body: dict) -> dict:
        node = body
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        del node[last]
        return body
    return change


def _set(path: str, value):
    def change(body: dict) -> dict:
        node = body
        *parents, last = path.split(".")
        for p in parents:
            node = node[p]
        node[last] = value
        return body
    return change


@pytest.mark.parametrize("change,field", [
    (_drop("event"), "event"),
    (_drop("event.uuid"), "event.uuid"),
    (_set("event.uuid", ""), "event.uuid"),
    (_set("event.type", 5.5), "event.type"),
    (_set("event.type", "order.created"), "event.type"),
    (_drop("payload"), "payload"),
    (_set("payload", [1, 2]), "payload"),
    (_drop("payload.id"), "payload.id"),
    (_set("payload.id", {"x": 1}), "payload.id"),
    (_drop("payload.state"), "payload.state"),
    (_drop("payload.state.enum_value"), "payload.state.enum_value"),
    (_set("payload.state.modified_date", "last tuesday"), "payload.state.modified_date"),
    (_set("payload.packageitem_set", "nope"), "payload.packageitem_set"),
    (_set("payload.shipment", "nope"), "payload.shipment"),
])
def test_oms_malformed_webhook_is_400_naming_the_field(oms, sqlite_settings, change, field):
    settings = sqlite_settings
    body = change(_valid())
    resp = oms.send("package.status.packed", {}, raw=json.dumps(body).encode())
    assert resp.status_code == 400, resp.text
    assert resp.json()["field"] == field and resp.json()["detail"].startswith(field)
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsWebhookEvent)) == 0


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"\xff\xfe", b"null", b'"text"'])
def test_oms_non_json_webhook_is_400(oms, raw):
    resp = oms.send("package.created", {}, raw=raw)
    assert resp.status_code == 400 and resp.json()["field"] == "body"


def test_oms_webhook_auth(env):
    _settings, oms, _order = env
    payload = package_payload(5, "260301A", "100", "Waiting")
    assert oms.send("package.created", payload, headers={"Authorization": "Token wrong"}).status_code == 401
    orders_token = oms.conf["orders"]["auth"]["token"]
    assert oms.send("package.created", payload,
                    headers={"Authorization": f"Token {orders_token}"}).status_code == 401
    hook = oms.webhooks["package.created"]
    resp = oms.http.post(hook["target_url"], json={"event": {}, "payload": {}})
    assert resp.status_code == 401 and "missing token" in resp.json()["detail"]


def test_oms_concurrent_duplicate_webhooks_apply_once(env):
    settings, oms, order = env
    payload = package_payload(60, "260301A", "600", "Shipped", tracking="T-60")
    results: list[int] = []

    def send() -> None:
        results.append(oms.send("package.status.shipped", payload, event_uuid="same-uuid").status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [200] * 4
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsWebhookEvent)) == 1
        assert s.scalar(select(func.count()).select_from(OmsPackageState)) == 1


def test_oms_nul_characters_are_400_not_database_errors(env):
    """PostgreSQL cannot store NUL in text: every entry point refuses it before the database does."""
    settings, oms, order = env
    bad = package_payload(61, "260301A", "100", "Waiting")
    bad["order_number"] = "26\x0001A"
    resp = oms.send("package.created", bad)
    assert resp.status_code == 400 and resp.json()["field"] == "payload.order_number"
    assert oms.send("package.created", package_payload(62, "x", "100", "W"), event_uuid="u\x00u").status_code == 400
    assert oms.get("orders", number="A\x00").status_code == 400
    item = order["orderitem_set"][0]["id"]
    resp = oms.post("order_item_bulk_update", [{"id": item, "tracking_number": "T\x00"}])
    assert resp.status_code == 400 and "items[0].tracking_number" in resp.text


def test_oms_event_type_wins_over_a_conflicting_code(env):
    """The OMS's shipped code is not public: if it is 700 (our table says delivered), the event type decides."""
    settings, oms, order = env
    resp = oms.send("package.status.shipped", package_payload(93, "260301A", "700", "Shipped", tracking="T-93"))
    body = resp.json()
    assert body["status"] == "applied" and body["logistics_armed"] is True
    assert "configured as 'delivered'" in body["message"]
    # package.created carries no slug: there the code table decides (500 = packed: nothing to push).
    created = oms.send("package.created", package_payload(94, "260301A", "500", "Packed", tracking="T-94"))
    assert created.json()["logistics_armed"] is False
