"""Regression (issue 11): hostile inputs that gave a 500 (or stored something) now give a 4xx with nothing
stored, on SQLite and PostgreSQL:

a huge id in the session cookie, lone surrogates, 100,000-deep nesting and UTF-16 in webhooks, integer
overflow in admin ids, NUL characters (PostgreSQL), a ``modified_date`` in year 9999 (froze a package
forever), the ``Host`` header reflected into links, the OAuth callback path injecting log lines, and the
login page showing attacker text from ``?msg=``.
"""

from __future__ import annotations

import html
import json
import logging

import pytest
from security_kit import admin_client, client, form_token, oms_token
from sqlalchemy import func, select

from oms_bridge.oms.config import API_PREFIX
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Package, Platform
from oms_bridge.store.models.oms import OmsPackageState, OmsWebhookEvent
from oms_bridge.web.security import SESSION_COOKIE

WEBHOOK = f"{API_PREFIX}/packages/"


def _event(uuid: str, package: str = "P-1", **payload) -> dict:
    return {"event": {"type": "package.created", "uuid": uuid},
            "payload": {"id": package, "state": {"enum_value": "100", "name": "Waiting"}, **payload}}


def _nested(depth: int) -> list:
    value: list = [1]
    for _ in range(depth):
        value = [value]
    return value


def _stored(settings) -> tuple[int, int, int]:
    with session_scope(settings) as s:
        return (s.scalar(select(func.count()).select_from(OmsWebhookEvent)),
                s.scalar(select(func.count()).select_from(Package)),
                s.scalar(select(func.count()).select_from(Platform)))


@pytest.fixture
def hook(store_settings):
    """(client, webhook headers) on both stores."""
    return client(raise_server_exceptions=False), {"Authorization": f"Token {oms_token(store_settings, 'webhooks')}"}


# ------------------------------------------------------------------------------------ session cookie
@pytest.mark.parametrize("cookie", ["9" * 40 + ".9999999999.abc", "1." + "9" * 5000 + ".x", "-1.1.1", "\u00e9" * 43])
def test_a_forged_session_cookie_is_a_redirect_to_login(store_settings, cookie):
    c = client(raise_server_exceptions=False)
    answer = c.get("/admin/", headers={"Cookie": f"{SESSION_COOKIE}=".encode() + cookie.encode("utf-8")})
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")


# ------------------------------------------------------------------------------------------ webhooks
@pytest.mark.parametrize("body, field, says", [
    (json.dumps(_event("u-1", "\\ud800")).replace("\\\\ud800", "\\ud800").encode(), "payload.id", "lone surrogate"),
    (json.dumps(_event("u-2", note="x")).replace('"x"', '"\\udfff"').encode(), "payload.note",
     "lone surrogate"),
    (b"[" * 100_000 + b"]" * 100_000, "body", "nested more than"),
    (json.dumps({"event": {"type": "package.created", "uuid": "u-n"}, "payload": _nested(40)}).encode(), "body",
     "nested more than"),
    (json.dumps(_event("u-3")).encode("utf-16"), "body", "not UTF-8"),
    (json.dumps(_event("u-4")).encode("utf-32"), "body", "not UTF-8"),
    (b"\xef\xbb\xbf" + json.dumps(_event("u-5")).encode(), "body", "not valid JSON"),
])
def test_hostile_webhook_bodies_are_400_naming_the_problem_and_store_nothing(store_settings, hook, body, field,
                                                                              says):
    c, headers = hook
    answer = c.post(WEBHOOK, content=body, headers={**headers, "content-type": "application/json"})
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["field"] == field and says in answer.json()["detail"], answer.text
    assert _stored(store_settings) == (0, 0, 0)


@pytest.mark.parametrize("field, value", [("tracking_number", "T" * 121), ("order_number", "N" * 65),
                                          ("invoice_number", "I" * 5000)])
def test_free_text_fields_of_a_webhook_are_capped(store_settings, hook, field, value):
    c, headers = hook
    answer = c.post(WEBHOOK, json=_event("u-long", **{field: value}), headers=headers)
    assert answer.status_code == 400 and answer.json()["field"] == f"payload.{field}", answer.text
    assert "longer than" in answer.json()["detail"]
    assert _stored(store_settings) == (0, 0, 0)


