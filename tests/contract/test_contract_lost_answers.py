"""A call that changes state outside is never sent twice blindly (``HttpClient.request(idempotent=False)``).

Against a real local HTTP server (a minimal :class:`~sandboxes.server.Sandbox`): the sandbox's
``lost_answer`` fault applies the request and then drops the connection, as a proxy or a network cut does
after the marketplace has acted. An idempotent read is retried; a state-changing call raises
:class:`OutcomeUnknown` after exactly one request, so the caller reads the remote state instead.
"""

from __future__ import annotations

import socket
from typing import Any

import pytest
from werkzeug.wrappers import Request, Response

from oms_bridge.remote.http import HttpClient, RetryPolicy, json_body
from platforms.base import OutcomeUnknown, RateLimited, TransientError
from sandboxes.server import Sandbox, json_response

POLICY = RetryPolicy(max_attempts=4, sleep=lambda s: None, connect_timeout=2.0, read_timeout=2.0)


class CounterSandbox(Sandbox):
    """POST /apply adds one to a counter (a stand-in for "ship"); GET /state reads it."""

    platform_type = "counter"

    def __init__(self) -> None:
        super().__init__()
        self.applied = 0

    def dispatch(self, request: Request) -> Response:
        if request.method == "POST":
            self.applied += 1
        return json_response({"applied": self.applied})

    def platform_fields(self) -> dict[str, Any]:  # pragma: no cover - not an adapter sandbox
        return {}

    def add_shop(self, **options: Any) -> dict[str, Any]:  # pragma: no cover
        return {}

    def generate_orders(self, shop_id, count, *, start=None, end=None, **options):  # pragma: no cover
        return []

    def update_order(self, shop_id, external_id, **changes):  # pragma: no cover
        return None

    def shipment_of(self, shop_id, external_id):  # pragma: no cover
        return None


def _classify(response):
    if response.status_code == 429:
        raise RateLimited("slow down", platform="counter", retry_after=0)
    if response.status_code >= 500:
        raise TransientError(f"HTTP {response.status_code}", platform="counter", status=response.status_code)
    return json_body(response, platform="counter")


@pytest.fixture
def sandbox():
    with CounterSandbox() as sb:
        yield sb


def _client(base_url: str, policy: RetryPolicy = POLICY) -> HttpClient:
    return HttpClient(base_url, platform="counter", classify=_classify, policy=policy)


def test_lost_answer_to_a_state_changing_call_is_not_resent(sandbox):
    client = _client(sandbox.base_url)
    sandbox.faults.inject("lost_answer", path="/apply")
    with pytest.raises(OutcomeUnknown, match="answer was lost") as info:
        client.request("POST", "/apply", idempotent=False)
    assert not isinstance(info.value, TransientError)  # no generic retry path may catch it
    assert sandbox.calls("/apply") == 1 and sandbox.applied == 1  # applied once, sent once
    assert client.request("GET", "/state")["applied"] == 1  # the caller reads the state instead


def test_lost_answer_to_a_read_is_retried(sandbox):
    client = _client(sandbox.base_url)
    sandbox.faults.inject("lost_answer", path="/state")
    assert client.request("GET", "/state") == {"applied": 0}
    assert sandbox.calls("/state") == 2


@pytest.mark.parametrize("kind", ["500", "503", "malformed_json"])
def test_a_broken_answer_to_a_state_changing_call_is_unknown(sandbox, kind):
    client = _client(sandbox.base_url)
    sandbox.faults.inject(kind, path="/apply")
    with pytest.raises(OutcomeUnknown):
        client.request("POST", "/apply", idempotent=False)
    assert sandbox.calls("/apply") == 1


def test_a_timeout_after_sending_is_unknown(sandbox):
    client = _client(sandbox.base_url, RetryPolicy(max_attempts=4, sleep=lambda s: None, read_timeout=0.3))
    sandbox.faults.inject("timeout", path="/apply", delay=1.0)
    with pytest.raises(OutcomeUnknown):
        client.request("POST", "/apply", idempotent=False)
    assert sandbox.calls("/apply") == 1


def test_rate_limited_state_changing_call_is_retried(sandbox):
    """A 429 is a refusal before processing: sending again is safe."""
    client = _client(sandbox.base_url)
    sandbox.faults.inject("429", path="/apply", retry_after=0)
    assert client.request("POST", "/apply", idempotent=False) == {"applied": 1}
    assert sandbox.calls("/apply") == 2 and sandbox.applied == 1


def test_unreachable_host_is_retried_then_transient_not_unknown():
    """Nothing listens: the request provably never left, so it is retried and ends as a TransientError."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: a closed port on 127.0.0.1
    client = _client(f"http://127.0.0.1:{port}")
    with pytest.raises(TransientError) as info:
        client.request("POST", "/apply", idempotent=False)
    assert not isinstance(info.value, OutcomeUnknown)
    assert client.calls == POLICY.max_attempts
