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
    doc = setup_json("--hmac")
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
        answers.append(oms.send("package.created", payload, headers={"X-Signature": "sha256=" + WRONG}).text)
        good = oms.send("package.created", payload, event_uuid="audit-1")
        assert good.status_code == 200
        hook = oms.webhooks["package.created"]
        raw = b'{"event": {"type": "package.created", "uuid": "audit-2"}, "payload": {}}'
        signature = hmac.new(hook["secret_key"].encode(), raw, hashlib.sha256).hexdigest()
        secrets.add(signature)  # a valid signature of a known body must not be echoed either
        answers.append(client.post(hook["target_url"], content=raw, headers={
            **(hook.get("additional_headers") or {}), "X-Signature": signature,
            "Content-Type": "application/json"}).text)
    with session_scope(sqlite_settings) as s:
        stored = [str(vars(r)) for model in (OmsWebhookEvent, OmsApiToken, ProcessRun)
                  for r in s.scalars(select(model))]
    assert len(secrets) >= 4
    haystack = "\n".join([caplog.text, *answers, *stored])
    leaked = sorted(secret for secret in secrets if secret and secret in haystack)
    assert not leaked, [line for line in haystack.splitlines() if any(s in line for s in leaked)][:3]