def test_a_date_far_in_the_future_is_refused_and_cannot_freeze_a_package(store_settings, hook):
    c, headers = hook
    frozen = _event("u-9999", state={"enum_value": "100", "name": "Waiting", "modified_date": "9999-12-31T00:00:00Z"})
    answer = c.post(WEBHOOK, json=frozen, headers=headers)
    assert answer.status_code == 400 and answer.json()["field"] == "payload.state.modified_date", answer.text
    assert "max_future_skew_minutes" in answer.json()["detail"]
    assert _stored(store_settings) == (0, 0, 0)
    # ordinary events still apply, in order
    first = _event("u-a", state={"enum_value": "100", "name": "Waiting", "modified_date": "2026-03-01T04:00:00Z"})
    later = {"event": {"type": "package.status.packed", "uuid": "u-b"},
             "payload": {"id": "P-1", "state": {"enum_value": "500", "name": "Packed",
                                                "modified_date": "2026-03-01T05:00:00Z"}}}
    assert c.post(WEBHOOK, json=first, headers=headers).status_code == 200
    assert c.post(f"{WEBHOOK}update-status/", json=later, headers=headers).json()["state"] == "500"
    with session_scope(store_settings) as s:
        assert s.scalar(select(func.count()).select_from(OmsPackageState)) == 2


def test_the_allowed_skew_is_a_setting(store_settings, hook, monkeypatch):
    from datetime import UTC, datetime, timedelta

    from oms_bridge.settings import reset_settings

    c, headers = hook
    soon = (datetime.now(UTC) + timedelta(minutes=30)).isoformat()
    event = _event("u-s", state={"enum_value": "100", "name": "Waiting", "modified_date": soon})
    monkeypatch.setenv("OMS_BRIDGE_MAX_FUTURE_SKEW_MINUTES", "10")
    reset_settings()
    assert c.post(WEBHOOK, json=event, headers=headers).status_code == 400
    monkeypatch.setenv("OMS_BRIDGE_MAX_FUTURE_SKEW_MINUTES", "60")
    reset_settings()
    assert c.post(WEBHOOK, json=event, headers=headers).status_code == 200


def test_bulk_update_bodies_are_checked_the_same_way(store_settings):
    c = client(raise_server_exceptions=False)
    headers = {"Authorization": f"Token {oms_token(store_settings, 'order_item_bulk_update')}",
               "content-type": "application/json"}
    for body in (b"[" * 100_000, b'[{"id": 1, "status": "\\ud800"}]', json.dumps([{"id": 1}]).encode("utf-16")):
        answer = c.post(f"{API_PREFIX}/order_item_bulk_update/", content=body, headers=headers)
        assert answer.status_code == 400, answer.text[:200]


# ------------------------------------------------------------------------------------------ admin
@pytest.mark.parametrize("path", ["/admin/held/99999999999999999999/retry", "/admin/held/9223372036854775808/retry",
                                  "/admin/skus/2147483648/delete", "/admin/held/-5/retry"])
def test_admin_ids_beyond_the_integer_range_are_4xx(store_settings, path):
    c = admin_client(store_settings, raise_server_exceptions=False)
    token = form_token(c.get("/admin/held").text)
    answer = c.post(path, data={"csrf_token": token})
    assert 400 <= answer.status_code < 500, (answer.status_code, answer.text[:300])


def test_nul_and_control_characters_are_400_everywhere(store_settings):
    c = admin_client(store_settings, raise_server_exceptions=False)
    token = form_token(c.get("/admin/platforms").text)
    form = {"csrf_token": token, "value": "p1", "platform_type": "momo", "host": "http://127.0.0.1:9", "name": "a\x00b"}
    answer = c.post("/admin/platforms", data=form)
    # an admin path answers with an HTML error page: the message is HTML-escaped text there
    assert answer.status_code == 400 and "form field 'name': contains a NUL character" in html.unescape(answer.text)
    long = {**form, "name": "n" * 500}
    answer = c.post("/admin/platforms", data=long)
    assert answer.status_code == 400 and "form field 'name': at most 120 characters" in html.unescape(answer.text)
    for path in ("/admin/orders?channel=%00", "/admin/orders?status=a%0d%0ab", "/admin/platforms/a%00b",
                 "/admin/orders?channel=%ED%A0%80", f"{API_PREFIX}/orders/?number=%00"):
        answer = c.get(path)
        assert answer.status_code == 400, (path, answer.status_code, answer.text[:200])
    assert _stored(store_settings) == (0, 0, 0)


