"""Package webhooks sent as Akinon's dj-whisperer sends them, over real HTTP, on SQLite and PostgreSQL.

The subscription is exactly what ``oms-bridge oms settings`` prints; the sender (whisperer_like.py)
serializes, signs, authenticates and retries as whisperer/client.py and whisperer/tasks.py do.
"""

from __future__ import annotations

import json

import pytest
import requests
from oms_helpers import add_channel, add_order, setup_json
from sqlalchemy import func, select
from whisperer_like import WhispererLikeSender, live_bridge

from oms_bridge.settings import reset_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, Package
from oms_bridge.store.models.oms import OmsWebhookEvent
from sandboxes.oms import OmsSimulator, package_payload


def _hooks(doc: dict) -> dict[str, dict]:
    return {h["event_type"]: h for h in doc["webhooks"]}


def _whisperer_accepts(hook: dict) -> list[str]:
    """What whisperer's WebhookSerializer would refuse in a subscription (model max lengths, the
    retry countdown validators of whisperer/validators.py). Empty: it would be saved."""
    problems = []
    for name, limit in (("target_url", 255), ("event_type", 124), ("secret_key", 124)):
        if hook.get(name) is not None and len(hook[name]) > limit:
            problems.append(f"{name} longer than {limit}")
    if not isinstance(hook.get("additional_headers"), dict) or not isinstance(hook.get("config"), dict):
        problems.append("additional_headers and config must be JSON objects")
    countdown = hook.get("retry_countdown_config") or {}
    required = {"fixed": ("seconds",), "linear": ("base",), "exponential": ("base",),
                "random": ("min_value", "max_value")}
    if countdown.get("choice") not in required:
        problems.append(f"retry_countdown_config.choice {countdown.get('choice')!r}")
    else:
        kwargs = countdown.get("kwargs") or {}
        for key in required[countdown["choice"]]:
            if not isinstance(kwargs.get(key), int) or kwargs[key] < 0:
                problems.append(f"retry_countdown_config.kwargs.{key} is required (integer >= 0)")
    return problems


def test_oms_settings_print_whisperer_subscriptions(sqlite_settings):
    """Issue 14: the printed subscription is one a whisperer admin pastes as is. The old one had
    ``{"choice": "exponential", "kwargs": {}}``, which whisperer refuses (``base`` is required)."""
    doc = setup_json()
    hooks = doc["webhooks"]
    assert len(hooks) == 9
    for hook in hooks:
        assert _whisperer_accepts(hook) == [], hook
        assert set(hook) >= {"event_type", "target_url", "secret_key", "additional_headers", "config",
                             "retry_countdown_config", "is_active"}
        assert hook["additional_headers"]["Authorization"].startswith("Token ") and hook["config"] == {}
        assert hook["secret_key"] and hook["secret_key"] == hooks[0]["secret_key"]
    assert doc["signature"] == {"header": "X-Whisperer-Signature",
                                "format": "sha256=<hex HMAC-SHA256(secret_key, raw body)>",
                                "secret_key": hooks[0]["secret_key"]}
    basic = setup_json("--rotate", "--webhook-auth", "basic")["webhooks"][0]
    assert basic["additional_headers"] == {}
    assert basic["config"]["auth"]["auth_type"] == "basic" and basic["config"]["auth"]["username"] == "oms-bridge"
    assert basic["secret_key"] == hooks[0]["secret_key"]  # a re-run keeps the secret the OMS holds


@pytest.fixture
def bridge(store_settings):
    """A live bridge with one order (non-ASCII data), on SQLite and on PostgreSQL."""
    channel = add_channel(store_settings)
    order_id = add_order(store_settings, channel, "W1", lines=(("TEA-OOLONG-150", "阿里山烏龍茶", "1", "480", "0"),))
    with live_bridge() as url:
        yield store_settings, url, order_id


