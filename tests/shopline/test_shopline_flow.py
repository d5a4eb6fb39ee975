"""Shopline end to end over real HTTP against ShoplineSandbox: User-Agent, tokens, OAuth, paging, windows, archives."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
import requests
from shopline_kit import LOST_STALL, NOW, authorize, lost_answer_policy, make_adapter

from oms_bridge.remote.http import RetryPolicy
from platforms.base import (
    AuthExpired,
    ChannelConfig,
    CredentialsInvalid,
    Order,
    OrderRef,
    PermanentError,
    PlatformConfig,
    ReauthRequired,
    TokenSet,
)
from platforms.registry import adapter_class
from platforms.shopline.adapter import ShoplineAdapter
from sandboxes.server import RateLimiter, SandboxClock
from sandboxes.shopline import ACCESS_TTL, ShoplineSandbox


def _fetch(adapter, since, until) -> list[Order]:
    orders = list(adapter.fetch_orders(since, until))
    assert all(isinstance(o, Order) for o in orders), orders
    return orders


def _pages(count: int, per_page: int = 50) -> int:
    """List calls of one window: page 1, then the last page back to 2, then page 1 again (adapter docstring)."""
    pages = -(-count // per_page)
    return 1 if pages <= 1 else pages + 1


# -- requests -----------------------------------------------------------------------------------------------
def test_registry_and_token_model(token_adapter, shopline_sandbox):
    assert adapter_class("shopline") is ShoplineAdapter
    assert token_adapter.uses_oauth is False
    assert "林家茶行 (linstea)" in token_adapter.check_credentials()
    assert shopline_sandbox.user_agents[-1] == shopline_sandbox.app_handle


def test_a_missing_user_agent_is_a_clear_error_before_any_call(shopline_sandbox, token_shop):
    adapter = make_adapter(shopline_sandbox, token_shop, user_agent="")
    adapter.platform = PlatformConfig(host=shopline_sandbox.base_url)  # no platform settings either
    with pytest.raises(PermanentError, match="User-Agent carrying the app's handle code.*user_agent"):
        adapter.check_credentials()
    assert shopline_sandbox.calls() == 0


def test_a_user_agent_without_the_handle_code_is_refused(shopline_sandbox, token_shop):
    """Regression (issue 12): round one sent "oms-bridge"; the request-example page requires the handle code."""
    adapter = make_adapter(shopline_sandbox, token_shop, user_agent="oms-bridge")
    with pytest.raises(PermanentError, match="HTTP 403.*handle code.*platform setting user_agent"):
        adapter.check_credentials()
    assert shopline_sandbox.calls() == 1  # permanent: not retried


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


def test_twenty_requests_a_second_then_the_documented_429_is_waited_out():
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True)) as sandbox:
        now = [0.0]
        sandbox.limiter = RateLimiter(20, sandbox.clock, monotonic=lambda: now[0])
        shop = sandbox.add_shop()
        waits: list[float] = []

        def sleep(seconds: float) -> None:  # the next one-second window opens
            waits.append(seconds)
            now[0] += seconds

        adapter = make_adapter(sandbox, shop, policy=RetryPolicy(max_attempts=3, sleep=sleep))
        for _ in range(21):
            adapter.check_credentials()
        assert waits == [1.0] and sandbox.calls() == 22
        answer = requests.get(f"{sandbox.base_url}/v1/token/info", timeout=5, headers={
            "Authorization": f"Bearer {shop['credentials']['access_token']}", "User-Agent": sandbox.app_handle})
        for _ in range(19):
            requests.get(f"{sandbox.base_url}/v1/token/info", timeout=5, headers=answer.request.headers)
        limited = requests.get(f"{sandbox.base_url}/v1/token/info", timeout=5, headers=answer.request.headers)
        assert limited.status_code == 429 and limited.json()["code"] == "RateLimitExceeded"
        assert "Retry-After" not in limited.headers


# -- paging and windows -------------------------------------------------------------------------------------
def test_paging_reads_every_page_once(token_adapter, shopline_sandbox, token_shop):
    ids = shopline_sandbox.generate_orders(token_shop["shop_id"], 101, start=NOW - timedelta(hours=5), end=NOW)
    orders = _fetch(token_adapter, NOW - timedelta(days=1), NOW)
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert shopline_sandbox.calls("/v1/orders") == _pages(101) == 4  # 1, 3, 2, 1


@pytest.mark.parametrize("count", [0, 49, 50, 51, 100])
def test_page_boundaries(shopline_sandbox, token_shop, count):
    adapter = make_adapter(shopline_sandbox, token_shop)
    ids = shopline_sandbox.generate_orders(token_shop["shop_id"], count, start=NOW - timedelta(hours=1), end=NOW)
    assert sorted(o.external_id for o in _fetch(adapter, NOW - timedelta(hours=2), NOW)) == sorted(ids)
    assert shopline_sandbox.calls("/v1/orders") == _pages(count)


def test_per_page_is_configurable(shopline_sandbox, token_shop):
    shopline_sandbox.generate_orders(token_shop["shop_id"], 7, start=NOW - timedelta(hours=1), end=NOW)
    adapter = make_adapter(shopline_sandbox, token_shop, per_page=3)
    assert len(_fetch(adapter, NOW - timedelta(hours=2), NOW)) == 7
    assert shopline_sandbox.calls("/v1/orders") == _pages(7, 3)


@pytest.mark.parametrize("when", ["after page 1", "after the last page"])
def test_an_order_updated_while_paging_makes_no_other_order_disappear(shopline_sandbox, token_shop, when):
    """Pages are numbered over a list sorted by creation: an order leaving the window shifts the later ones up.
    Read forwards (1, 2, 3), the order moving from page 2 to page 1 is never seen; the adapter's pass is not."""
    shop = token_shop["shop_id"]
    ids = shopline_sandbox.generate_orders(shop, 9, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=1))
    adapter = make_adapter(shopline_sandbox, token_shop, per_page=3)
    seen = []
    for order in adapter.fetch_orders(NOW - timedelta(days=1), NOW - timedelta(minutes=30)):
        seen.append(order.external_id)
        if (when == "after page 1" and len(seen) == 3) or (when == "after the last page" and len(seen) == 6):
            shopline_sandbox.clock.advance(minutes=10)
            shopline_sandbox.update_order(shop, seen[0], address={"address_1": "新地址1號"})  # leaves the window
    assert sorted(seen) == sorted(ids) and len(seen) == len(set(seen))


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


