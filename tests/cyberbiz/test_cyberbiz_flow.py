"""Cyberbiz end to end over real HTTP against the sandbox: V1 and V2 auth, paging, windows, shipping."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from cyberbiz_kit import NOW, ONE_SHOT, REDIRECT, build_adapter

from oms_bridge.remote.http import RetryPolicy
from platforms.base import (
    AuthExpired,
    CredentialsInvalid,
    NotSupported,
    Order,
    OutcomeUnknown,
    PermanentError,
    ReauthRequired,
    Shipment,
)
from platforms.cyberbiz.mapping import TAIPEI

HOUR = timedelta(hours=1)


def fetch(adapter, since=NOW - 24 * HOUR, until=NOW + HOUR) -> list:
    return list(adapter.fetch_orders(since, until))


# ------------------------------------------------------------------------------------------ V1
def test_cyberbiz_v1_flow_check_fetch_ship(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v1")
    assert not adapter.uses_oauth
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 3, status="paid")
    assert "3 orders visible" in adapter.check_credentials()
    orders = fetch(adapter)
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert all(isinstance(o, Order) and o.status == "paid" for o in orders)
    assert all(isinstance(o.total, Decimal) and o.created_at.tzinfo is not None for o in orders)
    target = orders[0]
    result = adapter.ship(target, Shipment("TW123456789", carrier="SEVEN"))
    assert result.tracking_number == "TW123456789"
    recorded = cbz_sandbox.shipment_of(shop["shop_id"], target.external_id)
    assert recorded["tracking_number"] == "TW123456789" and recorded["carrier"] == "SEVEN"
    assert [str(i) for i in recorded["line_item_ids"]] == [line.external_line_id for line in target.lines]
    assert adapter.get_orders([target.external_id])[0].status == "shipped"
    with pytest.raises(NotSupported):
        adapter.authorize_url(REDIRECT, "s")


@pytest.mark.parametrize("kong_status", [401, 403], ids=["kong-current", "kong-before-1.0"])
def test_cyberbiz_v1_wrong_secret_is_credentials_invalid(cbz_sandbox, kong_status):
    """Current Kong answers HMAC failures with 401 (access.lua), Kong before 1.0 with 403: both are bad keys."""
    cbz_sandbox.kong_status = kong_status
    shop = cbz_sandbox.add_shop(auth_model="v1")
    bad = {**shop, "credentials": {"username": shop["credentials"]["username"], "secret": "s3cr3t-XYZ"}}
    with pytest.raises(CredentialsInvalid, match="HMAC signature does not match.*secret") as caught:
        build_adapter(cbz_sandbox, bad).check_credentials()
    assert "s3cr3t-XYZ" not in str(caught.value) and caught.value.status == kong_status
    unknown = {**shop, "credentials": {"username": "nobody", "secret": "x"}}
    with pytest.raises(CredentialsInvalid, match="HMAC signature cannot be verified"):
        build_adapter(cbz_sandbox, unknown).check_credentials()


def test_cyberbiz_v1_clock_skew_over_300s_is_refused_with_a_clock_hint(cbz_sandbox, make_adapter):
    adapter, _shop = make_adapter("v1")
    adapter.clock = lambda: NOW - timedelta(seconds=299)
    adapter.check_credentials()  # inside Kong's allowed skew
    adapter.clock = lambda: NOW + timedelta(seconds=301)
    with pytest.raises(CredentialsInvalid, match="valid date or x-date.*server's time"):
        adapter.check_credentials()


def test_cyberbiz_v1_kong_verifies_the_path_with_its_query_and_the_bare_path(cbz_sandbox, make_adapter):
    """Kong (access.lua) checks the request line with the query, then (deprecated, still there) the bare path.

    So the 3P sample that signs ``GET /v1/orders`` but sends a query is accepted too; a signature over any
    other path is refused with 401 ``HMAC signature does not match``. Our client signs path and query.
    """
    from platforms.cyberbiz.signing import authorization_header, http_date, signature, signing_string

    _adapter, shop = make_adapter("v1")
    x_date = http_date(NOW)
    creds = shop["credentials"]

    def get(signed_path: str):
        sig = signature(creds["secret"], signing_string(x_date, "GET", signed_path))
        return requests.get(cbz_sandbox.base_url + "/v1/orders?page=1", timeout=5, headers={
            "X-Date": x_date, "Authorization": authorization_header(creds["username"], sig)})

    assert get("/v1/orders?page=1").status_code == 200
    assert get("/v1/orders").status_code == 200
    refused = get("/v1/orders?page=2")
    assert refused.status_code == 401 and refused.json() == {"message": "HMAC signature does not match"}
    missing = requests.get(cbz_sandbox.base_url + "/v1/orders", timeout=5)
    assert missing.status_code == 401 and missing.json() == {"message": "Unauthorized"}


def test_cyberbiz_v1_missing_credentials_is_a_clear_error(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="v1")
    with pytest.raises(PermanentError, match="needs credentials 'username' and 'secret'"):
        build_adapter(cbz_sandbox, {**shop, "credentials": {}}, auth_model="v1").check_credentials()
    odd = build_adapter(cbz_sandbox, shop, auth_model="v3")  # built fine; refused with a reason on use
    with pytest.raises(PermanentError, match="auth_model 'v3' must be one of: 'token'.*'v2'.*'v1'"):
        odd.check_credentials()
    with pytest.raises(PermanentError, match="auth_model 'v3'"):
        odd.authorize_url(REDIRECT, "s")
    with pytest.raises(PermanentError, match="max_window_days = 'week' is not a number"):
        list(build_adapter(cbz_sandbox, shop, max_window_days="week").fetch_orders(NOW - HOUR, NOW))


# ------------------------------------------------------------------------------------------ V2
def test_cyberbiz_v2_authorize_exchange_fetch_ship(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2", authorize=False)
    assert adapter.uses_oauth
    url = adapter.authorize_url(REDIRECT, "state-xyz")
    assert url.startswith(cbz_sandbox.base_url + f"/_shops/{shop['shop_id']}/admin/oauth/authorize?")
    assert "response_type=code" in url and "client_id=" in url
    params = cbz_sandbox.consent(url)
    assert params["state"] == "state-xyz" and params["shop"] == shop["shop_id"]
    tokens = adapter.exchange_code(params, REDIRECT)
    assert tokens.access_expires_at == NOW + timedelta(seconds=cbz_sandbox.access_ttl)
    assert tokens.refresh_token and tokens.extra["shop"] == shop["shop_id"]
    assert "****" in repr(tokens) and tokens.access_token not in repr(tokens)
    with pytest.raises(ReauthRequired, match="授權碼無效"):
        adapter.exchange_code(params, REDIRECT)  # a code is single-use
    adapter.set_tokens(tokens)
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 2, status="ready_to_ship")
    orders = fetch(adapter)
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert {o.status for o in orders} == {"ready_to_ship"}
    adapter.ship(orders[1], Shipment("HCT-001", carrier="新竹貨運"))
    recorded = cbz_sandbox.shipment_of(shop["shop_id"], orders[1].external_id)
    assert recorded["tracking_number"] == "HCT-001" and recorded["carrier"] == "hct"
    mapped, _ = make_adapter("v2", carrier_map={"自家車隊": "cyberbiz_express"})
    mapped.set_tokens(adapter.tokens)
    mapped.ship(orders[0], Shipment("OWN-1", carrier="自家車隊"))
    assert cbz_sandbox.shipment_of(shop["shop_id"], orders[0].external_id)["carrier"] == "cyberbiz_express"


def test_cyberbiz_generated_money_adds_up(cbz_sandbox, make_adapter):
    """Line discounts, coupons and shipping in the sandbox's float payloads map to exact Decimals that add up."""
    adapter, shop = make_adapter("v1")
    cbz_sandbox.generate_orders(shop["shop_id"], 40)
    orders = fetch(adapter)
    assert any(line.discount for o in orders for line in o.lines) and any(o.discount for o in orders)
    for order in orders:
        net = sum(line.unit_price * line.qty - line.discount for line in order.lines)
        assert order.total == net + order.shipping_fee - order.discount


