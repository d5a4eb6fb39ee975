"""A 401 is not always an expired token: a refusal naming an unlicensed feature is permanent, never a refresh.

Wording from the recorded refusals (actinc/cyberbiz-sdk testdata/golden/errors): ``無「電子票券」功能，請聯絡您的
開店顧問`` (GET /v1/order_etickets), ``無「庫存同步群組」功能，請聯絡您的開店顧問``, ``Must have pos_shop_coupon
plugin`` (GET /v1/pos_shop_coupons); the yaml documents 401 for "invalid token or feature not licensed".
"""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
import requests
from cyberbiz_kit import NO_SLEEP, NOW, build_adapter
from test_cyberbiz_channel import _configure

from channels.authorization import complete_authorization, start_authorization
from channels.getorder import run_getorder
from platforms.base import AuthExpired, CredentialsInvalid, PermanentError
from platforms.cyberbiz.client import classify
from platforms.cyberbiz.refusals import FeatureNotLicensed, unlicensed_feature
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.server import SandboxClock

HOUR = timedelta(hours=1)


def test_cyberbiz_unlicensed_feature_stops_getorder_without_a_refresh_loop(sqlite_settings):
    """V2 OAuth channel, orders API not in the shop's plan: two runs, each fails with the fix, no token call."""
    with CyberbizSandbox(clock=SandboxClock(NOW, frozen=True), seed=21) as sandbox:
        clock = sandbox.clock.now
        channel_id, value, shop_id = _configure(sqlite_settings, sandbox, "v2")
        url = start_authorization(value, settings=sqlite_settings, clock=clock)
        complete_authorization("cyberbiz", sandbox.consent(url), settings=sqlite_settings, clock=clock,
                               policy=NO_SLEEP)
        sandbox.generate_orders(shop_id, 2, start=NOW - 2 * HOUR, end=NOW - timedelta(minutes=5))
        sandbox.unlicense(shop_id, "/v1/orders", feature="訂單API")
        sandbox.reset_calls()
        for _run in range(2):
            stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
            assert stats.outcome == "failed"
            assert "「訂單API」" in stats.error_text and "開店顧問" in stats.error_text
            assert "no token refresh is tried" in stats.error_text
        assert sandbox.calls("/admin/oauth/token") == 0  # never mistaken for an expired token
        assert sandbox.calls("/v1/orders") == 2  # one call per run, not retried
        sandbox.license(shop_id, "/v1/orders")
        stats = run_getorder(channel_id, settings=sqlite_settings, clock=clock, policy=NO_SLEEP)
        assert stats.outcome == "success", stats.error_text


@pytest.mark.parametrize("auth_model", ["token", "v1", "v2"])
def test_cyberbiz_unlicensed_feature_is_permanent_for_every_auth_model(cbz_sandbox, make_adapter, auth_model):
    adapter, shop = make_adapter(auth_model)
    cbz_sandbox.unlicense(shop["shop_id"], "/v1/orders", feature="電子票券")
    with pytest.raises(FeatureNotLicensed) as caught:
        adapter.check_credentials()
    error = caught.value
    assert isinstance(error, PermanentError) and not isinstance(error, CredentialsInvalid)
    assert error.feature == "電子票券" and error.status == 401 and error.code == "feature_not_licensed"
    assert "ask the shop's CYBERBIZ consultant" in error.message


def test_cyberbiz_plugin_refusal_is_an_unlicensed_feature(cbz_sandbox, make_adapter):
    adapter, shop = make_adapter("token")
    body = cbz_sandbox.unlicense(shop["shop_id"], "/v1/orders", feature="pos_shop_coupon", status=403, plugin=True)
    assert body == {"error": "Must have pos_shop_coupon plugin"}  # the recorded form
    with pytest.raises(FeatureNotLicensed, match="「pos_shop_coupon」"):
        adapter.check_credentials()


def test_cyberbiz_sandbox_serves_the_recorded_401_bodies(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token")
    token = shop["credentials"]["access_token"]
    url = cbz_sandbox.base_url + "/v1/orders"
    bad = requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=5)
    assert bad.status_code == 401 and bad.json() == {"error": ["無權使用該 API"]}
    cbz_sandbox.unlicense(shop["shop_id"], "/v1/orders", feature="電子票券")
    refused = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert refused.status_code == 401 and refused.json() == {"error": ["無「電子票券」功能，請聯絡您的開店顧問"]}


def _response(status: int, body) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body, ensure_ascii=False).encode() if not isinstance(body, bytes) else body
    response.headers["Content-Type"] = "application/json"
    return response


@pytest.mark.parametrize("message, feature", [
    ("無「電子票券」功能，請聯絡您的開店顧問", "電子票券"),
    ("無「庫存同步群組」功能，請聯絡您的開店顧問", "庫存同步群組"),
    ("無『訂單 API』功能。請聯繫開店顧問", "訂單 API"),          # other quotes, other verb
    ("無 「ＰＯＳ」 功能", "POS"),                                   # full-width letters, spaces
    ("尚未開通「電子發票」功能", "電子發票"),
    ("沒有 多倉庫 的功能", "多倉庫"),
    ("請聯絡您的開店顧問開通此功能", ""),                            # names no feature, still a licence matter
    ("Must have pos_shop_coupon plugin", "pos_shop_coupon"),
    ("must have the Inventory Sync plugin", "Inventory Sync"),
    ("Feature inventory_sync is not licensed for this shop", "inventory_sync"),
])
@pytest.mark.parametrize("status", [401, 403, 422])
def test_cyberbiz_unlicensed_wordings_are_recognised(message, feature, status):
    assert unlicensed_feature(message) == feature
    for shape in ({"error": [message]}, {"error": message}, {"message": message}, {"messages": message}):
        with pytest.raises(FeatureNotLicensed) as caught:
            classify(_response(status, shape), auth_model="v2")
        assert caught.value.feature == feature


@pytest.mark.parametrize("message", ["無權使用該 API", "無此資源", "無此資源，請確認功能設定", "Unauthorized",
                                     "access token expired"])
def test_cyberbiz_other_401s_are_not_licence_problems(message):
    assert unlicensed_feature(message) is None
    with pytest.raises(AuthExpired):
        classify(_response(401, {"error": [message]}), auth_model="v2")
    with pytest.raises(CredentialsInvalid, match="refused the API token"):
        classify(_response(401, {"error": [message]}), auth_model="token", channel="shop-a")


def test_cyberbiz_unlicensed_patterns_setting_adds_wordings(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token")
    custom = build_adapter(cbz_sandbox, shop, unlicensed_patterns=[r"方案不支援(?P<feature>\S+)"])
    with pytest.raises(FeatureNotLicensed, match="「訂單」"):
        classify(_response(401, {"error": ["您的方案不支援訂單"]}), auth_model="token",
                 unlicensed_patterns=custom._patterns())
    broken = build_adapter(cbz_sandbox, shop, unlicensed_patterns=["(unclosed"])
    with pytest.raises(PermanentError, match="unlicensed_patterns.*not a regular expression"):
        classify(_response(401, {"error": ["x"]}), auth_model="token", unlicensed_patterns=broken._patterns())
    with pytest.raises(PermanentError, match="must be a list"):
        build_adapter(cbz_sandbox, shop, unlicensed_patterns={"a": 1}).check_credentials()
