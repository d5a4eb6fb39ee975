"""Regression (issue 11): unbounded request bodies, against a real ``oms-bridge run`` server (a child
process) with real large and chunked bodies sent over a raw socket.

An unauthenticated 20 MB JSON body to ``order_item_bulk_update/`` raised the server's memory by 464 MB
(the body was parsed before the token was checked); authenticated webhooks took 50 MB bodies (and the
database grew by 300 MB). Now the token is checked before the body is read, bodies are capped per route
class (413 at once for a declared length, and while reading for a chunked body), and nothing is stored.

"Rejected early" is proven by what the client managed to send before the answer came, not by timing:
the server answers long before 20 MB were sent, so it cannot have read (or held) them (the bound of
8 MB leaves room for the kernel's socket buffers on the loopback interface). The memory the
server used is measured in ``benchmarks/bench_hostile_bodies.py``.
"""

from __future__ import annotations

import json

import requests
from security_kit import bridge_server, oms_token, rss_kib, send_big_body
from sqlalchemy import func, select

from oms_bridge.oms.config import API_PREFIX
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Package
from oms_bridge.store.models.oms import OmsWebhookEvent

MB = 1024 * 1024
BULK = f"{API_PREFIX}/order_item_bulk_update/"
WEBHOOK = f"{API_PREFIX}/packages/"


def _nothing_stored(settings) -> None:
    with session_scope(settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsWebhookEvent)) == 0
        assert s.scalar(select(func.count()).select_from(Package)) == 0


def test_big_bodies_are_refused_before_they_are_read(store_settings):
    webhook_token = oms_token(store_settings, "webhooks")
    bulk_token = oms_token(store_settings, "order_item_bulk_update")
    with bridge_server() as (base, pid):
        port = int(base.rsplit(":", 1)[1])
        rss_before = rss_kib(pid)
        # 1. Unauthenticated, 20 MB declared: 413 at once (the declared length is above the cap)
        status, sent, answer = send_big_body(port, BULK, total=20 * MB, headers={}, chunked=False)
        assert status == 413 and sent < 8 * MB, (status, sent, answer[:300])
        # 2. Unauthenticated, 20 MB chunked (no length to judge): the token is checked first: 401
        status, sent, answer = send_big_body(port, BULK, total=20 * MB, headers={}, chunked=True)
        assert status == 401 and sent < 8 * MB, (status, sent, answer[:300])
        # 3. Authenticated but 20 MB chunked: read up to the cap (1 MiB), then 413
        auth = {"Authorization": f"Token {bulk_token}"}
        status, sent, answer = send_big_body(port, BULK, total=20 * MB, headers=auth, chunked=True)
        assert status == 413 and sent < 8 * MB, (status, sent, answer[:300])
        # 4. Authenticated webhooks: 50 MB declared, and 50 MB chunked
        hook = {"Authorization": f"Token {webhook_token}"}
        status, sent, _ = send_big_body(port, WEBHOOK, total=50 * MB, headers=hook, chunked=False)
        assert status == 413 and sent < 8 * MB
        status, sent, _ = send_big_body(port, WEBHOOK, total=50 * MB, headers=hook, chunked=True)
        assert status == 413 and sent < 8 * MB
        # 5. Admin forms have their own, smaller cap
        status, sent, _ = send_big_body(port, "/admin/login", total=20 * MB, headers={}, chunked=True,
                                        content_type="application/x-www-form-urlencoded")
        assert status == 413 and sent < 8 * MB
        # The server is still serving, and a legitimate webhook just under the cap is accepted.
        big_but_fine = {"event": {"type": "package.created", "uuid": "ok-1"},
                        "payload": {"id": "P-1", "state": {"enum_value": "100"}, "note": "x" * (900 * 1024)}}
        ok = requests.post(base + WEBHOOK, json=big_but_fine, headers=hook, timeout=30)
        assert ok.status_code == 200, ok.text[:300]
        rss_after = rss_kib(pid)
    with session_scope(store_settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsWebhookEvent)) == 1  # only the legitimate one
    print(f"server RSS {rss_before} KiB -> {rss_after} KiB after ~170 MB of hostile bodies")


def test_refused_bodies_store_nothing(sqlite_settings):
    hook = {"Authorization": f"Token {oms_token(sqlite_settings, 'webhooks')}"}
    event = {"event": {"type": "package.created", "uuid": "big"},
             "payload": {"id": "P-9", "state": {"enum_value": "100"}, "note": "y" * (2 * MB)}}
    body = json.dumps(event).encode()
    with bridge_server() as (base, _pid):
        port = int(base.rsplit(":", 1)[1])
        for chunked in (False, True):
            status, _, _ = send_big_body(port, WEBHOOK, total=len(body), headers=hook, chunked=chunked)
            assert status == 413
        # a lying Content-Length (smaller than the body) cannot smuggle more: the rest is a new request
        status, _, _ = send_big_body(port, WEBHOOK, total=len(body), headers=hook, chunked=False,
                                     content_length=100)
        assert status in (400, 413)
    _nothing_stored(sqlite_settings)
