"""Audit: OMS API tokens, the webhook HMAC secret and signatures never reach a log, an answer or a stored row.

The OMS is played by the production simulator against the real app (FastAPI, in process). It sends wrong tokens,
another endpoint's token, a forged and a valid signature; DEBUG logging is on for the root logger.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "oms"))

from oms_fake_client import FakeOms, package_payload  # noqa: E402
from oms_helpers import add_channel, add_order, setup_json  # noqa: E402

from oms_bridge.store.db import session_scope  # noqa: E402
from oms_bridge.store.models import ProcessRun  # noqa: E402
from oms_bridge.store.models.oms import OmsApiToken, OmsWebhookEvent  # noqa: E402
from oms_bridge.web.app import create_app  # noqa: E402

WRONG = "Wr0ngToken-audit-0123456789"


def test_audit_oms_tokens_and_hmac_secret_never_echoed(sqlite_settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    channel = add_channel(sqlite_settings)
    add_order(sqlite_settings, channel, "AUD1")
    doc = setup_json()
    hooks = doc["webhooks"]
    secrets = {WRONG, *(h["secret_key"] for h in hooks)}
    secrets |= {v for h in hooks for v in (h.get("additional_headers") or {}).values()}
    answers: list[str] = []
    with TestClient(create_app()) as client:
        oms = FakeOms.from_setup(doc, client)
        secrets |= {conf["auth"]["token"] for conf in oms.conf.values()}
        for endpoint in oms.conf:
            for header in (f"Token {WRONG}", f"Bearer {WRONG}", WRONG):
                answers.append(client.get(oms.url(endpoint), headers={"Authorization": header}).text)
        payload = package_payload(9, "AUD1", "100", "Waiting")
        answers.append(oms.send("package.created", payload, headers={"Authorization": f"Token {WRONG}"}).text)
        other = next(iter(oms.conf.values()))["auth"]["token"]
        answers.append(oms.send("package.created", payload, headers={"Authorization": f"Token {other}"}).text)
        answers.append(oms.send("package.created", payload, headers={"X-Whisperer-Signature": "sha256=" + WRONG}).text)
        good = oms.send("package.created", payload, event_uuid="audit-1")
        assert good.status_code == 200
        hook = oms.webhooks["package.created"]
        raw = b'{"event": {"type": "package.created", "uuid": "audit-2"}, "payload": {}}'
        signature = hmac.new(hook["secret_key"].encode(), raw, hashlib.sha256).hexdigest()
        secrets.add(signature)  # a valid signature of a known body must not be echoed either
        answers.append(client.post(hook["target_url"], content=raw, headers={
            **(hook.get("additional_headers") or {}), "X-Whisperer-Signature": f"sha256={signature}",
            "Content-Type": "application/json"}).text)
    with session_scope(sqlite_settings) as s:
        stored = [str(vars(r)) for model in (OmsWebhookEvent, OmsApiToken, ProcessRun)
                  for r in s.scalars(select(model))]
    assert len(secrets) >= 4
    haystack = "\n".join([caplog.text, *answers, *stored])
    leaked = sorted(secret for secret in secrets if secret and secret in haystack)
    assert not leaked, [line for line in haystack.splitlines() if any(s in line for s in leaked)][:3]


def test_audit_oms_push_credentials_never_echoed(sqlite_settings, home, caplog) -> None:
    """The OMS token and signing secret of the order push: not in the CLI output, logs, run rows or stored rows,
    also when the OMS refuses them or cannot be reached."""
    from click.testing import CliRunner

    from oms_bridge.cli.main import cli
    from oms_bridge.oms.push import run_oms_delivery
    from oms_bridge.settings import get_settings, reset_settings
    from oms_bridge.store.models import Delivery
    from oms_bridge.store.models.oms_notify import OmsOrderEvent
    from sandboxes.oms import OmsEventReceiver

    caplog.set_level(logging.DEBUG)
    token, secret = "Push-Token-audit-0123456789", "Push-Secret-audit-0123456789"
    outputs = [CliRunner().invoke(cli, ["oms", "push-auth", "--token-env", "T", "--secret-env", "S"],
                                  env={"T": token, "S": secret}).output]
    channel = add_channel(sqlite_settings)
    add_order(sqlite_settings, channel, "AUDP1")
    with OmsEventReceiver(token="another-token", secret=secret) as receiver:
        url = receiver.server_url
        (home / "config.toml").write_text(f'[oms_bridge.oms]\norder_notify = "push"\npush_url = "{url}"\n',
                                          encoding="utf-8")
        reset_settings()
        run_oms_delivery(settings=get_settings())  # refused: 401
        receiver.stop()
        CliRunner().invoke(cli, ["oms", "retry-orders"])
        run_oms_delivery(settings=get_settings())  # unreachable
    outputs.append(CliRunner().invoke(cli, ["oms", "deliveries", "--json"]).output)
    outputs.append(CliRunner().invoke(cli, ["oms", "settings", "--rotate", "--json"]).output)
    with session_scope(sqlite_settings) as s:
        stored = [str(vars(r)) for model in (ProcessRun, Delivery, OmsOrderEvent, OmsApiToken)
                  for r in s.scalars(select(model))]
    assert any("oms_push_auth" in row for row in stored) and any("cannot connect" in row for row in stored)
    haystack = "\n".join([caplog.text, *outputs, *stored])
    assert token not in haystack and secret not in haystack
