"""Shopee token rules over real HTTP, time moved with the sandbox clock (no waiting)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from platforms.base import AuthExpired, CredentialsInvalid, PermanentError, PlatformConfig, ReauthRequired
from platforms.shopee.adapter import ShopeeAdapter
from sandboxes.shopee import ShopeeError


def _consent(sandbox, adapter):
    return sandbox.consent(adapter.authorize_url("https://bridge.example/cb", "s"), shop_id=adapter.channel.shop_id)


def test_shopee_code_is_single_use(sandbox, make_adapter):
    adapter = make_adapter(authorize=False)
    params = _consent(sandbox, adapter)
    adapter.exchange_code(params)
    with pytest.raises(ReauthRequired, match="Invalid code"):
        adapter.exchange_code(params)


def test_shopee_code_expires_after_ten_minutes(sandbox, make_adapter):
    adapter = make_adapter(authorize=False)
    fresh, stale = _consent(sandbox, adapter), None
    sandbox.clock.advance(599)
    adapter.exchange_code(fresh)  # still valid at 9:59
    stale = _consent(sandbox, adapter)
    sandbox.clock.advance(601)
    with pytest.raises(ReauthRequired, match="authorize again"):
        adapter.exchange_code(stale)


def test_shopee_consent_link_valid_five_minutes(sandbox, make_adapter):
    adapter = make_adapter(authorize=False)
    url = adapter.authorize_url("https://bridge.example/cb", "s")
    sandbox.clock.advance(301)
    with pytest.raises(ShopeeError, match="Invalid timestamp"):
        sandbox.consent(url)


def test_shopee_refresh_rotates_and_old_refresh_token_is_dead(sandbox, adapter):
    first = adapter.tokens
    sandbox.clock.advance(3600)
    second = adapter.refresh(first)
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    assert second.auth_expires_at == first.auth_expires_at  # the 365-day consent is not extended by refresh
    assert second.access_expires_at == sandbox.clock.now() + timedelta(hours=4)
    with pytest.raises(ReauthRequired, match="Invalid refresh_token"):
        adapter.refresh(first)
    third = adapter.refresh(second)  # the new one works exactly once
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


def test_shopee_old_access_token_valid_five_minutes_after_refresh(sandbox, adapter):
    old = adapter.tokens
    new = adapter.refresh(old)
    sandbox.clock.advance(299)
    adapter.check_credentials()  # old token, inside the grace
    sandbox.clock.advance(2)
    with pytest.raises(AuthExpired, match="Invalid access_token"):
        adapter.check_credentials()
    adapter.set_tokens(new)
    adapter.check_credentials()


def test_shopee_access_token_expires_after_four_hours(sandbox, adapter):
    sandbox.clock.advance(4 * 3600 - 1)
    adapter.check_credentials()
    sandbox.clock.advance(1)
    with pytest.raises(AuthExpired) as info:
        adapter.check_credentials()
    assert info.value.code == "error_auth" and info.value.status == 403
    adapter.set_tokens(adapter.refresh(adapter.tokens))
    adapter.check_credentials()


def test_shopee_refresh_token_expires_after_thirty_days(sandbox, adapter):
    sandbox.clock.advance(30 * 86400)
    with pytest.raises(ReauthRequired):
        adapter.refresh(adapter.tokens)


def test_shopee_access_token_of_another_shop_is_refused(sandbox, adapter, make_adapter):
    other = make_adapter(shop_id=sandbox.add_shop()["shop_id"])
    adapter.set_tokens(replace(adapter.tokens, access_token=other.tokens.access_token))
    with pytest.raises(AuthExpired):
        adapter.check_credentials()


def test_shopee_timestamp_outside_five_minutes_is_error_param(sandbox, adapter):
    skewed = ShopeeAdapter(adapter.platform, adapter.channel, adapter.tokens, policy=adapter.policy,
                           clock=lambda: sandbox.clock.now() + timedelta(seconds=301))
    with pytest.raises(PermanentError, match="Invalid timestamp") as info:
        skewed.check_credentials()
    assert info.value.code == "error_param" and not isinstance(info.value, AuthExpired)
    assert "check this machine's clock" in str(info.value)  # says what to do, not just Shopee's two words
    with pytest.raises(PermanentError, match="check this machine's clock") as refused:
        skewed.refresh(adapter.tokens)  # a wrong clock is not a dead refresh token: no re-authorization
    assert not isinstance(refused.value, ReauthRequired)
    near = ShopeeAdapter(adapter.platform, adapter.channel, adapter.tokens, policy=adapter.policy,
                         clock=lambda: sandbox.clock.now() - timedelta(seconds=299))
    near.check_credentials()


def test_shopee_wrong_partner_key_is_wrong_sign(sandbox, adapter):
    bad = ShopeeAdapter(replace(adapter.platform, app_secret="not-the-key"), adapter.channel, adapter.tokens,
                        policy=adapter.policy, clock=sandbox.clock.now)
    with pytest.raises(CredentialsInvalid, match="Wrong sign") as info:
        bad.check_credentials()
    assert info.value.code == "error_sign"
    with pytest.raises(CredentialsInvalid, match="Wrong sign"):
        bad.refresh(adapter.tokens)  # a bad key is the admin's fix, not a re-authorization


def test_shopee_wrong_partner_id_is_credentials_invalid(sandbox, adapter):
    bad = ShopeeAdapter(replace(adapter.platform, app_id="1"), adapter.channel, adapter.tokens,
                        policy=adapter.policy, clock=sandbox.clock.now)
    with pytest.raises(CredentialsInvalid, match="Invalid partner_id"):
        bad.check_credentials()
    with pytest.raises(CredentialsInvalid, match="partner id"):
        ShopeeAdapter(PlatformConfig(host=sandbox.base_url), adapter.channel)


def test_shopee_authorization_ends_after_365_days_even_with_fresh_refreshes(sandbox, adapter):
    tokens = adapter.tokens
    for _ in range(12):  # keep refreshing every 30 days minus a bit, as RefreshToken would
        sandbox.clock.advance(29 * 86400)
        tokens = adapter.refresh(tokens)
    sandbox.clock.advance(365 * 86400 - 12 * 29 * 86400 - 60)
    tokens = adapter.refresh(tokens)  # one minute before the end: still fine
    sandbox.clock.advance(120)
    adapter.set_tokens(tokens)
    with pytest.raises(AuthExpired, match="authorization has expired"):
        adapter.check_credentials()
    with pytest.raises(ReauthRequired, match="authorize again"):
        adapter.refresh(tokens)


def test_shopee_cancelled_authorization_needs_reauthorization(sandbox, adapter):
    sandbox.deauthorize(adapter.channel.shop_id)
    with pytest.raises(ReauthRequired):
        adapter.refresh(adapter.tokens)
    adapter.set_tokens(adapter.exchange_code(_consent(sandbox, adapter)))  # authorizing again fixes it
    adapter.check_credentials()
