"""Order push (``oms.order_notify = "push"``): whisperer-style events to a real receiver on 127.0.0.1 that
verifies the signature, drops answers, answers 5xx and counts duplicates; on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms, package_payload
from oms_helpers import add_channel, add_order, bump_order, setup_json
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.oms.push import run_oms_delivery
from oms_bridge.settings import Settings, get_settings, reset_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, utcnow
from oms_bridge.store.models.oms_notify import OmsOrderEvent
from oms_bridge.web.app import create_app
from sandboxes.oms import OmsEventReceiver

TOKEN = "oms-api-token-0123456789abcdef"
SECRET = "push-signing-secret-0123456789"
LATER = timedelta(hours=3)


def cli_ok(*args: str, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(cli, list(args), env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def configure_push(home: Path, receiver: OmsEventReceiver | None, **extra: str) -> Settings:
    lines = ["[oms_bridge.oms]", 'order_notify = "push"']
    if receiver is not None:
        lines.append(f'push_url = "{receiver.server_url}"')
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    (home / "config.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    reset_settings()
    return get_settings()


def set_credentials(token: str = TOKEN, secret: str | None = SECRET) -> None:
    args = ["oms", "push-auth", "--token-env", "PUSH_TOKEN"]
    env = {"PUSH_TOKEN": token}
    if secret:
        args += ["--secret-env", "PUSH_SECRET"]
        env["PUSH_SECRET"] = secret
    cli_ok(*args, env=env)


def rows(settings: Settings) -> dict[int, Delivery]:
    with session_scope(settings) as s:
        return {r.oms_order_id: r for r in s.scalars(select(Delivery).where(Delivery.destination == "oms"))}


def events(settings: Settings, order_id: int) -> list[OmsOrderEvent]:
    with session_scope(settings) as s:
        return list(s.scalars(select(OmsOrderEvent).where(OmsOrderEvent.oms_order_id == order_id)
                              .order_by(OmsOrderEvent.order_version)))


@pytest.fixture
def receiver():
    with OmsEventReceiver(token=TOKEN, secret=SECRET) as r:
        yield r


@pytest.fixture
def push(store_settings, home, receiver):
    """Push mode on both stores, credentials set, one channel."""
    settings = configure_push(home, receiver)
    set_credentials()
    return settings, add_channel(settings), receiver


def test_oms_push_sends_signed_events_and_counts_only_2xx(push):
    settings, channel, receiver = push
    o1 = add_order(settings, channel, "P1", lines=(("TEA-OOLONG-150", "阿里山烏龍茶", "2", "480", "10"),))
    o2 = add_order(settings, channel, "P2")
    stats = run_oms_delivery(settings=settings)
    assert (stats.sent, stats.failed, stats.held, stats.outcome) == (2, 0, 0, "success")
    assert receiver.refused == [] and receiver.duplicates == {}
    assert receiver.orders() == {"P1": ["order.created"], "P2": ["order.created"]}
    first = events(settings, o1)[0]
    sent = receiver.events[first.event_uuid]
    assert sent["body"] == first.body.encode("ascii")  # the stored body is the one sent, byte for byte
    assert "\\u963f" in first.body  # whisperer's json.dumps: ASCII escapes
    sent_uuid = json.loads(sent["body"])["event"]["uuid"]  # whisperer's event uuid: uuid4().hex (contract 2.4)
    assert sent_uuid == first.event_uuid and uuid.UUID(hex=sent_uuid).hex == sent_uuid
    assert uuid.UUID(hex=sent_uuid).version == 4  # not the store's time-ordered row uuids (version 7)
    payload = sent["payload"]
    assert payload["number"] == "P1" and len(payload["orderitem_set"]) == 2
    assert payload["orderitem_set"][0]["product"] == {"pk": None, "id": None, "sku": "TEA-OOLONG-150",
                                                      "base_code": "TEA-OOLONG-150", "name": "阿里山烏龍茶",
                                                      "barcode": None}
    state = rows(settings)
    assert {state[o1].state, state[o2].state} == {"sent"}
    assert state[o1].external_ref == f"order.created {first.event_uuid}: HTTP 201"
    assert (first.attempts, first.last_status, first.acknowledged_by) == (1, 201, "HTTP 201")

    bump_order(settings, o1, status="cancelled")
    assert run_oms_delivery(settings=settings).sent == 1
    v1, v2 = events(settings, o1)
    assert (v1.event_type, v2.event_type) == ("order.created", "order.updated") and v1.event_uuid != v2.event_uuid
    assert receiver.orders()["P1"] == ["order.created", "order.updated"]
    assert receiver.events[v2.event_uuid]["payload"]["status"] == "100"
    before = receiver.requests
    assert run_oms_delivery(settings=settings).fetched == 0 and receiver.requests == before


def test_oms_push_lost_answer_resends_the_same_event(push):
    settings, channel, receiver = push
    oid = add_order(settings, channel, "L1")
    receiver.faults.inject("lost_answer")
    first = run_oms_delivery(settings=settings)
    assert (first.sent, first.failed) == (0, 1)
    row = rows(settings)[oid]
    assert row.state == "retry" and "answer was lost" in row.last_error and "deduplicates by uuid" in row.last_error
    (event,) = events(settings, oid)
    assert event.attempts == 1 and event.offered_at is not None and event.acknowledged_at is None
    assert list(receiver.events) == [event.event_uuid]  # the OMS applied it; we could not know

    second = run_oms_delivery(settings=settings, now=utcnow() + LATER)
    assert second.sent == 1
    assert receiver.duplicates == {event.event_uuid: 1} and len(receiver.events) == 1
    (again,) = events(settings, oid)
    assert again.attempts == 2 and again.body == event.body and again.event_uuid == event.event_uuid
    assert rows(settings)[oid].state == "sent"


def test_oms_push_5xx_and_429_retry_then_deliver(push):
    settings, channel, receiver = push
    oid = add_order(settings, channel, "E1")
    receiver.faults.inject("503")
    assert run_oms_delivery(settings=settings).failed == 1
    row = rows(settings)[oid]
    assert row.state == "retry" and row.attempts == 1 and receiver.events == {}
    assert (row.cause_code, row.cause_subject) == ("delivery_failed", "the OMS answered HTTP 503")
    assert row.last_request.startswith("POST ") and row.last_answer.startswith("HTTP 503")
    assert run_oms_delivery(settings=settings, now=utcnow() + LATER).sent == 1
    assert len(receiver.events) == 1 and receiver.duplicates == {}

    o2 = add_order(settings, channel, "E2")
    receiver.faults.inject("429", count=2, retry_after=7)
    start = utcnow()
    stats = run_oms_delivery(settings=settings)
    assert stats.failed == 1
    row = rows(settings)[o2]
    wait = (row.next_attempt_at - start).total_seconds()
    assert row.state == "retry" and 6 <= wait <= 60, wait  # the OMS's Retry-After, not the backoff
    assert run_oms_delivery(settings=settings, now=utcnow() + LATER).sent == 1


def test_oms_push_refusals_are_held_with_the_fix(store_settings, home, receiver):
    settings = configure_push(home, None)
    channel = add_channel(settings)
    oid = add_order(settings, channel, "H1")
    # no push_url: held with the setting to fill in; the first run that finds it set re-arms the order
    assert run_oms_delivery(settings=settings).held == 1
    row = rows(settings)[oid]
    assert (row.state, row.hold_code) == ("held", "oms_push_config") and "push_url" in row.last_error
    assert (row.cause_code, row.cause_subject) == ("oms_push_config", None)
    settings = configure_push(home, receiver)
    set_credentials(token="not-the-token")
    stats = run_oms_delivery(settings=settings)
    assert stats.details["rearmed_config"] == 1 and stats.held == 1
    row = rows(settings)[oid]
    assert (row.state, row.hold_code) == ("held", "oms_push_auth") and "push-auth" in row.last_error
    assert row.cause_code == "oms_push_auth" and row.last_answer.startswith("HTTP 401")
    out = cli_ok("oms", "push-auth", "--token-env", "PUSH_TOKEN", env={"PUSH_TOKEN": TOKEN})
    assert "1 held order(s) re-armed" in out and TOKEN not in out
    assert run_oms_delivery(settings=settings).sent == 1

    # a path the OMS does not serve: held with the path to check; fixed + retry-orders → delivered
    settings = configure_push(home, receiver, push_path_created="/api/v1/oms/orders/create/")
    o2 = add_order(settings, channel, "H2")
    assert run_oms_delivery(settings=settings).held == 1
    row = rows(settings)[o2]
    assert row.hold_code == "oms_push_rejected:404" and "/api/v1/oms/orders/create/" in row.last_error
    assert "no route" in row.last_error  # the OMS's detail, never the order's data
    assert (row.cause_code, row.cause_subject) == ("oms_push_rejected", "404")
    groups = json.loads(cli_ok("deliveries", "problems", "--destination", "oms", "--json"))["groups"]
    assert [(g["state"], g["cause"], g["subject"], g["orders"], g["label"]) for g in groups] == [
        ("held", "oms_push_rejected", "404", 1, "the OMS rejected the order (HTTP 404)")]
    held = json.loads(cli_ok("oms", "deliveries", "--held", "--json"))
    assert [h["order"] for h in held] == ["H2"]
    settings = configure_push(home, receiver)
    assert "1 order(s) re-armed" in cli_ok("oms", "retry-orders", "--order", str(o2))
    assert run_oms_delivery(settings=settings).sent == 1
    assert receiver.orders() == {"H1": ["order.created"], "H2": ["order.created"]}


def test_oms_push_gives_up_after_max_attempts(push, monkeypatch):
    settings, channel, receiver = push
    monkeypatch.setenv("OMS_BRIDGE_DELIVERY_MAX_ATTEMPTS", "2")
    reset_settings()
    settings = get_settings()
    oid = add_order(settings, channel, "D1")
    receiver.faults.inject("500", count=10)
    run_oms_delivery(settings=settings)
    stats = run_oms_delivery(settings=settings, now=utcnow() + LATER)
    row = rows(settings)[oid]
    assert stats.outcome == "failed" and row.state == "dead" and row.last_error.startswith("gave up after 2 attempts")
    assert (row.cause_code, row.cause_subject) == ("gave_up", "the OMS answered HTTP 500")
    assert receiver.events == {}
    assert "1 order(s) re-armed" in cli_ok("oms", "retry-orders")
    receiver.faults.clear()
    assert run_oms_delivery(settings=settings).sent == 1


def test_oms_push_package_webhook_acknowledges_a_lost_answer(push):
    """The OMS acting on the order proves it has it: no resend needed after the lost answer."""
    settings, channel, receiver = push
    oid = add_order(settings, channel, "K1")
    receiver.faults.inject("lost_answer")
    run_oms_delivery(settings=settings)
    assert rows(settings)[oid].state == "retry"
    payload = next(iter(receiver.events.values()))["payload"]
    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(setup_json(), client)
        items = tuple(i["id"] for i in payload["orderitem_set"])
        resp = oms.send("package.created", package_payload(11, "K1", "100", "Waiting", item_ids=items))
        assert resp.status_code == 200
    row = rows(settings)[oid]
    assert row.state == "sent" and row.external_ref == "acknowledged v1: package.created 11"
    before = receiver.requests
    assert run_oms_delivery(settings=settings, now=utcnow() + LATER).fetched == 0
    assert receiver.requests == before and receiver.duplicates == {}


def test_oms_push_concurrent_workers_send_each_event_once(push):
    settings, channel, receiver = push
    ids = [add_order(settings, channel, f"C{n}") for n in range(12)]
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            run_oms_delivery(settings=settings)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert len(receiver.events) == 12 and receiver.duplicates == {}
    assert {rows(settings)[i].state for i in ids} == {"sent"}


def test_oms_push_product_reference_hold(push, home):
    settings, channel, receiver = push
    settings = configure_push(home, receiver, product_reference="hold")
    oid = add_order(settings, channel, "R1", lines=(("MUG-CER-350", "馬克杯", "1", "299", "0"),
                                                    ("TEA-OOLONG-150", "烏龍茶", "1", "480", "0")))
    stats = run_oms_delivery(settings=settings)
    assert stats.held == 1 and receiver.events == {}
    row = rows(settings)[oid]
    assert row.hold_code == "omnitron_product:MUG-CER-350"
    assert "oms-bridge oms products map MUG-CER-350" in row.last_error and "TEA-OOLONG-150" in row.last_error
    assert "queued again" not in cli_ok("oms", "products", "map", "TEA-OOLONG-150", "8362")
    assert "1 held order(s) queued again" in cli_ok("oms", "products", "map", "MUG-CER-350", "365")
    assert run_oms_delivery(settings=settings).sent == 1
    payload = next(iter(receiver.events.values()))["payload"]
    assert [i["product"]["pk"] for i in payload["orderitem_set"]] == [365, 8362]
