"""A webhook sender that behaves as Akinon's dj-whisperer 0.5 does, and a live bridge to send to.

What is reproduced (read in whisperer/client.py and whisperer/tasks.py; written here from those facts):

- the body is ``json.dumps(envelope, cls=DRF JSONEncoder)``: ``json.dumps`` defaults, so non-ASCII is
  escaped (``\\u81fa``) and the separators are ``", "`` / ``": "`` (the payload values here are plain
  JSON types, which DRF's encoder leaves to the standard encoder);
- headers ``Content-Type: application/json``, ``X-Whisperer-Event: <type>``; with a ``secret_key``,
  ``X-Whisperer-Signature: sha256=<hex HMAC-SHA256(secret_key, body)>``; ``config.auth`` basic →
  requests' HTTPBasicAuth; then ``additional_headers`` are added; ``requests.post(data=<str>)``;
- a new event gets ``uuid4().hex``; the event is stored as ``json.loads(json.dumps(envelope))`` and a
  retry sends that stored payload again, same uuid; only ``200 <= status < 300`` counts as delivered.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import requests
import uvicorn
from requests.auth import HTTPBasicAuth

from oms_bridge.web.app import create_app


@contextmanager
def live_bridge() -> Iterator[str]:
    """The bridge's app on a real uvicorn server on 127.0.0.1 (free port); yields its base URL."""
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.started, "the bridge's HTTP server did not start"
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)


@dataclass
class StoredEvent:
    """What whisperer keeps of an event: its uuid, the payload as JSON round-tripped, whether delivered."""

    uuid: str
    event_type: str
    request_payload: dict[str, Any]
    delivered: bool = False
    statuses: list[int] = field(default_factory=list)


class WhispererLikeSender:
    """One whisperer ``Webhook`` subscription (as ``oms settings`` prints it) and its deliveries."""

    def __init__(self, subscription: Mapping[str, Any], *, timeout: float = 10.0):
        self.hook = dict(subscription)
        self.timeout = timeout
        self.events: list[StoredEvent] = []

    @staticmethod
    def serialize(envelope: Mapping[str, Any]) -> str:
        return json.dumps(envelope)

    def headers_for(self, body: str) -> dict[str, str]:
        headers = {"Content-Type": "application/json", "X-Whisperer-Event": self.hook["event_type"]}
        if self.hook.get("secret_key"):
            digest = hmac.new(self.hook["secret_key"].encode("utf-8"), body.encode("utf-8"), hashlib.sha256)
            headers["X-Whisperer-Signature"] = f"sha256={digest.hexdigest()}"
        headers.update(self.hook.get("additional_headers") or {})
        return headers

    def _auth(self) -> HTTPBasicAuth | None:
        conf = (self.hook.get("config") or {}).get("auth") or {}
        if conf.get("auth_type") == "basic":
            return HTTPBasicAuth(conf.get("username"), conf.get("password"))
        return None

    def _post(self, envelope: Mapping[str, Any]) -> requests.Response:
        body = self.serialize(envelope)
        return requests.post(self.hook["target_url"], data=body, headers=self.headers_for(body), auth=self._auth(),
                             timeout=self.timeout)

    def deliver(self, payload: Mapping[str, Any]) -> tuple[StoredEvent, requests.Response]:
        """A new event for ``payload``: stored first, then sent once."""
        envelope = {"event": {"type": self.hook["event_type"], "uuid": uuid.uuid4().hex}, "payload": dict(payload)}
        event = StoredEvent(envelope["event"]["uuid"], self.hook["event_type"], json.loads(json.dumps(envelope)))
        self.events.append(event)
        return event, self._send(event)

    def resend(self, event: StoredEvent) -> requests.Response:
        """whisperer's retry: the stored payload again, same uuid."""
        return self._send(event)

    def _send(self, event: StoredEvent) -> requests.Response:
        response = self._post(event.request_payload)
        event.statuses.append(response.status_code)
        event.delivered = 200 <= response.status_code < 300
        return response
