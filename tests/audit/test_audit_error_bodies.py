"""Audit: a broken answer that carries a secret is never quoted into an error message.

A real HTTP server on 127.0.0.1 stands in for a misbehaving marketplace or proxy: every path answers with a
token body cut off mid-way, a non-JSON body echoing the request's secrets, or a JSON body naming them. Every
adapter's calls (check, fetch, refresh) against it must fail with a typed error whose text shows none of them.
"""

from __future__ import annotations

import re
import socket
import traceback
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from werkzeug.wrappers import Request, Response

from oms_bridge.remote.http import RetryPolicy, mask_text
from platforms.base import ChannelConfig, PlatformConfig, PlatformError, TokenSet
from platforms.registry import adapter_class
from sandboxes.server import SandboxServer

LEAK = "LeakedSecretValue0123456789abcdef"
ONE_SHOT = RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=2.0, read_timeout=2.0)
NOW = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)

BODIES = {
    "truncated_token": ("application/json", 200, '{"access_token": "' + LEAK + '", "refresh_tok'),
    "truncated_token_400": ("application/json", 400, '{"error": "x", "refresh_token": "' + LEAK),
    "echo_query": ("text/plain", 400, f"bad request: GET /api?access_token={LEAK}&sign={LEAK}"),
    "echo_form": ("text/plain", 502, f"upstream said: client_secret={LEAK}&code={LEAK}"),
    "echo_json_500": ("text/html", 500, f'<pre>{{"partner_key": "{LEAK}", "password": "{LEAK}"}}</pre>'),
    "json_error": ("application/json", 401, '{"message": "bad", "access_token": "' + LEAK + '"}'),
}

CASES = [("shopee", {}), ("momo", {}), ("shopline", {"auth_model": "oauth"}), ("shopline", {}),
         ("cyberbiz", {}), ("cyberbiz", {"auth_model": "v1"})]


@pytest.fixture(scope="module")
def server():
    state = {"body": BODIES["truncated_token"]}

    def app(environ, start_response):
        Request(environ).get_data()
        content_type, status, text = state["body"]
        return Response(text, status=status, content_type=content_type)(environ, start_response)

    srv = SandboxServer(app).start()
    yield srv, state
    srv.stop()


def test_audit_mask_text_masks_query_form_and_json_pairs() -> None:
    for _ctype, _status, text in BODIES.values():
        assert LEAK not in mask_text(text), text
    assert mask_text('{"order_sn": "260315ABC", "status": "READY"}') == '{"order_sn": "260315ABC", "status": "READY"}'
    assert mask_text("GET /api/v2/order?page=2&shop_id=1 HTTP/1.1") == "GET /api/v2/order?page=2&shop_id=1 HTTP/1.1"


@pytest.mark.parametrize("body", sorted(BODIES))
@pytest.mark.parametrize(("platform_type", "settings"), CASES,
                         ids=[f"{p}-{s.get('auth_model', 'default')}" for p, s in CASES])
def test_audit_broken_answers_are_not_quoted_with_their_secrets(server, platform_type, settings, body) -> None:
    srv, state = server
    state["body"] = BODIES[body]
    platform = PlatformConfig(host=srv.base_url, app_id="1000123", app_secret="app-secret-audit",
                              settings={"v1_host": srv.base_url, "shop_url_template": srv.base_url + "/_shops/{shop}"})
    credentials = {"shopee": {}, "momo": {"entpID": "12345678", "entpCode": "100001", "entpPwd": "pw123456",
                                          "otpBackNo": "123"},
                   "shopline": {"access_token": "static-token-audit"} if not settings else {},
                   "cyberbiz": {"username": "key-1", "secret": "hmac-secret-audit"} if settings else {}}[platform_type]
    channel = ChannelConfig(name="audit", shop_id="100001", credentials=credentials, settings=settings)
    adapter = adapter_class(platform_type)(platform, channel, policy=ONE_SHOT, clock=lambda: NOW)
    tokens = TokenSet(access_token="access-audit", refresh_token="refresh-audit",
                      access_expires_at=NOW + timedelta(hours=1), extra={"shop_id": "100001"})
    adapter.set_tokens(tokens)
    calls = [adapter.check_credentials, lambda: list(adapter.fetch_orders(NOW - timedelta(days=1), NOW))]
    if adapter.uses_oauth:
        calls.append(lambda: adapter.refresh(replace(tokens)))
        calls.append(lambda: adapter.exchange_code({"code": "c0de-audit", "shop_id": "100001",
                                                    "state": "s"}, "https://bridge.example/cb"))
    for call in calls:
        with pytest.raises(PlatformError) as info:
            call()
        text = f"{info.value} {info.value!r}"
        assert LEAK not in text, text


@pytest.mark.parametrize(("platform_type", "settings"), CASES,
                         ids=[f"{p}-{s.get('auth_model', 'default')}" for p, s in CASES])
def test_audit_unreachable_host_traceback_shows_no_query_secret(platform_type, settings) -> None:
    """requests' own exception text holds the full URL (query signature and token): it must not be chained."""
    with socket.socket() as probe:  # a port nobody listens on: connection refused
        probe.bind(("127.0.0.1", 0))
        host = f"http://127.0.0.1:{probe.getsockname()[1]}"
    platform = PlatformConfig(host=host, app_id="1000123", app_secret="app-secret-audit",
                              settings={"v1_host": host, "shop_url_template": host + "/_shops/{shop}"})
    credentials = {"shopee": {}, "momo": {"entpID": "12345678", "entpCode": "100001", "entpPwd": "pw123456",
                                          "otpBackNo": "123"},
                   "shopline": {"access_token": "static-token-audit"} if not settings else {},
                   "cyberbiz": {"username": "key-1", "secret": "hmac-secret-audit"} if settings else {}}[platform_type]
    channel = ChannelConfig(name="audit", shop_id="100001", credentials=credentials, settings=settings)
    adapter = adapter_class(platform_type)(platform, channel, policy=ONE_SHOT, clock=lambda: NOW)
    adapter.set_tokens(TokenSet(access_token="access-audit-token", refresh_token="refresh-audit-token",
                                access_expires_at=NOW + timedelta(hours=1), extra={"shop_id": "100001"}))
    with pytest.raises(PlatformError) as info:
        list(adapter.fetch_orders(NOW - timedelta(days=1), NOW))
    text = "".join(traceback.format_exception(info.value))
    for secret in ("access-audit-token", "static-token-audit", "pw123456", "app-secret-audit", "hmac-secret-audit"):
        assert secret not in text, text
    assert not re.search(r"sign(ature)?=(?!\*)[0-9A-Za-z+/]{8,}", text), text
