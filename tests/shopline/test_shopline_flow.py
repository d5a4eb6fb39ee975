"""Shopline end to end over real HTTP against ShoplineSandbox: tokens, OAuth, paging, windows, shipping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from shopline_kit import LOST_STALL, NOW, authorize, lost_answer_policy, make_adapter

from platforms.base import (
    AuthExpired,
    CredentialsInvalid,
    Order,
    PermanentError,
    PlatformConfig,
    ReauthRequired,
    Shipment,
    TokenSet,
)
from platforms.registry import adapter_class
from platforms.sandboxing import SandboxClock
from platforms.shopline.adapter import ShoplineAdapter
from platforms.shopline.sandbox import ShoplineSandbox


def _fetch(adapter, since, until) -> list[Order]:
    orders = list(adapter.fetch_orders(since, until))
    assert all(isinstance(o, Order) for o in orders), orders
    return orders


def test_registry_and_token_model(token_adapter, shopline_sandbox):
    assert adapter_class("shopline") is ShoplineAdapter
    assert token_adapter.uses_oauth is False
    assert "林家茶行 (linstea)" in token_adapter.check_credentials()
    assert shopline_sandbox.user_agents[-1] == "oms-bridge"


def test_user_agent_is_configurable(shopline_sandbox, token_shop):
    make_adapter(shopline_sandbox, token_shop, user_agent="OneEC").check_credentials()
    assert shopline_sandbox.user_agents[-1] == "OneEC"


def test_wrong_static_token_is_credentials_invalid_and_masked(shopline_sandbox, token_shop):
    shop = {**token_shop, "credentials": {"access_token": "f" * 64}}
    adapter = make_adapter(shopline_sandbox, shop)
    with pytest.raises(CredentialsInvalid, match="access token is invalid") as info:
        adapter.check_credentials()
    assert "f" * 64 not in str(info.value)
    assert shopline_sandbox.calls() == 1
    with pytest.raises(CredentialsInvalid, match="no access_token"):
        make_adapter(shopline_sandbox, {**token_shop, "credentials": {}}).check_credentials()


def test_static_token_model_has_no_oauth(token_adapter):
    with pytest.raises(PermanentError, match="static API token"):
        token_adapter.refresh(TokenSet(access_token="x", refresh_token="y"))


def test_paging_reads_every_page_once(token_adapter, shopline_sandbox, token_shop):
    ids = shopline_sandbox.generate_orders(token_shop["shop_id"], 101, start=NOW - timedelta(hours=5), end=NOW)
    orders = _fetch(token_adapter, NOW - timedelta(days=1), NOW)
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert shopline_sandbox.calls("/v1/orders") == 3  # 50 + 50 + 1


@pytest.mark.parametrize(("count", "pages"), [(0, 1), (49, 1), (50, 1), (51, 2), (100, 2)])
def test_page_boundaries(shopline_sandbox, token_shop, count, pages):
    adapter = make_adapter(shopline_sandbox, token_shop)
    ids = shopline_sandbox.generate_orders(token_shop["shop_id"], count, start=NOW - timedelta(hours=1), end=NOW)
    assert sorted(o.external_id for o in _fetch(adapter, NOW - timedelta(hours=2), NOW)) == sorted(ids)
    assert shopline_sandbox.calls("/v1/orders") == pages


def test_per_page_is_configurable(shopline_sandbox, token_shop):
    shopline_sandbox.generate_orders(token_shop["shop_id"], 7, start=NOW - timedelta(hours=1), end=NOW)
    adapter = make_adapter(shopline_sandbox, token_shop, per_page=3)
    assert len(_fetch(adapter, NOW - timedelta(hours=2), NOW)) == 7
    assert shopline_sandbox.calls("/v1/orders") == 3


def test_utc_filters_are_inclusive_but_windows_yield_each_order_once(token_adapter, shopline_sandbox, token_shop):
    # 23:59:59 and 00:00:00 Asia/Taipei = 15:59:59 and 16:00:00 UTC
    late, midnight = datetime(2026, 3, 14, 15, 59, 59, tzinfo=UTC), datetime(2026, 3, 14, 16, 0, tzinfo=UTC)
    a, b = shopline_sandbox.generate_orders(token_shop["shop_id"], 2, times=[late, midnight])
    first = _fetch(token_adapter, midnight - timedelta(hours=1), midnight)
    second = _fetch(token_adapter, midnight, midnight + timedelta(hours=1))
    assert [o.external_id for o in first] == [a] and [o.external_id for o in second] == [b]
    # the sandbox itself is inclusive on both ends: the first window's request also saw b
    assert shopline_sandbox.calls("/v1/orders") == 2


def test_non_aligned_window_split_still_yields_each_order_once(token_adapter, shopline_sandbox, token_shop):
    times = [datetime(2026, 3, 14, 15, 59, 59, tzinfo=UTC), datetime(2026, 3, 14, 16, 0, tzinfo=UTC)]
    ids = shopline_sandbox.generate_orders(token_shop["shop_id"], 2, times=times)
    shopline_sandbox.update_order(token_shop["shop_id"], ids[0], address={"address_1": "新地址1號"})  # at NOW
    split = NOW - timedelta(microseconds=500)
    got = _fetch(token_adapter, times[0] - timedelta(hours=1), split) + _fetch(token_adapter, split, NOW + timedelta(
        seconds=1))
    assert sorted(o.external_id for o in got) == sorted(ids)


def test_changes_are_seen_but_delivery_changes_do_not_bump_updated_at(token_adapter, shopline_sandbox, token_shop):
    shop = token_shop["shop_id"]
    (oid,) = shopline_sandbox.generate_orders(shop, 1, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=2),
                                              status="ready_to_ship")
    shopline_sandbox.clock.advance(hours=1)
    shopline_sandbox.update_order(shop, oid, delivery_status="arrived")
    later = NOW + timedelta(minutes=30)
    assert _fetch(token_adapter, NOW, later) == []
    shopline_sandbox.update_order(shop, oid, status="cancelled")
    (order,) = _fetch(token_adapter, NOW, later + timedelta(hours=1))
    assert order.status == "cancelled" and order.updated_at == NOW + timedelta(hours=1)


def test_get_orders_rereads_and_leaves_out_archived_and_missing(token_adapter, shopline_sandbox, token_shop, caplog):
    shop = token_shop["shop_id"]
    a, b = shopline_sandbox.generate_orders(shop, 2, status="paid")
    shopline_sandbox.update_order(shop, b, archived=True)
    got = token_adapter.get_orders([a, b, "0" * 24])
    assert [o.external_id for o in got] == [a] and got[0].status == "paid"
    assert f"{b}, {'0' * 24} not re-read" in caplog.text
    assert shopline_sandbox.calls("/v1/orders") == 1  # one listing call for the whole batch
    assert [o.external_id for o in _fetch(token_adapter, NOW - timedelta(days=1), NOW)] == [a]
    one_by_one = make_adapter(shopline_sandbox, token_shop, reread_by_list=False)
    caplog.clear()
    assert [o.external_id for o in one_by_one.get_orders([b, a, "0" * 24])] == [a]
    assert "archived (HTTP 410" in caplog.text and "Order not found" in caplog.text


def test_get_orders_batches_and_falls_back_when_order_ids_are_ignored(caplog):
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True), honor_order_ids=False) as sandbox:
        shop = sandbox.add_shop()
        ids = sandbox.generate_orders(shop["shop_id"], 5, start=NOW - timedelta(hours=1), end=NOW)
        adapter = make_adapter(sandbox, shop, per_page=2)
        got = adapter.get_orders(ids[:3])
        assert [o.external_id for o in got] == ids[:3]
        assert "ignored order_ids[]" in caplog.text
        assert sandbox.calls("/v1/orders") == 2 + 3  # two listings that ignored the filter, then 3 GETs
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True)) as sandbox:
        shop = sandbox.add_shop()
        ids = sandbox.generate_orders(shop["shop_id"], 5, start=NOW - timedelta(hours=1), end=NOW)
        got = make_adapter(sandbox, shop, per_page=2).get_orders(list(reversed(ids)))
        assert [o.external_id for o in got] == list(reversed(ids)) and sandbox.calls("/v1/orders") == 3


@pytest.mark.parametrize("call", ["execute_shipment", "order_delivery"])
def test_ship_with_either_configured_call(shopline_sandbox, token_shop, call):
    shop = token_shop["shop_id"]
    shopline_sandbox.generate_orders(shop, 1, status="ready_to_ship")
    adapter = make_adapter(shopline_sandbox, token_shop, shipment_call=call)
    (order,) = _fetch(adapter, NOW - timedelta(days=1), NOW)
    result = adapter.ship(order, Shipment(tracking_number="TW123456789", carrier="黑貓宅急便"))
    assert result.tracking_number == "TW123456789"
    recorded = shopline_sandbox.shipment_of(shop, order.external_id)
    assert recorded["tracking_number"] == "TW123456789"
    path = "/execute_shipment" if call == "execute_shipment" else "/v1/order_deliveries/"
    assert shopline_sandbox.calls(path) == 1
    # shipping does not bump updated_at: nothing new in a later window
    assert _fetch(adapter, NOW, NOW + timedelta(hours=1)) == []


def test_repeated_ship_is_accepted_and_a_real_refusal_is_permanent(token_adapter, shopline_sandbox, token_shop):
    shop = token_shop["shop_id"]
    a, b = shopline_sandbox.generate_orders(shop, 2, status="ready_to_ship")
    orders = {o.external_id: o for o in _fetch(token_adapter, NOW - timedelta(days=1), NOW)}
    token_adapter.ship(orders[a], Shipment(tracking_number="T-1"))
    assert token_adapter.ship(orders[a], Shipment(tracking_number="T-1")).tracking_number == "T-1"
    with pytest.raises(PermanentError, match="already shipped"):
        token_adapter.ship(orders[a], Shipment(tracking_number="T-2"))
    shopline_sandbox.update_order(shop, b, status="cancelled")
    with pytest.raises(PermanentError, match="Order is cancelled"):
        token_adapter.ship(orders[b], Shipment(tracking_number="T-3"))


def test_unknown_shipment_call_is_a_clear_error(shopline_sandbox, token_shop):
    shopline_sandbox.generate_orders(token_shop["shop_id"], 1)
    adapter = make_adapter(shopline_sandbox, token_shop, shipment_call="carrier_pigeon")
    (order,) = _fetch(adapter, NOW - timedelta(days=1), NOW)
    with pytest.raises(PermanentError, match="carrier_pigeon"):
        adapter.ship(order, Shipment(tracking_number="T"))


# -- OAuth model ------------------------------------------------------------------------------------------
def test_oauth_authorize_exchange_and_fetch(shopline_sandbox, oauth_shop):
    adapter = authorize(shopline_sandbox, oauth_shop)
    assert adapter.uses_oauth is True
    tokens = adapter.tokens
    assert tokens.access_expires_at == NOW + timedelta(days=1)
    assert tokens.refresh_expires_at == tokens.access_expires_at + timedelta(days=1)
    assert tokens.extra["shop_id"] == oauth_shop["shop_id"]
    assert "access_token='****'" in repr(tokens)
    shopline_sandbox.generate_orders(oauth_shop["shop_id"], 3)
    assert len(_fetch(adapter, NOW - timedelta(days=1), NOW)) == 3


def test_denied_or_reused_code_is_refused(shopline_sandbox, oauth_shop):
    adapter = make_adapter(shopline_sandbox, oauth_shop)
    denied = shopline_sandbox.consent(adapter.authorize_url("http://127.0.0.1:9/cb", "s"), deny=True)
    with pytest.raises(PermanentError, match="access_denied"):
        adapter.exchange_code(denied)
    params = shopline_sandbox.consent(adapter.authorize_url("http://127.0.0.1:9/cb", "s"))
    adapter.exchange_code(params)
    with pytest.raises(ReauthRequired, match="invalid_grant|grant is invalid"):
        adapter.exchange_code(params)


def test_expired_access_token_is_auth_expired_then_refresh_rotates(shopline_sandbox, oauth_shop):
    adapter = authorize(shopline_sandbox, oauth_shop)
    old = adapter.tokens
    shopline_sandbox.clock.advance(days=1, seconds=1)
    with pytest.raises(AuthExpired, match="expired"):
        adapter.check_credentials()
    new = adapter.refresh(old)
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    adapter.set_tokens(new)
    assert "Shopline token accepted" in adapter.check_credentials()
    with pytest.raises(ReauthRequired, match="authorize"):
        adapter.refresh(old)  # the used refresh token is dead


def test_refresh_token_death_one_day_after_access_expiry_is_surfaced(shopline_sandbox, oauth_shop):
    adapter = authorize(shopline_sandbox, oauth_shop)
    tokens = adapter.tokens
    shopline_sandbox.clock.advance(days=2, seconds=1)  # access expired 1 day + 1 s ago
    calls = shopline_sandbox.calls()
    with pytest.raises(ReauthRequired) as info:
        adapter.refresh(tokens)
    message = str(info.value)
    assert "refresh token expired" in message and "one day after the access token expired" in message
    assert "merchant must authorize" in message
    assert shopline_sandbox.calls() == calls  # decided locally, no call
    # the sandbox agrees: even without our local check the grant is refused
    unknown_expiry = TokenSet(access_token=tokens.access_token, refresh_token=tokens.refresh_token)
    with pytest.raises(ReauthRequired, match="grant is invalid"):
        adapter.refresh(unknown_expiry)


def test_refresh_just_before_death_still_works(shopline_sandbox, oauth_shop):
    adapter = authorize(shopline_sandbox, oauth_shop)
    shopline_sandbox.clock.advance(days=2, seconds=-1)
    assert adapter.refresh(adapter.tokens).access_expires_at == shopline_sandbox.clock.now() + timedelta(days=1)


def test_uninstalled_app_needs_reauthorization(shopline_sandbox, oauth_shop):
    adapter = authorize(shopline_sandbox, oauth_shop)
    shopline_sandbox.revoke(oauth_shop["shop_id"])
    with pytest.raises(AuthExpired, match="revoked"):
        adapter.check_credentials()
    with pytest.raises(ReauthRequired):
        adapter.refresh(adapter.tokens)


def test_oauth_channel_without_tokens_says_authorize(shopline_sandbox, oauth_shop):
    with pytest.raises(ReauthRequired, match="not authorized yet"):
        make_adapter(shopline_sandbox, oauth_shop).check_credentials()


def test_wrong_app_secret_is_an_admin_problem_not_a_reauthorization(shopline_sandbox, oauth_shop):
    adapter = make_adapter(shopline_sandbox, oauth_shop)
    params = shopline_sandbox.consent(adapter.authorize_url("http://127.0.0.1:9/cb", "s"))
    adapter = ShoplineAdapter(PlatformConfig(host=shopline_sandbox.base_url, app_id=shopline_sandbox.client_id,
                                             app_secret="wrong-secret"), adapter.channel, policy=adapter.policy)
    with pytest.raises(CredentialsInvalid, match="app id and app secret") as info:
        adapter.exchange_code(params)
    assert "wrong-secret" not in str(info.value)


def test_sandboxes_are_deterministic():
    a, b = ShoplineSandbox(seed=5), ShoplineSandbox(seed=5)
    shop_a, shop_b = a.add_shop(), b.add_shop()
    assert shop_a["shop_id"] == shop_b["shop_id"]
    ids_a = a.generate_orders(shop_a["shop_id"], 3, start=NOW - timedelta(hours=1), end=NOW)
    ids_b = b.generate_orders(shop_b["shop_id"], 3, start=NOW - timedelta(hours=1), end=NOW)
    assert ids_a == ids_b
    assert a.shops[shop_a["shop_id"]].orders[ids_a[0]]["delivery_address"] == \
        b.shops[shop_b["shop_id"]].orders[ids_b[0]]["delivery_address"]


def test_ship_whose_answer_times_out_is_retried_without_doubling(shopline_sandbox, token_shop):
    shop = token_shop["shop_id"]
    (oid,) = shopline_sandbox.generate_orders(shop, 1, status="ready_to_ship")
    def shipped() -> bool:
        return (shopline_sandbox.shipment_of(shop, oid) or {}).get("tracking_number") == "TW-42"

    policy = lost_answer_policy(shipped, lambda: token_adapter.client.http)
    token_adapter = make_adapter(shopline_sandbox, token_shop, policy=policy)
    (order,) = _fetch(token_adapter, NOW - timedelta(days=1), NOW)
    shopline_sandbox.faults.inject("timeout", path="/execute_shipment", delay=LOST_STALL)
    assert token_adapter.ship(order, Shipment(tracking_number="TW-42")).tracking_number == "TW-42"
    assert shopline_sandbox.shipment_of(shop, oid)["tracking_number"] == "TW-42"


def test_per_page_above_the_servers_maximum_still_reads_everything():
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True), max_per_page=20) as sandbox:
        shop = sandbox.add_shop()
        ids = sandbox.generate_orders(shop["shop_id"], 45, start=NOW - timedelta(hours=1), end=NOW)
        adapter = make_adapter(sandbox, shop, per_page=500)
        assert sorted(o.external_id for o in _fetch(adapter, NOW - timedelta(hours=2), NOW)) == sorted(ids)
        assert sandbox.calls("/v1/orders") == 3


def test_endless_paging_is_cut_by_max_pages(shopline_sandbox, token_shop):
    shopline_sandbox.generate_orders(token_shop["shop_id"], 7, start=NOW - timedelta(hours=1), end=NOW)
    adapter = make_adapter(shopline_sandbox, token_shop, per_page=3, max_pages=2)
    with pytest.raises(PermanentError, match="max_pages"):
        list(adapter.fetch_orders(NOW - timedelta(hours=2), NOW))


def test_refresh_whose_answer_is_lost_can_be_retried(shopline_sandbox, oauth_shop):
    authorized = authorize(shopline_sandbox, oauth_shop)
    issued = len(shopline_sandbox.tokens)
    policy = lost_answer_policy(lambda: len(shopline_sandbox.tokens) > issued, lambda: adapter.oauth.http)
    adapter = make_adapter(shopline_sandbox, oauth_shop, authorized.tokens, policy=policy)
    old = adapter.tokens
    shopline_sandbox.faults.inject("timeout", path="/oauth/token", delay=LOST_STALL)
    new = adapter.refresh(old)  # the first grant times out after Shopline issued it; the retry still works
    assert new.access_token != old.access_token
    assert shopline_sandbox.calls("/oauth/token") >= 3  # code grant, lost refresh, retried refresh
    adapter.set_tokens(new)
    adapter.check_credentials()  # first use of the new token retires the old refresh token
    with pytest.raises(ReauthRequired):
        adapter.refresh(old)
