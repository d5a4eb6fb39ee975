"""The static API token model: one token per shop, pasted from the CYBERBIZ admin, no OAuth and no refresh.

Evidence (docs/contracts/cyberbiz.md): actinc/cyberbiz-sdk CONTEXT.md - "One Shop has exactly one set of App
credentials and one API Token", a Bearer JWT carrying the shop's id, domain and scopes; the yaml's 401 is
``{"error":["無權使用該 API"]}`` for an invalid token and a missing scope alike.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from cyberbiz_kit import NO_SLEEP, NOW, build_adapter
from test_cyberbiz_channel import _configure

from channels.authorization import check_credentials
from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.configure.channels import update_channel
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel
from oms_bridge.vault import Vault
from platforms.base import CredentialsInvalid, NotSupported, PermanentError, Shipment
from platforms.cyberbiz.adapter import CyberbizAdapter, token_claims
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.server import SandboxClock

HOUR = timedelta(hours=1)


def test_cyberbiz_token_shop_reads_and_ships_with_no_oauth(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token")
    adapter = build_adapter(cbz_sandbox, shop)
    assert adapter.uses_oauth is False  # so the scheduler plans no RefreshToken for it
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 3, status="paid")
    note = adapter.check_credentials()
    assert "API token accepted" in note and "3 orders visible" in note and "read_orders, write_orders" in note
    orders = list(adapter.fetch_orders(NOW - 24 * HOUR, NOW + HOUR))
    assert sorted(o.external_id for o in orders) == sorted(ids)
    adapter.ship(orders[0], Shipment("TK-1", carrier="SEVEN"))
    assert cbz_sandbox.shipment_of(shop["shop_id"], orders[0].external_id)["tracking_number"] == "TK-1"
    assert cbz_sandbox.calls("/oauth") == 0
    with pytest.raises(NotSupported, match="auth_model 'token'"):
        adapter.authorize_url("https://bridge.example/cb", "s")
    with pytest.raises(NotSupported, match="no token to refresh"):
        adapter.refresh(None)  # type: ignore[arg-type]


def test_cyberbiz_token_is_inferred_from_the_credential_it_holds(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token")
    adapter = build_adapter(cbz_sandbox, {**shop, "settings": {"auth_model": ""}})
    assert adapter.auth_model == "token" and not adapter.uses_oauth
    assert "API token accepted" in adapter.check_credentials()


def test_cyberbiz_token_replaced_in_the_admin_is_credentials_invalid_with_the_fix(cbz_sandbox):
    """A 401 for a static token can never be cured by a refresh: CredentialsInvalid, saying how to fix it."""
    shop = cbz_sandbox.add_shop(auth_model="token")
    adapter = build_adapter(cbz_sandbox, shop)
    cbz_sandbox.rotate_api_token(shop["shop_id"])  # the merchant issued a new token; ours is dead
    with pytest.raises(CredentialsInvalid) as caught:
        adapter.check_credentials()
    message = str(caught.value)
    assert "無權使用該 API" in message and "HTTP 401" in message
    assert "oms-bridge channel update cbz-token --token-stdin" in message
    assert shop["credentials"]["access_token"] not in message
    assert cbz_sandbox.calls("/oauth") == 0


def test_cyberbiz_token_without_write_scope_reads_but_cannot_ship(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token", scopes=["read_orders"])
    adapter = build_adapter(cbz_sandbox, shop)
    note = adapter.check_credentials()
    assert "scopes read_orders" in note and "without write_orders shipments cannot be reported" in note
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    (order,) = adapter.get_orders([order_id])
    with pytest.raises(CredentialsInvalid, match="lacks the scope.*write_orders to ship"):
        adapter.ship(order, Shipment("TK-2", carrier="hct"))
    assert cbz_sandbox.shipment_of(shop["shop_id"], order_id) is None


def test_cyberbiz_token_missing_is_a_clear_error(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token")
    adapter = build_adapter(cbz_sandbox, {**shop, "credentials": {}}, auth_model="token")
    with pytest.raises(CredentialsInvalid, match="has no API token.*--token-stdin"):
        adapter.check_credentials()
    assert cbz_sandbox.calls() == 0


def test_cyberbiz_required_credentials_follow_the_auth_model():
    """The credentials_missing hint: a token channel is asked for its token, a V2 channel for nothing."""
    assert list(CyberbizAdapter.required_credentials({"auth_model": "token"})) == ["access_token"]
    assert list(CyberbizAdapter.required_credentials({"auth_model": "v1"})) == ["username", "secret"]
    assert list(CyberbizAdapter.required_credentials({"auth_model": "v2"})) == []
    assert list(CyberbizAdapter.required_credentials({})) == []  # no setting, no credentials: V2
    assert list(CyberbizAdapter.required_credentials({}, ["username"])) == ["username", "secret"]
    assert list(CyberbizAdapter.required_credentials({}, ["access_token"])) == ["access_token"]
    with pytest.raises(PermanentError, match="auth_model 'tokne' must be one of: 'token'"):
        CyberbizAdapter.required_credentials({"auth_model": "tokne"})


def test_cyberbiz_token_claims_are_read_but_not_trusted():
    assert token_claims("not-a-jwt") == {}
    assert token_claims("a.b.c") == {}
    assert token_claims("eyJhbGciOiJIUzI1NiJ9.eyJzY29wZXMiOlsicmVhZF9vcmRlcnMiXX0.x") == {"scopes": ["read_orders"]}


def test_cyberbiz_token_channel_rejected_mid_run_says_so_and_recovers(sqlite_settings):
    """GetOrder with a token the merchant replaced: the run fails, the channel shows the fix, no refresh runs."""
    with CyberbizSandbox(clock=SandboxClock(NOW, frozen=True), seed=17) as sandbox:
        clock = sandbox.clock.now
        channel_id, value, shop_id = _configure(sqlite_settings, sandbox, "token")
        assert check_credentials(value, settings=sqlite_settings, policy=NO_SLEEP, clock=clock)[0]
        sandbox.generate_orders(shop_id, 2, start=NOW - 2 * HOUR, end=NOW - timedelta(minutes=5))
        assert run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP).outcome == "success"
        skipped = run_refreshtoken(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP, force=True)
        assert skipped.outcome == "skipped" and "does not use OAuth" in skipped.error_text

        fresh = sandbox.rotate_api_token(shop_id)
        stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
        assert stats.outcome == "failed" and "--token-stdin" in stats.error_text
        with session_scope(sqlite_settings) as s:
            channel = s.get(Channel, channel_id)
            assert channel.auth_state == "error" and f"channel update {value} --token-stdin" in channel.auth_message
        assert sandbox.calls("/oauth") == 0

        with session_scope(sqlite_settings) as s:
            update_channel(s, Vault.from_settings(sqlite_settings), value,
                                     credentials={"access_token": fresh})
        stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
        assert stats.outcome == "success", stats.error_text
        with session_scope(sqlite_settings) as s:
            assert s.get(Channel, channel_id).auth_state == "active"