def test_list_orders_is_the_fetch_pass_without_mapping(token_adapter, shopline_sandbox, token_shop):
    shop = token_shop["shop_id"]
    ids = shopline_sandbox.generate_orders(shop, 7, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=1))
    shopline_sandbox.update_order(shop, ids[0], archived=True)
    adapter = make_adapter(shopline_sandbox, token_shop, per_page=3)
    refs = list(adapter.list_orders(NOW - timedelta(days=1), NOW))
    assert all(isinstance(r, OrderRef) and r.updated_at and r.platform_status for r in refs)
    assert sorted(r.external_id for r in refs) == sorted(ids[1:])
    assert shopline_sandbox.calls() == shopline_sandbox.calls("/v1/orders") == _pages(7, 3)  # no detail call
    assert [r.external_id for r in adapter.list_orders(NOW - timedelta(minutes=59), NOW)] == []


def test_generated_unpaid_orders_read_as_unpaid_whatever_the_payment_type(token_adapter, shopline_sandbox,
                                                                           token_shop):
    """The sandbox's ``status="unpaid"`` is unpaid for the mapper too: a cash-on-delivery order counts as paid (it is
    payable on delivery), so an unpaid one is prepaid; before, one in three came out ready to ship."""
    shop = token_shop["shop_id"]
    shopline_sandbox.generate_orders(shop, 12, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=1),
                                     status="unpaid")
    orders = _fetch(token_adapter, NOW - timedelta(days=1), NOW)
    assert len(orders) == 12 and {o.status for o in orders} == {"unpaid"}
    assert shopline_sandbox.detail_calls() == 0  # a window's listing carries whole orders
    token_adapter.get_orders([orders[0].external_id])
    assert shopline_sandbox.detail_calls() == 1  # reading an order by number is one


# -- archived orders and re-reads ---------------------------------------------------------------------------
def test_archived_orders_are_left_out_never_held(token_adapter, shopline_sandbox, token_shop, caplog):
    """Get Orders marks an archived order; Get Order answers 410. Either way the stored copy stays as it is."""
    caplog.set_level(logging.INFO, logger="oms_bridge.platforms.shopline")
    shop = token_shop["shop_id"]
    a, b = shopline_sandbox.generate_orders(shop, 2, status="paid")
    shopline_sandbox.update_order(shop, b, archived=True)
    assert [o.external_id for o in token_adapter.fetch_orders(NOW - timedelta(days=1), NOW)] == [a]
    assert f"{b} is archived" in caplog.text
    caplog.clear()
    got = token_adapter.get_orders([a, b, "0" * 24])
    assert [o.external_id for o in got] == [a] and got[0].status == "paid"
    assert f"{b}, {'0' * 24} not re-read" in caplog.text
    assert shopline_sandbox.calls("/v1/orders") == 2  # one window listing, one listing for the whole re-read
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