def test_a_value_the_database_refuses_is_a_4xx_not_a_500(store_settings):
    """The last line of defence: a value that passes the edges but not the database (an SKU longer than
    its column, which PostgreSQL refuses) is a 4xx page, and nothing is stored."""
    from oms_bridge.store.models import SkuMap

    c = admin_client(store_settings, raise_server_exceptions=False)
    token = form_token(c.get("/admin/skus").text)
    answer = c.post("/admin/skus", data={"csrf_token": token, "sku": "S" * 120, "m_product_value": "V" * 121})
    assert answer.status_code == 400, answer.text[:300]
    with session_scope(store_settings) as s:
        assert s.scalar(select(func.count()).select_from(SkuMap)) == 0


# --------------------------------------------------------------------------------- Host header, links
def test_the_host_header_is_never_reflected(sqlite_settings, monkeypatch):
    from oms_bridge.settings import reset_settings

    monkeypatch.setenv("OMS_BRIDGE_BASE_URL", "https://bridge.example.tw")
    reset_settings()
    c = client(raise_server_exceptions=False)
    evil = {"Host": "evil.example"}
    token = oms_token(sqlite_settings, "districts")
    page = c.get(f"{API_PREFIX}/districts/?limit=2", headers={**evil, "Authorization": f"Token {token}"})
    assert page.status_code == 200
    assert page.json()["next"].startswith(f"https://bridge.example.tw{API_PREFIX}/districts/?")
    second = c.get(page.json()["next"].removeprefix("https://bridge.example.tw"),
                   headers={**evil, "Authorization": f"Token {token}"})
    assert second.json()["previous"].startswith("https://bridge.example.tw/")
    for path in ("/admin", f"{API_PREFIX}/orders", "/admin/"):  # trailing-slash and login redirects
        answer = c.get(path, headers=evil)
        assert answer.status_code in (303, 307, 401), (path, answer.status_code)
        location = answer.headers.get("location", "")
        assert "evil.example" not in location and (not location or location.startswith("/")), (path, location)


# ------------------------------------------------------------------------------------------- logging
def test_request_values_cannot_forge_log_lines(sqlite_settings, caplog):
    c = client(raise_server_exceptions=False)
    with caplog.at_level(logging.INFO):
        answer = c.get("/oauth/callback/shopee%0d%0a2026-01-01 ERROR admin password reset?code=x&state=y")
        assert answer.status_code == 400
        # a value that reaches a log line with a CR/LF in it is escaped there
        c.get("/oauth/callback/nosuchplatform?state=x%0aFAKE")
        logging.getLogger("oms_bridge.web.oauth").warning("OAuth callback for %s refused: %s", "shopee\r\nFAKE",
                                                          ValueError("two\nlines"))
    for record in caplog.records:
        assert "\n" not in record.getMessage() and "\r" not in record.getMessage(), record.getMessage()
    assert any("shopee\\x0d\\x0aFAKE" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------------------- messages
def test_the_login_page_never_shows_text_from_the_url(sqlite_settings):
    c = client()
    for query in ("msg=Call+0800-000-000+to+restore+your+account", "err=Call+0800-000-000",
                  "m=Call+0800-000-000", "next=%22%3E%3Cscript%3Ealert(1)%3C/script%3E"):
        page = c.get(f"/admin/login?{query}")
        assert page.status_code == 200
        assert "0800-000-000" not in page.text and "<script>alert" not in page.text, query
    assert "You are signed out." in c.get("/admin/login?m=signed_out").text


def test_admin_pages_never_show_text_from_the_url(sqlite_settings):
    c = admin_client(sqlite_settings)
    for path in ("/admin/?msg=Call+0800-000-000", "/admin/platforms?err=Call+0800-000-000"):
        assert "0800-000-000" not in c.get(path).text, path