def test_oms_whisperer_signed_webhooks_are_applied_and_forgeries_refused(bridge):
    settings, url, order_id = bridge
    doc = setup_json("--base-url", url)
    sender = WhispererLikeSender(_hooks(doc)["package.created"])
    payload = package_payload(73, "W1", "100", "Waiting", at="2026-03-01T05:00:00Z")
    payload["city"] = "臺北市"  # whisperer sends it as \u81fa\u5317\u5e02: the signature covers those bytes
    body = sender.serialize({"event": {"type": "package.created", "uuid": "x"}, "payload": payload})
    assert "\\u81fa" in body and ", " in body

    event, response = sender.deliver(payload)
    assert response.status_code == 200 and response.json()["status"] == "applied", response.text
    assert event.delivered

    # The same JSON in other bytes (what a receiver that re-serializes would check) with the original
    # signature: refused, because the bridge verifies the raw bytes it received.
    forged_body = json.dumps(event.request_payload, ensure_ascii=False, separators=(",", ":"))
    original = sender.serialize(event.request_payload)
    headers = sender.headers_for(original)
    assert json.loads(forged_body) == json.loads(original)
    resp = requests.post(sender.hook["target_url"], data=forged_body.encode("utf-8"), headers=headers, timeout=10)
    assert resp.status_code == 401 and resp.json()["field"] == "X-Whisperer-Signature"
    unsigned = {k: v for k, v in headers.items() if k != "X-Whisperer-Signature"}
    assert requests.post(sender.hook["target_url"], data=original, headers=unsigned, timeout=10).status_code == 401
    wrong_key = WhispererLikeSender({**sender.hook, "secret_key": "not-the-secret"})
    assert wrong_key.deliver(payload)[1].status_code == 401
    no_token = WhispererLikeSender({**sender.hook, "additional_headers": {}})
    refused = no_token.deliver(payload)[1]
    assert refused.status_code == 401 and "missing token" in refused.json()["detail"]
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsWebhookEvent)) == 1


def test_oms_whisperer_resend_is_a_2xx_duplicate(bridge):
    """whisperer resends the stored payload with the same uuid after any non-2xx (a lost answer too):
    the bridge answers 2xx and changes nothing, or whisperer would resend until it gives up."""
    settings, url, order_id = bridge
    doc = setup_json("--base-url", url)
    hooks = _hooks(doc)
    assert [o["number"] for o in OmsSimulator(doc).pull_all("orders")] == ["W1"]
    created = WhispererLikeSender(hooks["package.created"])
    shipped = WhispererLikeSender(hooks["package.status.shipped"])
    created.deliver(package_payload(80, "W1", "100", "Waiting", at="2026-03-01T05:00:00Z"))
    event, first = shipped.deliver(package_payload(80, "W1", "600", "Shipped", at="2026-03-01T07:00:00Z",
                                                   tracking="TW-80", carrier="BLACKCAT"))
    assert first.status_code == 200 and first.json()["logistics_armed"] is True
    again = shipped.resend(event)
    assert again.status_code == 200 and again.json()["status"] == "duplicate"
    assert event.statuses == [200, 200] and event.delivered
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsWebhookEvent)) == 2
        pkg = s.scalars(select(Package).where(Package.external_id == "80")).one()
        assert (pkg.state_code, pkg.tracking_number) == ("600", "TW-80")
        row = s.scalars(select(Delivery).where(Delivery.oms_order_id == order_id,
                                               Delivery.destination == "oms")).one()
        # read, then acted on: the order counts as delivered
        assert row.state == "sent" and "package.created 80" in row.external_ref


