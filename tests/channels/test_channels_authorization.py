"""Authorization: single-use hashed state with expiry, code exchange, encrypted tokens, callback page."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl, urlsplit

import pytest
from channels_kit import FAST, Bound, add_platform_and_channel
from fastapi.testclient import TestClient
from sqlalchemy import select

from channels.authorization import (
    AuthorizationError,
    check_credentials,
    complete_authorization,
    start_authorization,
)
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel
from oms_bridge.vault import Vault
from oms_bridge.web.app import create_app
from sandboxes.momo import MomoSandbox
from sandboxes.shopee import ShopeeSandbox


def _state_of(url: str) -> str:
    redirect = dict(parse_qsl(urlsplit(url).query))["redirect"]
    return dict(parse_qsl(urlsplit(redirect).query))["state"]


@pytest.fixture
def fresh(sqlite_settings, shopee: ShopeeSandbox) -> Bound:
    channel_id, shop_id = add_platform_and_channel(sqlite_settings, shopee, "shop-a")
    return Bound(shopee, shop_id, channel_id, "shop-a", sqlite_settings)


def _start(b: Bound) -> str:
    return start_authorization(b.channel, "https://bridge.example/oauth/callback/shopee", settings=b.settings,
                               clock=b.clock)


def test_authorize_stores_encrypted_tokens_and_activates(fresh: Bound):
    b = fresh
    url = _start(b)
    state = _state_of(url)
    with session_scope(b.settings) as session:
        ch = session.get(Channel, b.channel_id)
        assert ch.oauth_state_hash == hashlib.sha256(state.encode()).hexdigest()  # only the hash is stored
        assert ch.auth_state == "new"
    channel = complete_authorization("shopee", b.sandbox.consent(url), settings=b.settings, clock=b.clock,
                                     policy=FAST)
    assert channel.auth_state == "active" and channel.token_version == 1 and channel.authorized_at is not None
    assert channel.oauth_state_hash is None
    vault = Vault.from_settings(b.settings)
    access = vault.decrypt(channel.access_token_enc)
    assert len(access) == 32 and access not in channel.access_token_enc
    assert abs((channel.access_expires_at - b.clock() - timedelta(hours=4)).total_seconds()) < 5
    assert channel.auth_expires_at is not None
    ok, message = check_credentials("shop-a", settings=b.settings, policy=FAST, clock=b.clock)
    assert ok, message


def test_state_is_single_use(fresh: Bound):
    b = fresh
    params = b.sandbox.consent(_start(b))
    complete_authorization("shopee", params, settings=b.settings, clock=b.clock, policy=FAST)
    with pytest.raises(AuthorizationError, match="unknown or was already used"):
        complete_authorization("shopee", params, settings=b.settings, clock=b.clock, policy=FAST)


def test_state_expires_after_ten_minutes(fresh: Bound):
    b = fresh
    url = _start(b)
    params = b.sandbox.consent(url)
    b.sandbox.clock.advance(minutes=11)
    with pytest.raises(AuthorizationError, match="expired"):
        complete_authorization("shopee", params, settings=b.settings, clock=b.clock, policy=FAST)
    with pytest.raises(AuthorizationError, match="already used"):  # an expired state is consumed too
        complete_authorization("shopee", params, settings=b.settings, clock=b.clock, policy=FAST)


def test_a_new_start_replaces_the_pending_state(fresh: Bound):
    b = fresh
    old = b.sandbox.consent(_start(b))
    new = b.sandbox.consent(_start(b))
    with pytest.raises(AuthorizationError):
        complete_authorization("shopee", old, settings=b.settings, clock=b.clock, policy=FAST)
    assert complete_authorization("shopee", new, settings=b.settings, clock=b.clock,
                                  policy=FAST).auth_state == "active"


def test_forged_or_missing_state_and_wrong_platform(fresh: Bound):
    b = fresh
    params = b.sandbox.consent(_start(b))
    with pytest.raises(AuthorizationError, match="no state"):
        complete_authorization("shopee", {k: v for k, v in params.items() if k != "state"}, settings=b.settings)
    with pytest.raises(AuthorizationError, match="unknown"):
        complete_authorization("shopee", {**params, "state": "forged"}, settings=b.settings)
    with pytest.raises(AuthorizationError, match="is a shopee channel"):
        complete_authorization("cyberbiz", params, settings=b.settings, clock=b.clock)


def test_refused_code_is_reported_and_channel_stays_unauthorized(fresh: Bound):
    b = fresh
    params = b.sandbox.consent(_start(b))
    with pytest.raises(AuthorizationError, match="refused the authorization of channel shop-a"):
        complete_authorization("shopee", {**params, "code": "0" * 32}, settings=b.settings, clock=b.clock,
                               policy=FAST)
    with session_scope(b.settings) as session:
        assert session.get(Channel, b.channel_id).access_token_enc is None


def test_start_refuses_credential_platform(sqlite_settings):
    with MomoSandbox() as sandbox:
        add_platform_and_channel(sqlite_settings, sandbox, "momo-a")
        with pytest.raises(AuthorizationError, match="does not use OAuth"):
            start_authorization("momo-a", None, settings=sqlite_settings)


def test_check_credentials_for_credential_platform(sqlite_settings):
    with MomoSandbox() as sandbox:
        add_platform_and_channel(sqlite_settings, sandbox, "momo-a")
        ok, message = check_credentials("momo-a", settings=sqlite_settings, policy=FAST)
        assert ok and "credentials work" in message
        bad = sandbox.add_shop()
        bad["credentials"] = {**bad["credentials"], "entpPwd": "wrong-password"}
        add_platform_and_channel(sqlite_settings, sandbox, "momo-bad", shop=bad)
        ok, message = check_credentials("momo-bad", settings=sqlite_settings, policy=FAST)
    assert not ok and "rejected" in message and "wrong-password" not in message
    with session_scope(sqlite_settings) as session:
        states = dict(session.execute(select(Channel.value, Channel.auth_state)).all())
    assert states == {"momo-a": "active", "momo-bad": "error"}


def test_unknown_channel_lists_known_ones(fresh: Bound):
    with pytest.raises(Exception, match=r"no channel 'nope' \(known channels: shop-a\)"):
        start_authorization("nope", None, settings=fresh.settings)


# ---------------------------------------------------------------------------------- callback route
def test_callback_page_success_then_replay_is_a_clear_400(fresh: Bound, monkeypatch):
    b = fresh
    # the web app reads the process settings; the sandbox runs on its own clock, so give it real time
    b.sandbox.clock.set(datetime.now(UTC))
    url = start_authorization(b.channel, None, settings=b.settings)
    params = b.sandbox.consent(url)
    client = TestClient(create_app())
    ok = client.get("/oauth/callback/shopee", params=params)
    assert ok.status_code == 200 and "Channel shop-a" in ok.text and "connected" in ok.text
    assert params["code"] not in ok.text
    again = client.get("/oauth/callback/shopee", params=params)
    assert again.status_code == 400 and "already used" in again.text and "Traceback" not in again.text
    missing = client.get("/oauth/callback/shopee")
    assert missing.status_code == 400 and "no state" in missing.text
