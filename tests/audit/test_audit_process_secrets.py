"""Audit: GetOrder and RefreshToken runs of every platform store and log no secret, failing or not.

A channel is bound and authorized as the admin does it (secrets through the vault), then GetOrder runs clean, with
a 5xx, an error envelope and a malformed body (one-shot retry policy so each run fails), RefreshToken runs, and
finally the platform secret and static credentials are replaced by a wrong one so both processes fail for good.
The stored ``oms_process_run`` rows (every column) and the DEBUG log must hold none of the secrets used, including
tokens before and after refresh and every signature the sandbox received.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace

import pytest
from sqlalchemy import select
from test_audit_platform_secrets import NOT_SECRET, SECRET_KEY_RE, START, Spy

from channels.authorization import check_credentials, complete_authorization, start_authorization
from channels.binding import needs_token_refresh
from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.remote.http import RetryPolicy
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Platform, ProcessRun
from oms_bridge.vault import Vault
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox
from sandboxes.shopline import ShoplineSandbox

FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=1.0, read_timeout=3.0)
ONE_SHOT = replace(FAST, max_attempts=1)
WRONG = "wrong-secret-audit-0000"


def _bind(settings, sandbox) -> tuple[int, set[str]]:
    vault = Vault.from_settings(settings)
    fields = sandbox.platform_fields()
    shop = sandbox.add_shop()
    credentials = shop.get("credentials") or {}
    with session_scope(settings) as s:
        platform = Platform(value=sandbox.platform_type, name=sandbox.platform_type.title(),
                            platform_type=sandbox.platform_type, host=fields["host"], app_id=fields.get("app_id"),
                            app_secret_enc=vault.encrypt(fields.get("app_secret")),
                            settings_json=json.dumps(fields.get("settings") or {}))
        s.add(platform)
        s.flush()
        channel = Channel(value="audit", name="audit", oms_platform_id=platform.id, shop_id=shop["shop_id"],
                          credentials_enc=vault.encrypt(json.dumps(credentials)),
                          settings_json=json.dumps(shop.get("settings") or {}))
        s.add(channel)
        s.flush()
        channel_id = channel.id
        oauth = needs_token_refresh(channel, s, vault=vault)
    secrets = {fields.get("app_secret")} | {str(v) for k, v in credentials.items()
                                             if SECRET_KEY_RE.search(k) and k.lower() not in NOT_SECRET}
    if oauth:
        url = start_authorization("audit", "http://127.0.0.1:9/oauth/callback/" + sandbox.platform_type,
                                  settings=settings, clock=sandbox.clock.now)
        params = sandbox.consent(url)
        secrets.add(params.get("code"))
        complete_authorization(sandbox.platform_type, params, settings=settings, clock=sandbox.clock.now, policy=FAST)
    else:
        ok, message = check_credentials("audit", settings=settings, policy=FAST, clock=sandbox.clock.now)
        assert ok, message
    return channel_id, secrets


def _stored_tokens(settings, channel_id) -> set[str]:
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        channel = s.get(Channel, channel_id)
        return {vault.decrypt(v) for v in (channel.access_token_enc, channel.refresh_token_enc) if v}


def _break_secrets(settings, channel_id) -> None:
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        channel = s.get(Channel, channel_id)
        platform = s.get(Platform, channel.oms_platform_id)
        if platform.app_secret_enc and vault.decrypt(platform.app_secret_enc):
            platform.app_secret_enc = vault.encrypt(WRONG)
        credentials = json.loads(vault.decrypt(channel.credentials_enc))
        credentials = {k: (WRONG if SECRET_KEY_RE.search(k) and k.lower() not in NOT_SECRET else v)
                       for k, v in credentials.items()}
        channel.credentials_enc = vault.encrypt(json.dumps(credentials))
        if channel.access_token_enc:
            channel.access_token_enc = vault.encrypt(WRONG)


@pytest.mark.parametrize("sandbox_cls", [ShopeeSandbox, MomoSandbox, ShoplineSandbox, CyberbizSandbox],
                         ids=lambda c: c.platform_type)
def test_audit_process_runs_hold_no_secret(sandbox_cls, sqlite_settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    sandbox = sandbox_cls(clock=SandboxClock(START, frozen=True)).start()
    spy = Spy(sandbox)
    clock = sandbox.clock.now
    try:
        channel_id, secrets = _bind(sqlite_settings, sandbox)
        secrets |= _stored_tokens(sqlite_settings, channel_id)
        sandbox.generate_orders(_shop_id(sqlite_settings, channel_id), 2)
        assert run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=FAST).outcome == "success"
        for kind in ("500", "error_envelope", "malformed_json"):
            sandbox.faults.inject(kind, count=1)
            stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=ONE_SHOT)
            assert stats.outcome != "success", kind
        run_refreshtoken(channel_id, settings=sqlite_settings, clock=clock, force=True, policy=FAST)
        secrets |= _stored_tokens(sqlite_settings, channel_id)
        _break_secrets(sqlite_settings, channel_id)
        failed = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=ONE_SHOT)
        assert failed.outcome != "success" and failed.error_text
        run_refreshtoken(channel_id, settings=sqlite_settings, clock=clock, force=True, policy=ONE_SHOT)
    finally:
        sandbox.stop()
    with session_scope(sqlite_settings) as s:
        runs = [str(vars(r)) for r in s.scalars(select(ProcessRun))]
    assert len(runs) >= 6
    secrets |= spy.values | {WRONG}
    secrets = {x for x in secrets if x and len(x) >= 6}
    haystack = "\n".join([caplog.text, *runs])
    leaked = sorted(x for x in secrets if x in haystack)
    assert not leaked, [line for line in haystack.splitlines() if any(x in line for x in leaked)][:3]


def _shop_id(settings, channel_id) -> str:
    with session_scope(settings) as s:
        return s.get(Channel, channel_id).shop_id
