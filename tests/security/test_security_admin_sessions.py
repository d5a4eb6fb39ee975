"""Regression (issue 11): admin sessions, CSRF, login throttling, security headers, /metrics and /docs.

- Logout did not end the session: the old cookie worked for 12 h. Sessions are now server-side.
- The CSRF token was not bound to the session: a planted ``omsb_csrf`` cookie plus the same value in a
  forged form passed. Logged-in forms now carry a token derived from the session.
- No login throttling or lockout.
- No security headers; ``/metrics``, ``/docs`` and ``/openapi.json`` were public.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from security_kit import PASSWORD, admin_client, client, form_token, login
from sqlalchemy import func, select, update

from oms_bridge.configure.lookups import get_platform
from oms_bridge.service import BridgeService
from oms_bridge.settings import SettingsError, reset_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import AdminLoginFailure, AdminSession, Platform, utcnow
from oms_bridge.web.security import SESSION_COOKIE, set_admin_password


def _platform_count(settings) -> int:
    with session_scope(settings) as s:
        return s.scalar(select(func.count()).select_from(Platform))


def _add_platform(c, token: str, value: str = "p1"):
    return c.post("/admin/platforms", data={"csrf_token": token, "value": value, "platform_type": "momo",
                                            "host": "http://127.0.0.1:9"})


# ------------------------------------------------------------------------------------------- sessions
def test_logout_ends_the_session_on_the_server(store_settings):
    c = admin_client(store_settings)
    cookie = c.cookies.get(SESSION_COOKIE)
    dashboard = c.get("/admin/")
    assert dashboard.status_code == 200
    out = c.post("/admin/logout", data={"csrf_token": form_token(dashboard.text)})
    assert out.status_code == 303 and out.headers["location"] == "/admin/login?m=signed_out"
    # An attacker (or a shared computer's history) still holding the cookie gets nothing.
    stolen = client()
    stolen.cookies.set(SESSION_COOKIE, cookie)
    again = stolen.get("/admin/")
    assert again.status_code == 303 and again.headers["location"].startswith("/admin/login?")
    assert "m=session_ended" in again.headers["location"]
    with session_scope(store_settings) as s:
        assert s.scalar(select(func.count()).select_from(AdminSession)) == 0


def test_a_password_change_ends_every_session(sqlite_settings):
    first, second = admin_client(sqlite_settings), client()
    login(second, "admin", PASSWORD)
    assert first.get("/admin/").status_code == 200 and second.get("/admin/").status_code == 200
    set_admin_password("admin", "a brand new password", settings=sqlite_settings)
    assert first.get("/admin/").status_code == 303 and second.get("/admin/").status_code == 303


def test_an_expired_session_is_refused(sqlite_settings):
    c = admin_client(sqlite_settings)
    with session_scope(sqlite_settings) as s:
        s.execute(update(AdminSession).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert c.get("/admin/").status_code == 303


# ----------------------------------------------------------------------------------------------- CSRF
def test_the_csrf_token_is_bound_to_the_session(sqlite_settings):
    c = admin_client(sqlite_settings)
    # The attack of the old double-submit scheme: plant a known csrf cookie and send the same value.
    c.cookies.set("omsb_csrf", "planted-by-attacker", path="/admin")
    forged = _add_platform(c, "planted-by-attacker")
    assert forged.status_code == 403 and "CSRF" in forged.text
    # Another admin's (or another session's) token does not fit this session either.
    other = client()
    set_admin_password("other", PASSWORD, settings=sqlite_settings)
    login(other, "other", PASSWORD)
    other_token = form_token(other.get("/admin/platforms").text)
    assert _add_platform(c, other_token).status_code == 403
    assert _platform_count(sqlite_settings) == 0
    # The page's own token works, and stops working after logout.
    token = form_token(c.get("/admin/platforms").text)
    assert _add_platform(c, token).status_code == 303 and _platform_count(sqlite_settings) == 1
    c.post("/admin/logout", data={"csrf_token": token})
    assert _add_platform(c, token, "p2").status_code in (303, 403)
    assert _platform_count(sqlite_settings) == 1


# ------------------------------------------------------------------------------------------ throttle
def test_failed_logins_lock_the_user_name_then_release_it(store_settings):
    set_admin_password("admin", PASSWORD, settings=store_settings)
    c = client()
    for _ in range(5):
        login(c, "admin", "wrong password", expect=401)
    locked = login(c, "admin", PASSWORD, expect=429)  # even the right password waits now
    assert "Too many failed logins" in locked.text and int(locked.headers["Retry-After"]) > 0
    assert SESSION_COOKIE not in c.cookies
    # Another account from the same address is not locked by it.
    set_admin_password("second", PASSWORD, settings=store_settings)
    login(client(), "second", PASSWORD)
    # The lock ends when the failures are older than the window.
    with session_scope(store_settings) as s:
        s.execute(update(AdminLoginFailure).values(failed_at=utcnow() - timedelta(minutes=16)))
    login(client(), "admin", PASSWORD)


def test_failed_logins_from_one_address_lock_that_address(sqlite_settings, monkeypatch):
    monkeypatch.setenv("OMS_BRIDGE_LOGIN_MAX_FAILURES_PER_IP", "4")
    reset_settings()
    set_admin_password("admin", PASSWORD, settings=sqlite_settings)
    attacker = client(client=("203.0.113.7", 40000))
    for name in ("root", "administrator", "user", "test"):
        login(attacker, name, "guess", expect=401)
    assert "Too many failed logins" in login(attacker, "admin", PASSWORD, expect=429).text
    login(client(client=("198.51.100.2", 40000)), "admin", PASSWORD)  # the admin elsewhere is fine


def test_a_successful_login_forgets_the_failures(sqlite_settings):
    set_admin_password("admin", PASSWORD, settings=sqlite_settings)
    c = client()
    for _ in range(4):
        login(c, "admin", "wrong", expect=401)
    login(c, "admin", PASSWORD)
    for _ in range(4):
        login(client(), "admin", "wrong", expect=401)
    login(client(), "admin", PASSWORD)  # 4 new failures, not 8


# ------------------------------------------------------------------------------------------- headers
def test_every_response_carries_the_security_headers(sqlite_settings):
    c = admin_client(sqlite_settings)
    answers = {
        "admin page": c.get("/admin/"),
        "login page": client().get("/admin/login"),
        "OMS API without token": c.get("/api/v1/applications/oms/orders/"),
        "not found": c.get("/nope"),
        "health": c.get("/healthz"),
        "hostile query": c.get("/admin/orders?channel=%00"),
        "body too large": c.post("/admin/login", content=b"x" * 70_000,
                                 headers={"content-type": "application/x-www-form-urlencoded"}),
        "oauth callback": c.get("/oauth/callback/shopee?code=x&state=y"),
    }
    for what, answer in answers.items():
        headers = answer.headers
        assert "default-src 'none'" in headers.get("content-security-policy", ""), what
        assert "frame-ancestors 'none'" in headers["content-security-policy"], what
        assert headers.get("x-frame-options") == "DENY", what
        assert headers.get("x-content-type-options") == "nosniff", what
        assert headers.get("referrer-policy") == "no-referrer", what
    assert answers["admin page"].headers["cache-control"] == "no-store"
    assert answers["body too large"].status_code == 413 and answers["hostile query"].status_code == 400


# ----------------------------------------------------------------------------------- metrics and docs
def test_docs_and_openapi_are_off_by_default(sqlite_settings):
    c = admin_client(sqlite_settings)
    for path in ("/docs", "/openapi.json", "/redoc"):
        assert c.get(path).status_code == 404, path


def test_docs_with_a_token_or_an_admin_session(sqlite_settings, monkeypatch):
    monkeypatch.setenv("OMS_BRIDGE_DOCS_ACCESS", "token")
    monkeypatch.setenv("OMS_BRIDGE_DOCS_TOKEN", "docs-token-5f2c9e")
    reset_settings()
    anonymous = client()
    refused = anonymous.get("/openapi.json")
    assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    assert anonymous.get("/openapi.json", headers={"Authorization": "Bearer wrong"}).status_code == 401
    ok = anonymous.get("/openapi.json", headers={"Authorization": "Bearer docs-token-5f2c9e"})
    assert ok.status_code == 200 and "/api/v1/applications/oms/orders/" in ok.json()["paths"]
    admin = admin_client(sqlite_settings)
    page = admin.get("/docs")
    assert page.status_code == 200 and "swagger-ui" in page.text
    assert "cdn.jsdelivr.net" in page.headers["content-security-policy"]


@pytest.mark.parametrize("env, remote, local, with_token", [
    ({}, 403, 200, 403),                                                    # default: local clients only
    ({"OMS_BRIDGE_METRICS_TOKEN": "m-token-81d3"}, 401, 401, 200),          # a token configured: token
    ({"OMS_BRIDGE_METRICS_ACCESS": "off"}, 404, 404, 404),
    ({"OMS_BRIDGE_METRICS_ACCESS": "public"}, 200, 200, 200),
])
def test_metrics_access(sqlite_settings, monkeypatch, env, remote, local, with_token):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    bearer = {"Authorization": "Bearer m-token-81d3"}
    assert client(client=("203.0.113.7", 1)).get("/metrics").status_code == remote
    assert client(client=("127.0.0.1", 1)).get("/metrics").status_code == local
    assert client(client=("203.0.113.7", 1)).get("/metrics", headers=bearer).status_code == with_token


def test_a_bad_access_setting_stops_the_service_before_it_listens(sqlite_settings, monkeypatch):
    monkeypatch.setenv("OMS_BRIDGE_METRICS_ACCESS", "token")  # ... but no metrics_token
    reset_settings()
    from oms_bridge.settings import get_settings

    with pytest.raises(SettingsError, match="metrics_token"):
        BridgeService(get_settings(), scheduler_enabled=False, port=0).start()


def test_forms_still_work_end_to_end(sqlite_settings):
    """The hardening leaves an ordinary admin flow intact (and its message rides in the flash cookie)."""
    c = admin_client(sqlite_settings)
    token = form_token(c.get("/admin/platforms").text)
    added = _add_platform(c, token)
    assert added.status_code == 303 and added.headers["location"] == "/admin/platforms"
    page = c.get("/admin/platforms")
    assert "platform p1 added" in page.text
    assert "platform p1 added" not in c.get("/admin/platforms").text  # shown once
    with session_scope(sqlite_settings) as s:
        assert get_platform(s, "p1").host == "http://127.0.0.1:9"
