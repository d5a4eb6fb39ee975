"""The operator console over HTTP (no browser): dashboard tiles and warnings, chart data, runs list and
detail, error pages, the settings field round trip, the strict CSP and the display time zone.

The browser flows (charts drawn, buttons, 390 px, axe) are in test_web_console_browser.py."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.lookups import get_channel, get_platform
from oms_bridge.configure.platforms import add_platform
from oms_bridge.settings import SettingsError, load_settings, reset_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, Platform, ProcessRun, utcnow
from oms_bridge.vault import Vault
from oms_bridge.web.app import create_app
from oms_bridge.web.headers import ADMIN_CSP
from oms_bridge.web.security import SESSION_COOKIE, authenticate, issue_session, set_admin_password

TEMPLATES = Path(__file__).resolve().parents[2] / "oms_bridge" / "web" / "templates"


def _client(settings, *, raise_errors: bool = True) -> TestClient:
    set_admin_password("admin", "console-test-password", settings=settings)
    client = TestClient(create_app(), raise_server_exceptions=raise_errors)
    client.cookies.set(SESSION_COOKIE, issue_session(authenticate("admin", "console-test-password",
                                                                  settings=settings), settings=settings))
    return client


def _channel(settings, value: str = "momo-a", *, settings_json: dict | None = None) -> int:
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        if s.scalar(select(Platform.id).where(Platform.value == "momo-app")) is None:
            add_platform(s, vault, value="momo-app", platform_type="momo", host="http://127.0.0.1:9")
        ch = add_channel(s, vault, value=value, platform="momo-app", shop_id="1", settings=settings_json)
        ch.auth_state = "active"
        s.flush()
        s.add(ProcessRun(process="getorder", oms_channel_id=ch.id, started=utcnow(), ended=utcnow(),
                         outcome="success", fetched=1))
        ch.order_watermark = utcnow() - timedelta(minutes=4)
        return ch.id


def _deliveries(settings, channel_id: int, states: dict[str, int], *, prefix: str = "D") -> None:
    """Orders with one erp delivery each, in the given states (``{"held": 3, "dead": 1}``)."""
    n = 0
    with session_scope(settings) as s:
        for state, count in states.items():
            for _ in range(count):
                n += 1
                order = Order(oms_channel_id=channel_id, external_id=f"{prefix}{n}", status="paid",
                              order_created=utcnow() - timedelta(minutes=n), currency="TWD", raw_payload="{}")
                s.add(order)
                s.flush()
                (row,) = outbox.arm(s, order, ["erp"])
                s.flush()
                if state == "held":
                    outbox.mark_held(row, "SKU SAUCE-CHILI has no ERP product", code="missing_sku:SAUCE-CHILI")
                elif state == "sent":
                    outbox.mark_sent(row)
                elif state != "pending":
                    row.state = state


# ------------------------------------------------------------------------------ dashboard
def test_dashboard_never_says_all_is_well_while_deliveries_are_held(sqlite_settings):
    """Issue 16: the dashboard said "Nothing needs attention" while 839 orders were held."""
    settings = sqlite_settings
    channel_id = _channel(settings)
    _deliveries(settings, channel_id, {"held": 3, "dead": 2, "retry": 1, "sent": 4})
    html = _client(settings).get("/admin/").text
    assert "Nothing needs attention" not in html
    tiles = dict(re.findall(r'id="tile-(\w+)" href="[^"]*">\s*<span class="n">([^<]+)</span>', html))
    assert tiles["held"] == "3" and tiles["dead"] == "2" and tiles["retrying"] == "1"
    assert 'id="tile-held" href="/admin/held?state=held"' in html
    assert 'id="tile-dead" href="/admin/held?state=dead"' in html
    assert 'class="tile level-critical" id="tile-dead"' in html
    warnings = html[html.index('id="warnings"'):html.index("<h2>Channels")]
    assert "3 deliveries are held" in warnings and "2 deliveries are dead" in warnings
    assert warnings.index("deliveries are dead") < warnings.index("deliveries are held")  # worst first
    assert '<span class="sev">critical</span>' in warnings


def test_dashboard_tiles_for_channels_and_the_oldest_pending_delivery(sqlite_settings):
    settings = sqlite_settings
    _channel(settings, "fresh-shop")
    failing = _channel(settings, "failing-shop")
    stale = _channel(settings, "stale-shop")
    with session_scope(settings) as s:
        s.add(ProcessRun(process="getorder", oms_channel_id=failing, started=utcnow(), ended=utcnow(),
                         outcome="failed", error_text="marketplace answered 503"))
        for run in s.scalars(select(ProcessRun).where(ProcessRun.oms_channel_id == stale)):
            run.started = run.ended = utcnow() - timedelta(hours=3)
        s.get(Channel, stale).order_watermark = utcnow() - timedelta(hours=3)
    _deliveries(settings, failing, {"pending": 1})
    with session_scope(settings) as s:
        s.scalars(select(Delivery)).one().armed_at = utcnow() - timedelta(hours=2, minutes=5)
    html = _client(settings).get("/admin/").text
    tiles = dict(re.findall(r'id="tile-(\w+)" href="[^"]*">\s*<span class="n">([^<]+)</span>', html))
    assert tiles["stale"] == "1" and tiles["failing"] == "1" and tiles["oldest"] == "2 h 5 min"
    assert "the oldest pending delivery has waited 2 h 5 min" in html
    assert "marketplace answered 503" in html
    row = re.search(r'<tr>\s*<td><a href="/admin/channels/stale-shop">.*?</tr>', html, re.S).group(0)
    assert "3 h ago" in row  # the sync lag column
    filtered = _client(settings).get("/admin/channels?health=stale").text
    assert "stale-shop" in filtered and "fresh-shop" not in filtered


def test_pages_offer_the_web_action_not_a_command(sqlite_settings):
    """A token warning written for the CLI ("run `oms-bridge channel authorize X`") reads as the button."""
    settings = sqlite_settings
    channel_id = _channel(settings, "shop-x")
    with session_scope(settings) as s:
        ch = s.get(Channel, channel_id)
        ch.auth_state = "reauth_required"
        ch.auth_message = "the refresh token was refused: run `oms-bridge channel authorize shop-x` and have the " \
                          "merchant approve again"
    client = _client(settings)
    for page in ("/admin/", "/admin/channels/shop-x"):
        html = client.get(page).text
        assert "oms-bridge channel authorize" not in html, page
        assert "use the Authorize button on the channel&#39;s page and have the merchant approve again" in html, page
    dashboard = client.get("/admin/").text
    assert 'id="tile-failing" href="/admin/channels?health=failing">\n  <span class="n">1<' in dashboard
    assert '<span class="sev">critical</span>the refresh token was refused' in dashboard


def test_chart_data_on_both_stores(store_settings):
    """Hourly buckets are counted by the database (one GROUP BY); SQLite and PostgreSQL agree."""
    settings = store_settings
    channel_id = _channel(settings)
    _deliveries(settings, channel_id, {"held": 2, "sent": 3, "pending": 1})
    now = utcnow()
    with session_scope(settings) as s:  # some history from before the 24 hours
        held, sent = (s.scalars(select(Delivery).where(Delivery.state == state).order_by(Delivery.id)).all()
                      for state in ("held", "sent"))
        held[0].armed_at = held[0].updated = now - timedelta(hours=30)  # held since before the window
        sent[0].armed_at, sent[0].sent_at = now - timedelta(hours=48), now - timedelta(hours=30)  # done before
        sent[1].armed_at, sent[1].sent_at = now - timedelta(hours=48), now - timedelta(hours=2)  # due until 2 h ago
    client = _client(settings)
    orders = client.get("/admin/charts/orders?hours=24").json()
    assert len(orders["labels"]) == 24
    (series,) = orders["datasets"]
    assert series["label"] == "momo-a" and sum(series["data"]) == 6
    week = client.get("/admin/charts/orders?hours=168").json()
    assert len(week["labels"]) == 168 and sum(week["datasets"][0]["data"]) == 6
    backlog = client.get("/admin/charts/backlog?hours=24").json()
    due, held = backlog["datasets"]
    assert due["data"][0] == 2 and held["data"][0] == 1  # 24 h ago: the old held row and the late one
    assert due["data"][-4] == 2 and due["data"][-3] == 1  # the late one was delivered in the hour 2 h ago
    assert due["data"][-1] == 3  # 2 held + 1 pending are due and not delivered now
    assert held["data"][-1] == 2
    runs = client.get("/admin/charts/runs?hours=24").json()
    assert [d["label"] for d in runs["datasets"]] == ["getorder"]
    assert client.get("/admin/charts/orders?hours=0").status_code == 422


def test_chart_data_needs_a_login(sqlite_settings):
    answer = TestClient(create_app()).get("/admin/charts/orders", follow_redirects=False)
    assert answer.status_code == 303 and answer.headers["location"].startswith("/admin/login")


# ------------------------------------------------------------------------------ runs
def test_runs_hide_empty_delivery_runs_filter_failed_and_page(sqlite_settings):
    settings = sqlite_settings
    channel_id = _channel(settings)
    now = utcnow()
    with session_scope(settings) as s:
        s.add_all([ProcessRun(process="erp_delivery", started=now, ended=now, outcome="success") for _ in range(60)])
        s.add(ProcessRun(process="erp_delivery", started=now, ended=now + timedelta(seconds=3), outcome="success",
                         sent=4))
        s.add(ProcessRun(process="getorder", oms_channel_id=channel_id, started=now,
                         ended=now + timedelta(seconds=12), outcome="failed", error_text="momo answered 500",
                         details_json=json.dumps({"note": "window 1 of 1"})))
    client = _client(settings)
    html = client.get("/admin/runs").text
    assert "3 run(s); 60 empty delivery run(s) hidden" in html
    assert html.count('<a href="/admin/runs/') == 3
    shown = client.get("/admin/runs?empty=1").text
    assert "63 run(s)" in shown and "page 1 of 2" in shown and 'id="next-page"' in shown
    second = client.get("/admin/runs?empty=1&page=2").text
    assert second.count('<a href="/admin/runs/') == 13
    failed = client.get("/admin/runs?outcome=failed").text
    assert "1 run(s)" in failed and "momo answered 500" in failed
    run_id = int(re.search(r'<a href="/admin/runs/(\d+)">', failed).group(1))
    detail = client.get(f"/admin/runs/{run_id}").text
    assert 'id="run-outcome">failed' in detail and "12.0 s" in detail and "momo answered 500" in detail
    assert "window 1 of 1" in detail and 'href="/admin/channels/momo-a"' in detail
    assert client.get("/admin/runs/999999").status_code == 404


# ------------------------------------------------------------------------------ settings field
class _Fields(HTMLParser):
    """The value each form field shows, as a browser would submit it."""

    def __init__(self, form_id: str):
        super().__init__()
        self.form_id, self.inside, self.fields, self._textarea = form_id, False, {}, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form":
            self.inside = attrs.get("id") == self.form_id
        elif self.inside and tag == "input" and attrs.get("name") and attrs.get("type") != "password":
            self.fields[attrs["name"]] = attrs.get("value") or ""
        elif self.inside and tag == "textarea":
            self._textarea = attrs["name"]
            self.fields[self._textarea] = ""

    def handle_data(self, data):
        if self._textarea:
            self.fields[self._textarea] += data

    def handle_endtag(self, tag):
        if tag == "textarea":
            self._textarea = None
        elif tag == "form":
            self.inside = False


def _form(html: str, form_id: str) -> dict[str, str]:
    parser = _Fields(form_id)
    parser.feed(html)
    return parser.fields


def test_settings_json_survives_the_edit_forms(sqlite_settings):
    """Issue 16: the JSON settings value broke every edit form that has settings (it showed `{` and
    saving failed). Saving a form unchanged keeps the settings exactly."""
    settings = sqlite_settings
    _channel(settings, settings_json={"auth_model": "token", "note": "a \"quoted\" <b>value</b>"})
    with session_scope(settings) as s:
        get_platform(s, "momo-app").settings_json = json.dumps({"region": "TW", "x": "'\""})
    client = _client(settings)
    for page, form_id in (("/admin/channels/momo-a", "edit-channel"), ("/admin/platforms/momo-app", "edit-platform")):
        fields = _form(client.get(page).text, form_id)
        assert json.loads(fields["settings_json"]), (page, fields["settings_json"])
        answer = client.post(page, data=fields, follow_redirects=False)
        assert answer.status_code == 303
        assert "err" not in answer.headers.get("set-cookie", "").lower() or "saved" in client.get(page).text
        assert "saved" in client.get(page).text, page
    with session_scope(settings) as s:
        assert json.loads(get_channel(s, "momo-a").settings_json) == {
            "auth_model": "token", "note": "a \"quoted\" <b>value</b>"}
        assert json.loads(get_platform(s, "momo-app").settings_json) == {"region": "TW", "x": "'\""}


# ------------------------------------------------------------------------------ error pages
def test_admin_errors_are_pages_with_a_way_back_and_the_api_keeps_json(sqlite_settings, monkeypatch):
    client = _client(sqlite_settings, raise_errors=False)
    missing = client.get("/admin/channels/x/nothing-here")
    assert missing.status_code == 404 and missing.headers["content-type"].startswith("text/html")
    assert "Page not found" in missing.text and 'href="/admin/channels">Back to Channels' in missing.text
    unknown = client.get("/admin/no-such-page")
    assert unknown.status_code == 404 and "Back to" not in unknown.text and 'href="/admin/">Dashboard' in unknown.text
    invalid = client.get("/admin/runs/0")
    assert invalid.status_code == 422 and "Not a valid address or form" in invalid.text
    forged = client.post("/admin/platforms", data={"csrf_token": "forged", "value": "x"})
    assert forged.status_code == 403 and "CSRF" in forged.text and 'href="/admin/"' in forged.text
    import oms_bridge.web.admin_runs as runs_module

    def broken(_session):
        raise RuntimeError("boom")

    monkeypatch.setattr(runs_module, "list_channels", broken)
    crashed = client.get("/admin/runs")
    assert crashed.status_code == 500 and "Something went wrong" in crashed.text and "boom" not in crashed.text
    assert client.get("/api/nothing-here").json() == {"detail": "Not Found"}
    assert client.get("/healthz").headers["content-type"].startswith("application/json")


# ------------------------------------------------------------------------------ look, CSP, time zone
def test_csp_is_strict_and_no_template_holds_inline_style_or_script(sqlite_settings):
    assert ADMIN_CSP == ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
                         "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
    for template in TEMPLATES.glob("*.html"):
        text = template.read_text(encoding="utf-8")
        assert "<style" not in text and " style=" not in text, template.name
        assert not re.search(r"<script(?![^>]*\bsrc=)", text), template.name
        assert not re.search(r"\son[a-z]+=", text), template.name  # no inline event handlers
    client = _client(sqlite_settings)
    page = client.get("/admin/")
    assert page.headers["content-security-policy"] == ADMIN_CSP
    assert '<meta name="viewport"' in page.text and '<nav aria-label="Main">' in page.text
    assert '<a href="/admin/" aria-current="page">Dashboard</a>' in page.text
    runs = client.get("/admin/runs?process=getorder").text
    assert '<a href="/admin/runs" aria-current="page">Process runs</a>' in runs
    css = client.get("/admin/static/admin.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert client.get("/admin/static/vendor/chart.umd.min.js").status_code == 200


def test_display_time_zone_is_a_setting(sqlite_settings, monkeypatch):
    settings = sqlite_settings
    channel_id = _channel(settings)
    with session_scope(settings) as s:
        run = s.scalars(select(ProcessRun).where(ProcessRun.oms_channel_id == channel_id)).one()
        started = run.started
    client = _client(settings)
    assert f"{started.astimezone(ZoneInfo('Asia/Taipei')):%Y-%m-%d %H:%M}" in client.get("/admin/runs").text
    monkeypatch.setenv("OMS_BRIDGE_DISPLAY_TIMEZONE", "UTC")
    reset_settings()
    html = client.get("/admin/runs").text
    assert f"{started:%Y-%m-%d %H:%M}" in html and "Times in UTC" in html
    with pytest.raises(SettingsError, match="display_timezone"):
        load_settings({"OMS_BRIDGE_HOME": str(settings.home), "OMS_BRIDGE_DISPLAY_TIMEZONE": "Mars/Olympus"})


def test_static_files_ship_with_the_package():
    """A plain ``pip install`` serves the style sheet, scripts and Chart.js: every file under static/ matches
    a package_data pattern of setup.cfg (a new kind of file would be silently left out of the wheel)."""
    import configparser
    from fnmatch import fnmatch

    root = Path(__file__).resolve().parents[2]
    config = configparser.ConfigParser()
    config.read(root / "setup.cfg")
    patterns = [p.strip() for p in config["options.package_data"]["oms_bridge.web"].split(",")]
    web = root / "oms_bridge" / "web"
    files = [f.relative_to(web).as_posix() for f in (web / "static").rglob("*") if f.is_file()]
    assert "static/vendor/chart.umd.min.js" in files and "static/vendor/chart.js-LICENSE.md" in files
    assert [f for f in files if not any(fnmatch(f, p) for p in patterns)] == []


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def test_run_getorder_now_needs_csrf_and_does_not_pile_up(sqlite_settings, monkeypatch):
    """The button starts one background run per channel at a time; a forged form starts nothing."""
    import threading

    from oms_bridge.web import background

    settings = sqlite_settings
    channel_id = _channel(settings)
    started, release = [], threading.Event()

    def slow_getorder(cid, *, settings):
        started.append(cid)
        release.wait(10)

    monkeypatch.setattr(background, "run_getorder", slow_getorder)
    client = _client(settings)
    token = _csrf(client.get("/admin/channels/momo-a").text)
    assert client.post("/admin/channels/momo-a/getorder", data={"csrf_token": "forged"}).status_code == 403
    first = client.post("/admin/channels/momo-a/getorder", data={"csrf_token": token})
    assert "GetOrder of channel momo-a started" in first.text
    second = client.post("/admin/channels/momo-a/getorder", data={"csrf_token": token})
    assert "still running; wait for it" in second.text
    release.set()
    background._jobs[("getorder", channel_id)].result(timeout=10)  # the first run ends
    third = client.post("/admin/channels/momo-a/getorder", data={"csrf_token": token})
    assert "GetOrder of channel momo-a started" in third.text
    background._jobs[("getorder", channel_id)].result(timeout=10)
    assert started == [channel_id, channel_id]  # the forged and the refused click started nothing
    with session_scope(settings) as s:
        s.get(Channel, channel_id).isactive = False
    disabled = client.post("/admin/channels/momo-a/getorder", data={"csrf_token": token})
    assert "channel momo-a is disabled: enable it first" in disabled.text


def test_channel_page_shows_the_authorization_that_is_true_now(sqlite_settings):
    """``auth_state`` says "active" until something writes it; a refresh token that ran out since then
    means the channel needs the merchant again, and the page says so (with the button, not a command)."""
    settings = sqlite_settings
    channel_id = _channel(settings)
    vault = Vault.from_settings(settings)
    _deliveries(settings, channel_id, {"held": 2, "dead": 1})
    client = _client(settings)
    page = client.get("/admin/channels/momo-a").text
    assert 'id="auth-state">active<' in page
    assert ">2 held</a>" in page and ">1 dead</a>" in page and "4 min ago" in page  # held, dead, sync lag
    with session_scope(settings) as s:
        ch = s.get(Channel, channel_id)
        ch.access_token_enc, ch.refresh_token_enc = vault.encrypt("a-token"), vault.encrypt("r-token")
        ch.access_expires_at = utcnow() - timedelta(hours=1)
        ch.refresh_expires_at = utcnow() - timedelta(minutes=5)
    page = client.get("/admin/channels/momo-a").text
    assert 'id="auth-state">reauth_required<' in page
    assert "the refresh token has expired: authorize the channel again" in page
    with session_scope(settings) as s:
        s.get(Channel, channel_id).isactive = False
    assert 'id="auth-state">disabled<' in client.get("/admin/channels/momo-a").text