def test_cyberbiz_v2_refresh_rotates_and_the_old_refresh_token_dies(cbz_sandbox, make_adapter):
    adapter, _shop = make_adapter("v2")
    first = adapter.tokens
    cbz_sandbox.clock.advance(cbz_sandbox.access_ttl + 1)
    with pytest.raises(AuthExpired, match="HTTP 401"):
        adapter.check_credentials()
    second = adapter.refresh(first)
    assert second.refresh_token != first.refresh_token and second.access_token != first.access_token
    assert second.access_expires_at == cbz_sandbox.clock.now() + timedelta(seconds=cbz_sandbox.access_ttl)
    adapter.set_tokens(second)
    adapter.check_credentials()
    with pytest.raises(ReauthRequired, match="已使用過.*authorize the app again"):
        adapter.refresh(first)
    third = adapter.refresh(second)
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


def test_cyberbiz_v2_refresh_without_rotation_keeps_the_refresh_token(cbz_sandbox, make_adapter):
    cbz_sandbox.rotate_refresh = False
    adapter, _shop = make_adapter("v2")
    first = adapter.tokens
    cbz_sandbox.clock.advance(3600)
    second = adapter.refresh(first)
    assert second.access_token != first.access_token
    assert second.refresh_token == first.refresh_token and second.refresh_expires_at == first.refresh_expires_at
    assert adapter.refresh(second).refresh_token == first.refresh_token  # still usable


