"""Audit: no platform secret leaks from a full adapter flow against each sandbox.

Each platform (and auth model) runs authorize → check → fetch → re-read → ship → refresh, then a failing call of
every kind (5xx, 429, error envelope, malformed body, timeout, rejected token, wrong static secret). Everything a
secret could reach is collected: the root log at DEBUG (urllib3, werkzeug and our loggers), every exception's
``str``/``repr`` down its cause chain, and ``repr`` of the adapter, its configs, tokens and the objects it holds.
The secrets are the ones really used on the wire: app secret / partner key / client secret, static credentials,
OAuth code and tokens, and every ``sign``/``signature``/``Authorization`` value the sandbox received.
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from oms_bridge.remote.http import RetryPolicy
from platforms.base import ChannelConfig, PlatformConfig, PlatformError, Shipment
from platforms.registry import adapter_class
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox
from sandboxes.shopline import ShoplineSandbox

START = datetime(2026, 3, 15, 4, 0, tzinfo=UTC)
ONE_SHOT = RetryPolicy(max_attempts=1, sleep=lambda s: None, connect_timeout=3.0, read_timeout=3.0)
RETRYING = replace(ONE_SHOT, max_attempts=3)
TIMEOUT_SHOT = replace(ONE_SHOT, read_timeout=0.3)
SECRET_KEY_RE = re.compile(r"(token|secret|sign|password|pwd|key|code)", re.I)
#: secret-looking names that are identifiers, not secrets (momo's entpCode is the vendor code = shop id)
NOT_SECRET = {"entpcode", "shop_code"}
HMAC_SIGNATURE_RE = re.compile(r'signature="([^"]+)"')

CASES = [
    (ShopeeSandbox, {}),
    (MomoSandbox, {}),
    (ShoplineSandbox, {}),
    (ShoplineSandbox, {"auth_model": "oauth"}),
    (CyberbizSandbox, {}),
    (CyberbizSandbox, {"auth_model": "v1"}),
    (CyberbizSandbox, {"auth_model": "token"}),
]


class Spy:
    """Collects every secret-looking value the sandbox receives (query, form, JSON body, Authorization)."""

    def __init__(self, sandbox):
        self.values: set[str] = set()
        self._dispatch = sandbox.dispatch
        sandbox.dispatch = self

    def __call__(self, request):
        for source in (request.args, request.form):
            self._take(dict(source.items()))
        body = request.get_json(silent=True)
        if isinstance(body, dict):
            self._take(body)
        auth = request.headers.get("Authorization", "")
        self.values.update(HMAC_SIGNATURE_RE.findall(auth))
        if auth.lower().startswith("bearer "):
            self.values.add(auth.split(" ", 1)[1])
        return self._dispatch(request)

    def _take(self, data: dict) -> None:
        for key, value in data.items():
            if isinstance(value, str) and SECRET_KEY_RE.search(str(key)) and key.lower() not in NOT_SECRET:
                self.values.add(value)


def _secret_strings(mapping) -> set[str]:
    return {str(v) for k, v in (mapping or {}).items()
            if v and SECRET_KEY_RE.search(str(k)) and str(k).lower() not in NOT_SECRET}


def _secret_keys(channel: ChannelConfig) -> set[str]:
    return {k for k in channel.credentials if SECRET_KEY_RE.search(k) and k.lower() not in NOT_SECRET}


def _exception_texts(exc: BaseException) -> list[str]:
    texts = []
    while exc is not None:
        texts += [str(exc), repr(exc), repr(exc.args)]
        exc = exc.__cause__ or exc.__context__
    return texts


def _object_reprs(adapter) -> list[str]:
    texts = [repr(adapter), repr(adapter.platform), repr(adapter.channel), repr(adapter.tokens), str(adapter.tokens)]
    texts += [repr(value) for value in vars(adapter).values()]
    return texts


@pytest.mark.parametrize(("sandbox_cls", "shop_options"), CASES,
                         ids=[f"{c.platform_type}-{o.get('auth_model', 'default')}" for c, o in CASES])
def test_audit_no_secret_leaks_from_a_full_flow(sandbox_cls, shop_options, caplog):
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "werkzeug", "oms_bridge", "platforms"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    sandbox = sandbox_cls(clock=SandboxClock(START, frozen=True)).start()
    spy = Spy(sandbox)
    texts: list[str] = []
    try:
        fields = sandbox.platform_fields()
        shop = sandbox.add_shop(**shop_options)
        platform = PlatformConfig(**fields)
        channel = ChannelConfig(name="audit", shop_id=shop.get("shop_id"), credentials=shop.get("credentials") or {},
                                settings=shop.get("settings") or {})
        cls = adapter_class(sandbox.platform_type)

        def make(policy, platform=platform, channel=channel, tokens=None):
            adapter = cls(platform, channel, policy=policy, clock=sandbox.clock.now)
            adapter.set_tokens(tokens)
            return adapter

        adapter = make(RETRYING)
        secrets = {fields.get("app_secret")} | _secret_strings(channel.credentials)
        if adapter.uses_oauth:
            redirect = "https://bridge.example/oauth/callback"
            url = adapter.authorize_url(redirect, "audit-state")
            params = sandbox.consent(url)
            secrets |= {params.get("code")}
            adapter.set_tokens(adapter.exchange_code(params, redirect))
        texts.append(adapter.check_credentials())

        now = sandbox.clock.now()
        ids = sandbox.generate_orders(channel.shop_id, 3, start=now - timedelta(days=2), end=now - timedelta(minutes=5),
                                      status="ready_to_ship")
        window = (now - timedelta(days=3), now + timedelta(minutes=1))
        assert sorted(o.external_id for o in adapter.fetch_orders(*window)) == sorted(ids)
        order = adapter.get_orders(ids[:1])[0]
        adapter.ship(order, Shipment(tracking_number="CT0000123456", carrier="other"))
        if adapter.uses_oauth:
            first = adapter.tokens
            adapter.set_tokens(adapter.refresh(first))
            secrets |= {first.access_token, first.refresh_token}
        if adapter.tokens:
            secrets |= {adapter.tokens.access_token, adapter.tokens.refresh_token}
        texts += _object_reprs(adapter)

        failures: list[PlatformError] = []
        for kind in ("500", "429", "error_envelope", "malformed_json", "timeout"):
            sandbox.faults.inject(kind, count=1, delay=1.0)
            failing = make(TIMEOUT_SHOT if kind == "timeout" else ONE_SHOT, tokens=adapter.tokens)
            with pytest.raises(PlatformError) as info:
                list(failing.fetch_orders(*window))
            failures.append(info.value)
        if adapter.tokens:
            rejected = make(ONE_SHOT, tokens=replace(adapter.tokens, access_token="0" * 32))
            with pytest.raises(PlatformError) as info:
                rejected.check_credentials()
            failures.append(info.value)
            with pytest.raises(PlatformError) as info:
                rejected.refresh(replace(adapter.tokens, refresh_token="f" * 32))
            failures.append(info.value)
        wrong = "wrong-secret-0000"
        bad = make(ONE_SHOT,
                   platform=replace(platform, app_secret=wrong) if platform.app_secret else platform,
                   channel=replace(channel, credentials={k: (wrong if k in _secret_keys(channel) else v)
                                                         for k, v in channel.credentials.items()}),
                   tokens=replace(adapter.tokens, access_token=wrong) if adapter.tokens else None)
        with pytest.raises(PlatformError) as info:
            bad.check_credentials()
        failures.append(info.value)
        secrets.add(wrong)
        texts += _object_reprs(bad)
        for failure in failures:
            texts += _exception_texts(failure)
    finally:
        sandbox.stop()

    secrets |= spy.values
    secrets = {s for s in secrets if s and len(s) >= 6}
    assert secrets, "the flow used no secret at all?"
    texts += [caplog.text] + [repr(r.args) for r in caplog.records]
    haystack = "\n".join(t for t in texts if t)
    leaked = sorted(s for s in secrets if s in haystack)
    where = [line for line in haystack.splitlines() if any(s in line for s in leaked)][:5]
    assert not leaked, f"secrets leaked: {leaked} in {where}"
