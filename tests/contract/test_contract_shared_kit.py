"""The pieces every platform shares (settings precedence, window cutting, OAuth answers, JSON bodies, amounts).

Each platform's own tests prove these through its sandbox; these pin the shared rules themselves, so a
change to one of them shows here with the rule's name rather than as four platform failures.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
import requests
from werkzeug.wrappers import Response

from oms_bridge.remote.http import HttpClient, RetryPolicy, json_body, json_headers
from platforms.amounts import AmountError, decimal_amount, round_to_places
from platforms.base import PermanentError, ReauthRequired, TransientError
from platforms.oauth import authorize_link, callback_code, expires_after, lifetime, token_answer
from platforms.settings import as_flag, lookup_setting
from platforms.windows import split_range
from sandboxes.server import FAULT_KINDS, Sandbox, json_response

T0 = datetime(2026, 3, 1, tzinfo=UTC)


def test_kit_channel_setting_wins_then_platform_then_default():
    assert lookup_setting("a", {"a": 1}, {"a": 2}, 3) == 1
    assert lookup_setting("a", {}, {"a": 2}, 3) == 2
    assert lookup_setting("a", {"a": None}, {"a": 2}, 3) == 2  # null = not set
    assert lookup_setting("a", {}, {}, 3) == 3
    assert lookup_setting("a", {"a": ""}, {"a": 2}, 3) == ""  # an empty value is a value...
    assert lookup_setting("a", {"a": ""}, {"a": ""}, 3, blank_is_unset=True) == 3  # ...unless told otherwise
    assert lookup_setting("a", {"a": 0}, {"a": 2}, 3, blank_is_unset=True) == 0  # 0 and False are values
    assert lookup_setting("a", {"a": False}, {"a": True}, 3) is False


def test_kit_windows_partition_the_range_exactly():
    windows = split_range(T0, T0 + timedelta(days=40), timedelta(days=15))
    assert windows == [(T0, T0 + timedelta(days=15)), (T0 + timedelta(days=15), T0 + timedelta(days=30)),
                       (T0 + timedelta(days=30), T0 + timedelta(days=40))]
    assert split_range(10, 25, 10) == [(10, 20), (20, 25)]
    assert split_range(T0, T0, timedelta(days=1)) == [] and split_range(5, 1, 2) == []
    for step in (0, -1):
        with pytest.raises(ValueError, match="step must be positive"):
            split_range(0, 10, step)


def test_kit_oauth_callback_code_or_a_clear_refusal():
    assert callback_code({"code": "abc", "state": "s"}, platform="x") == "abc"
    with pytest.raises(ReauthRequired, match=r"did not grant access: access_denied \(the user said no\)") as info:
        callback_code({"error": "access_denied", "error_description": "the user said no"}, platform="x")
    assert info.value.code == "access_denied" and info.value.platform == "x"
    with pytest.raises(PermanentError, match="no 'code'") as missing:
        callback_code({"state": "s"}, platform="x")
    assert not isinstance(missing.value, ReauthRequired)


def test_kit_token_lifetimes_never_crash_on_a_bad_value():
    assert lifetime(7200) == 7200 and lifetime("3600") == 3600
    for bad in (None, "", "soon", 0, -5, [1]):
        assert lifetime(bad) is None
    assert expires_after(T0, "junk", 60) == T0 + timedelta(seconds=60)
    assert expires_after(T0, 30, 60) == T0 + timedelta(seconds=30)


def test_kit_token_answer_needs_an_access_token():
    assert token_answer({"access_token": "t", "expires_in": 1}, platform="x") == {"access_token": "t", "expires_in": 1}
    for broken in (None, [], {"refresh_token": "r"}, {"access_token": ""}):
        with pytest.raises(TransientError, match="x token answer has no access_token"):
            token_answer(broken, platform="x")


def test_kit_authorize_link_is_a_standard_code_grant():
    link = authorize_link("https://shop.example/oauth/authorize", client_id="app 1", redirect_uri="https://b/cb?x=1",
                          state="st", scope="read,write", extra={"merchant_id": "m1"})
    assert link == ("https://shop.example/oauth/authorize?client_id=app+1&redirect_uri=https%3A%2F%2Fb%2Fcb%3Fx%3D1"
                    "&response_type=code&scope=read%2Cwrite&state=st&merchant_id=m1")


def test_kit_amounts_are_exact_and_round_half_up():
    assert decimal_amount(0.1 + 0.2, "x") == Decimal("0.30000000000000004")
    assert round_to_places(decimal_amount(0.1 + 0.2, "x"), 2) == Decimal("0.30")
    assert round_to_places(Decimal("10.5"), 0) == Decimal("11")
    for bad in (None, True, "lots", "NaN", "Infinity"):
        with pytest.raises(AmountError, match="total"):
            decimal_amount(bad, "total")


class _BodySandbox(Sandbox):
    """A bare sandbox answering ``{"ok": true}`` (or nothing on ``/empty``) to test the shared JSON reading."""

    platform_type = "kit"

    def dispatch(self, request):


        if request.path == "/empty":
            return Response(b"", status=200)
        return json_response({"ok": True, "ua": request.headers.get("User-Agent")})

    def platform_fields(self):
        return {}

    def add_shop(self, **options):
        return {}

    def generate_orders(self, shop_id, count, *, start=None, end=None, **options):
        return []

    def update_order(self, shop_id, external_id, **changes):
        return None

    def shipment_of(self, shop_id, external_id):
        return None


@pytest.mark.parametrize("kind", [k for k in FAULT_KINDS if k in ("malformed_json", "truncated_json")])
def test_kit_malformed_bodies_are_transient_and_never_quoted(kind):
    with _BodySandbox() as sandbox:
        http = HttpClient(sandbox.base_url, platform="kit", headers=json_headers("oms-bridge-test"),
                          classify=lambda r: json_body(r, platform="kit"),
                          policy=RetryPolicy(max_attempts=2, sleep=lambda s: None, read_timeout=3.0))
        assert http.request("GET", "/x?access_token=secret")["ua"] == "oms-bridge-test"
        sandbox.faults.inject(kind, count=2)
        with pytest.raises(TransientError, match=r"malformed JSON from GET /x \(HTTP 200, \d+ bytes\)") as info:
            http.request("GET", "/x?access_token=secret")
        assert "secret" not in str(info.value) and "order_list" not in str(info.value)
        assert http.calls == 3
        empty = requests.get(sandbox.base_url + "/empty", timeout=3)
        assert json_body(empty, platform="kit", empty_is_none=True) is None
        with pytest.raises(TransientError):
            json_body(empty, platform="kit")


def test_kit_json_headers():
    assert json_headers() == {"Accept": "application/json"}
    assert json_headers("UA/1") == {"Accept": "application/json", "User-Agent": "UA/1"}


def test_kit_yes_no_settings_read_words_not_truthiness():
    for yes in (True, 1, "true", "Yes", " on ", "1", "y"):
        assert as_flag(yes, False) is True
    for no in (False, 0, "false", "no", "off", "0", ""):
        assert as_flag(no, True) is False
    assert as_flag(None, True) is True and as_flag(None, False) is False