def test_cyberbiz_v2_refresh_token_expiry_and_denied_consent(cbz_sandbox, make_adapter):
    adapter, _shop = make_adapter("v2")
    cbz_sandbox.clock.advance(cbz_sandbox.refresh_ttl + 1)
    with pytest.raises(ReauthRequired, match="已過期"):
        adapter.refresh(adapter.tokens)
    other, _ = make_adapter("v2", authorize=False)
    params = cbz_sandbox.consent(other.authorize_url(REDIRECT, "s"), deny=True)
    with pytest.raises(ReauthRequired, match="did not grant access"):
        other.exchange_code(params, REDIRECT)


def test_cyberbiz_v2_lifetimes_fall_back_to_configured_ttls(cbz_sandbox, make_adapter):
    cbz_sandbox.send_expires_in = False
    adapter, _ = make_adapter("v2", platform_settings={"access_token_ttl": 600, "refresh_token_ttl": 3600})
    assert adapter.tokens.access_expires_at == NOW + timedelta(seconds=600)
    assert adapter.tokens.refresh_expires_at == NOW + timedelta(seconds=3600)


def test_cyberbiz_v2_wrong_app_secret_and_callback_for_another_shop(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2", authorize=False, platform_settings={})
    params = cbz_sandbox.consent(adapter.authorize_url(REDIRECT, "s"))
    with pytest.raises(PermanentError, match="callback is for shop 'evil.cyberbiz.co'"):
        adapter.exchange_code({**params, "shop": "evil.cyberbiz.co"}, REDIRECT)
    fields = cbz_sandbox.platform_fields()
    from platforms.base import ChannelConfig, PlatformConfig
    from platforms.cyberbiz.adapter import CyberbizAdapter

    wrong = CyberbizAdapter(PlatformConfig(host=fields["host"], app_id=fields["app_id"], app_secret="nope",
                                           settings=fields["settings"]),
                            ChannelConfig(name="x", shop_id=shop["shop_id"], settings={"auth_model": "v2"}),
                            clock=cbz_sandbox.clock.now)
    with pytest.raises(CredentialsInvalid, match="client id/secret"):
        wrong.exchange_code(params, REDIRECT)
    assert "nope" not in repr(wrong.platform)


def test_cyberbiz_v2_without_tokens_says_authorize_first(cbz_sandbox, make_adapter):
    adapter, _ = make_adapter("v2", authorize=False)
    with pytest.raises(AuthExpired, match="authorize it first"):
        adapter.check_credentials()


# ------------------------------------------------------------------------------------ paging
@pytest.mark.parametrize(("count", "pages"), [(0, 1), (1, 1), (50, 1), (51, 2), (101, 3)])
def test_cyberbiz_paging_edges(cbz_sandbox, make_adapter, count, pages):
    adapter, shop = make_adapter("v2", requests_per_second=0, platform_settings={"requests_per_second": 0})
    ids = cbz_sandbox.generate_orders(shop["shop_id"], count, start=NOW - 10 * HOUR, end=NOW)
    cbz_sandbox.reset_calls()
    orders = fetch(adapter)
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert len({o.external_id for o in orders}) == count
    assert cbz_sandbox.calls("/v1/orders") == pages == adapter.api_calls


def test_cyberbiz_paging_headers_and_bare_array_as_the_spec(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2")
    cbz_sandbox.generate_orders(shop["shop_id"], 92, start=NOW - 10 * HOUR, end=NOW)
    response = requests.get(cbz_sandbox.base_url + "/v1/orders?per_page=2&page=1", timeout=2,
                            headers={"Authorization": f"Bearer {adapter.tokens.access_token}"})
    assert isinstance(response.json(), list) and len(response.json()) == 2
    assert response.headers["X-Total"] == "92" and response.headers["X-Total-Pages"] == "46"
    assert response.headers["X-Next-Page"] == "2" and response.headers["X-Prev-Page"] == ""
    big = requests.get(cbz_sandbox.base_url + "/v1/orders?per_page=500", timeout=2,
                       headers={"Authorization": f"Bearer {adapter.tokens.access_token}"})
    assert len(big.json()) == 50 and big.headers["X-Per-Page"] == "50"
    assert isinstance(big.json()[0]["prices"]["total_price"], float)
    unpaid = requests.get(cbz_sandbox.base_url + "/v1/orders?financial_statuses=pending,failed&statuses=open",
                          timeout=2, headers={"Authorization": f"Bearer {adapter.tokens.access_token}"})
    assert unpaid.json() and {o["statuses"]["financial_status"] for o in unpaid.json()} == {"pending"}
    assert int(unpaid.headers["X-Total"]) < 92


def test_cyberbiz_order_updated_while_paging_is_not_lost(cbz_sandbox, make_adapter):
    """Offset paging: an order leaving the window shifts the next page; the adapter pages again."""
    adapter, shop = make_adapter("v2", platform_settings={"requests_per_second": 0})
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 60, start=NOW - 10 * HOUR, end=NOW - HOUR)
    stream = adapter.fetch_orders(NOW - 24 * HOUR, NOW - HOUR / 2)
    seen = [next(stream).external_id for _ in range(50)]
    cbz_sandbox.update_order(shop["shop_id"], ids[0], status="paid")  # bumps updated_at to NOW: leaves the window
    seen += [o.external_id for o in stream]
    assert sorted(seen) == sorted(ids)
    assert len(seen) == len(set(seen))


# ----------------------------------------------------------------------------------- windows
def test_cyberbiz_taipei_midnight_boundary_each_order_once(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v1")
    midnight = datetime(2026, 3, 15, 0, 0, 0, tzinfo=TAIPEI)
    before, after = cbz_sandbox.generate_orders(
        shop["shop_id"], 2, times=[midnight - timedelta(seconds=1), midnight])
    assert cbz_sandbox.order(shop["shop_id"], before)["updated_at"] == "2026-03-14 23:59:59"
    assert cbz_sandbox.order(shop["shop_id"], after)["updated_at"] == "2026-03-15 00:00:00"
    day_before = [o.external_id for o in adapter.fetch_orders(midnight - timedelta(days=1), midnight)]
    day_of = [o.external_id for o in adapter.fetch_orders(midnight, midnight + timedelta(days=1))]
    assert day_before == [before] and day_of == [after]
    sub_second = [o.external_id for o in adapter.fetch_orders(midnight - timedelta(microseconds=1),
                                                               midnight + timedelta(microseconds=1))]
    assert sub_second == [after]


def test_cyberbiz_long_ranges_are_split_into_windows(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2", platform_settings={"max_window_days": 10, "requests_per_second": 0})
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 5, start=NOW - timedelta(days=25), end=NOW)
    windows = list(adapter.windows(NOW - timedelta(days=25), NOW))
    assert windows == [("2026-02-18 12:00:00", "2026-02-28 11:59:59"), ("2026-02-28 12:00:00", "2026-03-10 11:59:59"),
                       ("2026-03-10 12:00:00", "2026-03-15 11:59:59")]
    cbz_sandbox.reset_calls()
    assert sorted(o.external_id for o in adapter.fetch_orders(NOW - timedelta(days=25), NOW)) == sorted(ids)
    assert cbz_sandbox.calls("/v1/orders") == 3
    with pytest.raises(ValueError, match="aware"):
        list(adapter.fetch_orders(datetime(2026, 1, 1), NOW))


def test_cyberbiz_changed_order_is_seen_again_with_new_status(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2")
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="unpaid", start=NOW - HOUR, end=NOW)
    assert fetch(adapter, NOW - 2 * HOUR, NOW)[0].status == "unpaid"
    cbz_sandbox.clock.advance(600)
    cbz_sandbox.update_order(shop["shop_id"], order_id, status="cancelled")
    later = fetch(adapter, NOW, cbz_sandbox.clock.now() + timedelta(seconds=1))
    assert [(o.external_id, o.status) for o in later] == [(order_id, "cancelled")]
    assert later[0].updated_at == NOW + timedelta(seconds=600)


def test_cyberbiz_get_orders_skips_missing_and_maps_the_rest(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v1")
    ids = cbz_sandbox.generate_orders(shop["shop_id"], 2, null_sku=True)
    found = adapter.get_orders([ids[0], "999", ids[1]])
    assert [o.external_id for o in found] == ids
    assert all(line.sku is None for o in found for line in o.lines)


# ---------------------------------------------------------------------------------- shipping
def test_cyberbiz_ship_is_idempotent_and_refuses_bad_input(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v1", notify_customer="no")
    order = fetch(adapter, NOW - HOUR, NOW + HOUR) or None
    assert order is None
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    (order,) = adapter.get_orders([order_id])
    with pytest.raises(PermanentError, match="tracking_company 不正確: pigeon"):
        adapter.ship(order, Shipment("P-1", carrier="pigeon"))
    first = adapter.ship(order, Shipment("P-1"))
    again = adapter.ship(order, Shipment("P-1"))  # a retried push after a lost answer
    assert first.raw["id"] == again.raw["id"]
    recorded = cbz_sandbox.shipment_of(shop["shop_id"], order_id)
    assert recorded["carrier"] == "other" and recorded["notify_customer"] is False
    with pytest.raises(PermanentError, match="商品已出貨.*already shipped with tracking number\\(s\\) P-1"):
        adapter.ship(order, Shipment("P-2", carrier="hct"))
    calls = cbz_sandbox.calls("custom_shipping")
    with pytest.raises(PermanentError, match="needs a tracking number"):
        adapter.ship(order, Shipment(""))
    assert cbz_sandbox.calls("custom_shipping") == calls  # refused before any call


def test_cyberbiz_partial_shipment_by_line_ids(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2")
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    raw = cbz_sandbox.order(shop["shop_id"], order_id)
    while len(raw["line_items"]) < 2:  # make sure there are two lines to split
        (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
        raw = cbz_sandbox.order(shop["shop_id"], order_id)
    (order,) = adapter.get_orders([order_id])
    adapter.ship(order, Shipment("E-1", carrier="e_can", line_ids=(order.lines[0].external_line_id,)))
    (after,) = adapter.get_orders([order_id])
    assert after.platform_status == "open/paid/partial/no_need" and after.status == "shipped"


def test_cyberbiz_ship_unknown_order_is_permanent_not_found(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2")
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1)
    (order,) = adapter.get_orders([order_id])
    ghost = Order(**{**{f: getattr(order, f) for f in order.__dataclass_fields__}, "external_id": "1"})
    with pytest.raises(PermanentError, match="無此資源"):
        adapter.ship(ghost, Shipment("X-1"))


def test_cyberbiz_times_in_the_payload_are_taipei_local(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v1")
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, times=[datetime(2026, 3, 14, 16, 30, tzinfo=UTC)])
    assert cbz_sandbox.order(shop["shop_id"], order_id)["created_at"] == "2026-03-15 00:30:00"
    (order,) = adapter.get_orders([order_id])
    assert order.created_at == datetime(2026, 3, 14, 16, 30, tzinfo=UTC) and order.created_at.tzinfo == UTC


def test_cyberbiz_ship_timed_out_after_sending_is_unknown_and_read_back(cbz_sandbox, make_adapter):
    """The POST is processed but its answer comes too late: never sent again; the fulfillments are read instead.

    No wall-clock guess: the read-back waits until the stalled POST has really been applied.
    """
    short = RetryPolicy(max_attempts=3, connect_timeout=3.0, read_timeout=0.5, sleep=lambda s: None)
    adapter, shop = make_adapter("v1", policy=short)
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    (order,) = adapter.get_orders([order_id])
    cbz_sandbox.faults.inject("timeout", path="custom_shipping", delay=1.5)
    with pytest.raises(OutcomeUnknown):
        adapter.ship(order, Shipment("LOST-1", carrier="tcat"))
    assert cbz_sandbox.calls("custom_shipping") == 1
    deadline = time.monotonic() + 15
    while not cbz_sandbox.order(shop["shop_id"], order_id)["fulfillments"]:
        assert time.monotonic() < deadline, "the stalled custom_shipping was never applied"
        time.sleep(0.02)
    adapter.client.http.policy = replace(short, read_timeout=3.0)
    state = adapter.shipment_state(order)
    assert state is not None and state.tracking_number == "LOST-1"
    assert len(cbz_sandbox.order(shop["shop_id"], order_id)["fulfillments"]) == 1
    assert cbz_sandbox.calls("custom_shipping") == 1


def test_cyberbiz_v1_body_digest_when_the_gateway_requires_it(cbz_sandbox, make_adapter):
    cbz_sandbox.require_digest = True
    plain, shop = make_adapter("v1", policy=ONE_SHOT)
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    (order,) = plain.get_orders([order_id])  # GETs carry no body: fine without a digest
    with pytest.raises(CredentialsInvalid, match="does not match"):
        plain.ship(order, Shipment("D-1", carrier="hct"))
    signed = build_adapter(cbz_sandbox, shop, policy=ONE_SHOT, v1_sign_digest="true")
    assert signed.ship(order, Shipment("D-1", carrier="hct")).tracking_number == "D-1"
    assert cbz_sandbox.shipment_of(shop["shop_id"], order_id)["tracking_number"] == "D-1"


def test_cyberbiz_v2_missing_write_scope_needs_a_new_consent(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("v2", oauth_scope="read_orders")
    assert adapter.tokens.extra["scope"] == "read_orders"
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid")
    (order,) = adapter.get_orders([order_id])  # reading is granted
    with pytest.raises(ReauthRequired, match="無權使用該 API.*granted only read_orders.*authorize the app again"):
        adapter.ship(order, Shipment("S-1", carrier="hct"))
    refreshed = adapter.refresh(adapter.tokens)
    assert refreshed.extra["scope"] == "read_orders"  # a refresh cannot widen the grant
    assert cbz_sandbox.shipment_of(shop["shop_id"], order_id) is None