def test_per_page_above_the_servers_maximum_still_reads_everything():
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True), max_per_page=20) as sandbox:
        shop = sandbox.add_shop()
        ids = sandbox.generate_orders(shop["shop_id"], 45, start=NOW - timedelta(hours=1), end=NOW)
        adapter = make_adapter(sandbox, shop, per_page=500)
        assert sorted(o.external_id for o in _fetch(adapter, NOW - timedelta(hours=2), NOW)) == sorted(ids)
        assert sandbox.calls("/v1/orders") == 4  # 1, 3, 2, 1


def test_endless_paging_is_cut_by_max_pages(shopline_sandbox, token_shop):
    shopline_sandbox.generate_orders(token_shop["shop_id"], 7, start=NOW - timedelta(hours=1), end=NOW)
    adapter = make_adapter(shopline_sandbox, token_shop, per_page=3, max_pages=2)
    with pytest.raises(PermanentError, match="max_pages"):
        list(adapter.fetch_orders(NOW - timedelta(hours=2), NOW))


def test_sandboxes_are_deterministic():
    a, b = ShoplineSandbox(seed=5), ShoplineSandbox(seed=5)
    shop_a, shop_b = a.add_shop(), b.add_shop()
    assert shop_a["shop_id"] == shop_b["shop_id"]
    ids_a = a.generate_orders(shop_a["shop_id"], 3, start=NOW - timedelta(hours=1), end=NOW)
    ids_b = b.generate_orders(shop_b["shop_id"], 3, start=NOW - timedelta(hours=1), end=NOW)
    assert ids_a == ids_b
    assert a.shops[shop_a["shop_id"]].orders[ids_a[0]]["delivery_address"] == \
        b.shops[shop_b["shop_id"]].orders[ids_b[0]]["delivery_address"]


# -- OAuth --------------------------------------------------------------------------------------------------
def test_oauth_lives_on_the_developers_host_and_gives_six_month_tokens(shopline_sandbox, oauth_shop):
    """Regression (issue 12): round one authorized on the API host and read merchant_id; the developers host
    issues the tokens, with resource_owner_id and expires_in 15778476."""
    adapter = authorize(shopline_sandbox, oauth_shop)
    assert adapter.uses_oauth is True
    tokens = adapter.tokens
    assert tokens.access_expires_at == NOW + timedelta(seconds=ACCESS_TTL)
    assert tokens.refresh_expires_at == tokens.access_expires_at + timedelta(days=1)
    assert tokens.extra["shop_id"] == tokens.extra["resource_owner_id"] == oauth_shop["shop_id"]
    assert "access_token='****'" in repr(tokens)
    assert shopline_sandbox.calls("/oauth/") == 2  # authorize page + code grant, both on the developers host
    assert requests.post(f"{shopline_sandbox.base_url}/oauth/token", timeout=5).status_code == 404  # not the API
    shopline_sandbox.generate_orders(oauth_shop["shop_id"], 3)
    assert len(_fetch(adapter, NOW - timedelta(days=1), NOW)) == 3


def test_the_default_oauth_host_is_shoplines_developers_host():
    adapter = ShoplineAdapter(PlatformConfig(host="http://127.0.0.1:9", app_id="app", app_secret="s"),
                              ChannelConfig(name="c", shop_id="m1", settings={"auth_model": "oauth"}))
    url = adapter.authorize_url("https://bridge.example/oauth/callback/shopline", "st")
    assert url.startswith("https://developers.shoplineapp.com/oauth/authorize?client_id=app&")
    assert "response_type=code" in url and "merchant_id=m1" in url


def test_denied_reused_or_late_codes_are_refused(shopline_sandbox, oauth_shop):
    adapter = make_adapter(shopline_sandbox, oauth_shop)
    denied = shopline_sandbox.consent(adapter.authorize_url("http://127.0.0.1:9/cb", "s"), deny=True)
    with pytest.raises(PermanentError, match="access_denied"):
        adapter.exchange_code(denied)
    params = shopline_sandbox.consent(adapter.authorize_url("http://127.0.0.1:9/cb", "s"))
    adapter.exchange_code(params, "http://127.0.0.1:9/cb")
    with pytest.raises(ReauthRequired, match="grant is invalid"):
        adapter.exchange_code(params, "http://127.0.0.1:9/cb")
    late = shopline_sandbox.consent(adapter.authorize_url("http://127.0.0.1:9/cb", "s"))
    shopline_sandbox.clock.advance(seconds=601)  # "the code will become invalid after 600 seconds"
    with pytest.raises(ReauthRequired, match="grant is invalid"):
        adapter.exchange_code(late, "http://127.0.0.1:9/cb")