def test_oms_whisperer_basic_auth_subscription(bridge):
    """A subscription with whisperer's config.auth basic (user oms.webhook_username, password the token)."""
    _settings, url, _order = bridge
    hook = _hooks(setup_json("--base-url", url, "--webhook-auth", "basic"))["package.created"]
    ok = WhispererLikeSender(hook).deliver(package_payload(90, "W1", "100", "Waiting"))[1]
    assert ok.status_code == 200, ok.text
    auth = hook["config"]["auth"]
    wrong_user = {**hook, "config": {"auth": {**auth, "username": "someone"}}}
    wrong_password = {**hook, "config": {"auth": {**auth, "password": "nope"}}}
    for bad in (wrong_user, wrong_password):
        resp = WhispererLikeSender(bad).deliver(package_payload(91, "W1", "100", "Waiting"))[1]
        assert resp.status_code == 401 and resp.headers["WWW-Authenticate"].startswith("Token, Basic")


def test_oms_signature_header_default_and_secret_lifecycle(sqlite_settings, home):
    """Issue 14: the bridge read the signature from ``X-Signature`` (a guess) while whisperer sends
    ``X-Whisperer-Signature``: a whisperer-signed webhook was refused. The old header stays available
    as the ``hmac_header`` setting (for a proxy that renames it), not as the default."""
    channel = add_channel(sqlite_settings)
    add_order(sqlite_settings, channel, "S1")
    with live_bridge() as url:
        doc = setup_json("--base-url", url)
        hook = _hooks(doc)["package.created"]
        assert WhispererLikeSender(hook).deliver(package_payload(1, "S1", "100", "Waiting"))[1].status_code == 200

        # --new-secret: the OMS's old secret stops working, the printed one works
        fresh = _hooks(setup_json("--base-url", url, "--rotate", "--new-secret"))["package.created"]
        assert fresh["secret_key"] != hook["secret_key"]
        stale = {**fresh, "secret_key": hook["secret_key"]}
        assert WhispererLikeSender(stale).deliver(package_payload(2, "S1", "100", "Waiting"))[1].status_code == 401
        assert WhispererLikeSender(fresh).deliver(package_payload(3, "S1", "100", "Waiting"))[1].status_code == 200

        # --no-signature: unsigned webhooks are accepted (the token still guards them)
        off = _hooks(setup_json("--base-url", url, "--rotate", "--no-signature"))["package.created"]
        assert off["secret_key"] is None
        assert WhispererLikeSender(off).deliver(package_payload(4, "S1", "100", "Waiting"))[1].status_code == 200

        # hmac_header = "X-Signature": a proxy renaming the header is still served
        (home / "config.toml").write_text('[oms_bridge.oms]\nhmac_header = "X-Signature"\n', encoding="utf-8")
        reset_settings()
        renamed = _hooks(setup_json("--base-url", url, "--rotate"))["package.created"]
        sender = WhispererLikeSender(renamed)
        assert sender.deliver(package_payload(5, "S1", "100", "Waiting"))[1].status_code == 401  # header not read
        body = sender.serialize({"event": {"type": "package.created", "uuid": "u-6"},
                                 "payload": package_payload(6, "S1", "100", "Waiting")})
        headers = sender.headers_for(body)
        headers["X-Signature"] = headers.pop("X-Whisperer-Signature")
        resp = requests.post(renamed["target_url"], data=body, headers=headers, timeout=10)
        assert resp.status_code == 200, resp.text


def test_oms_whisperer_signature_is_read_from_its_own_header(sqlite_settings):
    """Issue 14 regression: with signatures on (`--hmac`, the old flag, kept as an alias of --new-secret),
    a webhook signed exactly as whisperer signs it (X-Whisperer-Signature: sha256=…) was refused,
    because the bridge read `X-Signature`."""
    channel = add_channel(sqlite_settings)
    add_order(sqlite_settings, channel, "G1")
    with live_bridge() as url:
        hook = _hooks(setup_json("--base-url", url, "--hmac"))["package.created"]
        assert hook["secret_key"]
        response = WhispererLikeSender(hook).deliver(package_payload(1, "G1", "100", "Waiting"))[1]
        assert response.status_code == 200, response.text
