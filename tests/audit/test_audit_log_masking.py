"""Audit: request lines logged by the libraries (uvicorn's access log) and by our own code stay masked.

The OAuth callback arrives as ``GET /oauth/callback/<platform>?code=...``: uvicorn's access log would write the
authorization code. A real uvicorn serves the real app on 127.0.0.1 and the log is read back.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import requests
import uvicorn
from uvicorn.logging import AccessFormatter

from oms_bridge.remote.http import MaskingFilter
from oms_bridge.web.app import create_app

CODE = "AuthCodeAudit0123456789"


def test_audit_uvicorn_access_log_masks_the_oauth_code(home, caplog) -> None:
    caplog.set_level(logging.INFO)
    # An earlier uvicorn.Config(log_level="warning") in the same process leaves uvicorn.access at WARNING.
    caplog.set_level(logging.INFO, logger="uvicorn.access")
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), log_config=None, lifespan="off", access_log=True))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started
        requests.get(f"http://127.0.0.1:{port}/oauth/callback/shopee", params={"code": CODE, "shop_id": "1",
                                                                              "state": "st"}, timeout=5)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
    access = [r for r in caplog.records if r.name == "uvicorn.access"]
    assert access and any("/oauth/callback/shopee" in r.getMessage() for r in access)
    formatted = [AccessFormatter('%(client_addr)s - "%(request_line)s" %(status_code)s').format(r) for r in access]
    assert all(CODE not in line for line in formatted), formatted
    assert CODE not in caplog.text


def test_audit_log_filter_masks_a_secret_placeholder_without_losing_the_record() -> None:
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "refreshing with refresh_token=%s for %s",
                               ("r3fresh-S3cret", "shop-a"), None)
    assert MaskingFilter().filter(record)
    assert record.getMessage() == "refreshing with refresh_token=**** for shop-a"
    record = logging.LogRecord("x", logging.DEBUG, __file__, 1, "GET %s -> %d", ("/api?sign=abc123&page=2", 200), None)
    MaskingFilter().filter(record)
    assert record.getMessage() == "GET /api?sign=****&page=2 -> 200" and record.args[1] == 200