def test_a_token_for_another_merchant_is_refused(shopline_sandbox, oauth_shop):
    other = shopline_sandbox.add_shop(auth_model="oauth")
    adapter = make_adapter(shopline_sandbox, oauth_shop)
    url = adapter.authorize_url("http://127.0.0.1:9/cb", "s").replace(oauth_shop["shop_id"], other["shop_id"])
    with pytest.raises(PermanentError, match=f"authorized Shopline merchant {other['shop_id']}.*set up for merchant"):
        adapter.exchange_code(shopline_sandbox.consent(url), "http://127.0.0.1:9/cb")


def test_expired_access_token_is_auth_expired_then_refresh_rotates(shopline_sandbox, oauth_shop):
    adapter = authorize(shopline_sandbox, oauth_shop)
    old = adapter.tokens
    shopline_sandbox.clock.advance(seconds=ACCESS_TTL + 1)
    with pytest.raises(AuthExpired, match="expired"):
        adapter.check_credentials()
    new = adapter.refresh(old)
    assert new.access_token != old.access_token and new.refresh_token != old.refresh_token
    assert new.access_expires_at == shopline_sandbox.clock.now() + timedelta(seconds=ACCESS_TTL)
    adapter.set_tokens(new)
    assert "Shopline token accepted" in adapter.check_credentials()
    with pytest.raises(ReauthRequired, match="authorize"):
        adapter.refresh(old)  # the used refresh token is dead


def test_refresh_sends_the_registered_redirect_uri():
    """Regression (issue 12): the refresh page lists redirect_uri; round one did not send it."""
    callback = "https://bridge.example/oauth/callback/shopline"
    with ShoplineSandbox(clock=SandboxClock(NOW, frozen=True), redirect_uris={callback}) as sandbox:
        shop = sandbox.add_shop(auth_model="oauth")
        adapter = make_adapter(sandbox, shop, redirect_uri=None)
        adapter.platform = PlatformConfig(**{**sandbox.platform_fields(), "settings": {
            k: v for k, v in sandbox.platform_fields()["settings"].items() if k != "redirect_uri"}})
        params = sandbox.consent(adapter.authorize_url(callback, "s"))
        first = adapter.refresh(adapter.exchange_code(params, callback))  # the authorization's URL, remembered
        stored = TokenSet(access_token=first.access_token, refresh_token=first.refresh_token)
        with pytest.raises(PermanentError, match="set the platform setting redirect_uri"):
            adapter.refresh(stored)  # read back from the store: the extras are gone, the setting is needed
        calls = sandbox.calls("/oauth/token")
        wrong = make_adapter(sandbox, shop, redirect_uri="https://elsewhere.example/cb")
        with pytest.raises(PermanentError, match="redirect_uri"):
            wrong.refresh(stored)
        assert sandbox.calls("/oauth/token") == calls + 1
        assert make_adapter(sandbox, shop, redirect_uri=callback).refresh(stored).access_token


def test_refresh_token_death_one_day_after_access_expiry_is_surfaced(shopline_sandbox, oauth_shop):
    adapter = authorize(shopline_sandbox, oauth_shop)
    tokens = adapter.tokens
    shopline_sandbox.clock.advance(seconds=ACCESS_TTL + 86400 + 1)  # access expired 1 day + 1 s ago
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
    shopline_sandbox.clock.advance(seconds=ACCESS_TTL + 86400 - 1)
    refreshed = adapter.refresh(adapter.tokens)
    assert refreshed.access_expires_at == shopline_sandbox.clock.now() + timedelta(seconds=ACCESS_TTL)


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
    fields = shopline_sandbox.platform_fields()
    adapter = ShoplineAdapter(PlatformConfig(host=fields["host"], app_id=fields["app_id"], app_secret="wrong-secret",
                                             settings=fields["settings"]), adapter.channel, policy=adapter.policy)
    with pytest.raises(CredentialsInvalid, match="app id and app secret") as info:
        adapter.exchange_code(params, "http://127.0.0.1:9/cb")
    assert "wrong-secret" not in str(info.value)


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
