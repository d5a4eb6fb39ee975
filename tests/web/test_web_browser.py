"""The admin pages in a real browser (Debian's headless Chromium via Playwright) against a real
uvicorn server on 127.0.0.1. Screenshots of every flow land in ``test-artifacts/``."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from oms_bridge.configure.channels import add_channel, credential_fields, decrypt_channel_credentials
from oms_bridge.configure.lookups import get_channel, list_platforms
from oms_bridge.configure.platforms import add_platform
from oms_bridge.service import BridgeService
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, OrderLine, ProcessRun, SkuMap, utcnow
from oms_bridge.vault import Vault
from oms_bridge.web.security import set_admin_password
from sandboxes.shopee import ShopeeSandbox

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
PASSWORD = "correct horse battery"
ARGS = ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Debian's chromium is required for the browser tests: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()


@pytest.fixture
def server(home, monkeypatch) -> Iterator[str]:
    """A real HTTP server (no scheduler) on a free port, its base URL in the settings for OAuth."""
    port = _free_port()
    monkeypatch.setenv("OMS_BRIDGE_BASE_URL", f"http://127.0.0.1:{port}")
    reset_settings()
    settings = get_settings()
    from oms_bridge.store.db import get_engine
    from oms_bridge.store.models import Base

    Base.metadata.create_all(get_engine(settings))
    set_admin_password("admin", PASSWORD, settings=settings)
    service = BridgeService(settings, http=True, scheduler_enabled=False, port=port).start()
    service.wait_started()
    try:
        yield service.url
    finally:
        service.stop()


@pytest.fixture
def page(browser, server):
    context = browser.new_context(base_url=server)
    page = context.new_page()
    yield page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"web_{name}.png"), full_page=True)


def login(page) -> None:
    page.goto("/admin/login")
    page.fill("#username", "admin")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/admin/")


# ------------------------------------------------------------------------------ store fixtures
def _platform_and_channel(settings, *, ptype="momo", host="http://127.0.0.1:9", state="active") -> int:
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        add_platform(s, vault, value=f"{ptype}-app", platform_type=ptype, host=host)
        ch = add_channel(s, vault, value=f"{ptype}-shop", platform=f"{ptype}-app", shop_id="S1")
        ch.auth_state = state
        return ch.id


def _held_order(settings, channel_id: int, number: str, *, reason: str, code: str) -> int:
    with session_scope(settings) as s:
        order = Order(oms_channel_id=channel_id, external_id=number, status="paid", platform_status="PAID",
                      order_created=utcnow(), currency="TWD",
                      raw_payload=json.dumps({"order_sn": number, "note": "原始資料"}, ensure_ascii=False))
        s.add(order)
        s.flush()
        (row,) = outbox.arm(s, order, ["erp"])
        s.flush()
        outbox.mark_held(row, reason, code=code)
        return row.id


# ------------------------------------------------------------------------------ flows
def test_login_rejects_a_wrong_password(page):
    page.goto("/admin/")
    page.wait_for_url("**/admin/login**")  # not logged in: sent to the login page
    page.fill("#password", "not the password")
    page.click("#login-form button[type=submit]")
    assert page.locator("#flash-err").inner_text() == "Wrong user name or password."
    shot(page, "login_rejected")
    page.fill("#password", PASSWORD)
    page.click("#login-form button[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("h1").inner_text() == "Dashboard"
    shot(page, "dashboard_empty")


def test_form_with_a_forged_csrf_token_is_rejected(page):
    login(page)
    page.goto("/admin/platforms")
    page.fill("#add-platform input[name=value]", "forged")
    page.fill("#add-platform input[name=host]", "http://127.0.0.1:9")
    page.evaluate("document.querySelector('#add-platform input[name=csrf_token]').value = 'forged-token'")
    with page.expect_response("**/admin/platforms") as answer:
        page.click("#add-platform button[type=submit]")
    assert answer.value.status == 403
    assert "CSRF" in page.content()
    shot(page, "csrf_rejected")
    with session_scope(get_settings()) as s:
        assert list_platforms(s) == []  # nothing changed


def test_dashboard_shows_warnings_and_counts(page):
    settings = get_settings()
    channel_id = _platform_and_channel(settings)
    with session_scope(settings) as s:
        ch = s.get(Channel, channel_id)
        ch.auth_state = "reauth_required"
        ch.auth_message = "Shopee refused the refresh token for channel momo-shop. Run `oms-bridge channel authorize`."
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        stale = add_channel(s, vault, value="stale-shop", platform="momo-app", shop_id="S2")
        stale.auth_state = "active"
        stale.access_expires_at = utcnow() + timedelta(hours=3, minutes=30, seconds=30)
        stale.refresh_expires_at = utcnow() + timedelta(hours=2)  # dies before the refresh is due: warn
        s.add(ProcessRun(process="getorder", oms_channel_id=channel_id, started=utcnow(), ended=utcnow(),
                         outcome="reauth_required", fetched=0))
    _held_order(settings, channel_id, "A-1", reason="SKU ABC-1 has no ERP product", code="missing_sku:ABC-1")
    login(page)
    warnings = page.locator("#warnings").inner_text()
    assert "Shopee refused the refresh token" in warnings
    assert "sync stale: no successful GetOrder for channel stale-shop yet" in warnings
    assert "the refresh token of channel stale-shop expires on" in warnings  # token expiring
    assert "3 h 30 min" in page.locator("#channels tr", has_text="stale-shop").inner_text()  # access countdown
    assert page.locator("#channels td.state-reauth_required").first.inner_text() == "reauth_required"
    held_cell = page.locator("#deliveries tr", has_text="erp").locator("a")
    assert held_cell.inner_text() == "1"
    shot(page, "dashboard_warnings")


def test_add_platform_and_channel_never_show_a_secret(page):
    secret, cred = "partner-key-SECRET-9876", "vendor-password-5555"
    login(page)
    page.goto("/admin/platforms")
    page.fill("#add-platform input[name=value]", "momo-main")
    page.select_option("#add-platform select[name=platform_type]", "momo")
    page.fill("#add-platform input[name=host]", "http://127.0.0.1:9")
    page.fill("#add-platform input[name=app_secret]", secret)
    page.click("#add-platform button[type=submit]")
    assert "platform momo-main added" in page.locator("#flash-ok").inner_text()
    assert secret not in page.content() and "9876" in page.locator("#platforms").inner_text()
    page.goto("/admin/channels")
    page.fill("#add-channel input[name=value]", "momo-a")
    page.fill("#add-channel input[name=shop_id]", "123456")
    page.click("#add-channel button[type=submit]")
    page.wait_for_url("**/admin/channels/momo-a**")
    fields = credential_fields("momo")
    for name in fields:
        page.fill(f"input[name=cred_{name}]", f"{cred}-{name}")
    page.click("#edit-channel button[type=submit]")
    assert page.locator("#flash-ok").inner_text() == "saved"
    html = page.content()
    assert cred not in html  # only masked values reach the page
    shot(page, "channel_masked")
    vault = Vault.from_settings(get_settings())
    with session_scope(get_settings()) as s:
        stored = decrypt_channel_credentials(vault, get_channel(s, "momo-a"))
    assert stored == {name: f"{cred}-{name}" for name in fields}


def test_authorize_button_runs_the_oauth_flow(page):
    settings = get_settings()
    with ShopeeSandbox() as sandbox:
        pf = sandbox.platform_fields()
        shop = sandbox.add_shop()
        vault = Vault.from_settings(settings)
        with session_scope(settings) as s:
            add_platform(s, vault, value="shopee-app", platform_type="shopee", host=pf["host"],
                                   app_id=pf["app_id"], app_secret=pf["app_secret"])
            add_channel(s, vault, value="shopee-a", platform="shopee-app", shop_id=shop["shop_id"])
        login(page)
        page.goto("/admin/channels/shopee-a")
        assert page.locator("#auth-state").inner_text() == "new"
        page.click("#authorize")  # → Shopee's consent page → back to /oauth/callback/shopee
        page.wait_for_url("**/oauth/callback/shopee**")
        shot(page, "oauth_callback")
        assert sandbox.calls("/api/v2/shop/auth_partner") == 1
        assert sandbox.calls("/api/v2/auth/token/get") == 1
        page.goto("/admin/channels/shopee-a")
        assert page.locator("#auth-state").inner_text() == "active"
        assert "shopee-a" in page.content()
        shot(page, "channel_authorized")
    with session_scope(settings) as s:
        ch = get_channel(s, "shopee-a")
        assert ch.auth_state == "active" and ch.access_token_enc and ch.refresh_token_enc


def test_held_order_retry(page):
    settings = get_settings()
    channel_id = _platform_and_channel(settings)
    row_id = _held_order(settings, channel_id, "H-100", reason="product 140 not on price list 101",
                         code="price_list:140")
    login(page)
    page.goto("/admin/held")
    assert "product 140 not on price list 101" in page.locator("#held").inner_text()
    shot(page, "held_orders")
    page.click("#held button.retry")
    assert page.locator("#flash-ok").inner_text() == "order H-100 queued again for erp"
    assert "Nothing is held." in page.locator("#held").inner_text()
    with session_scope(settings) as s:
        assert s.get(Delivery, row_id).state == "pending"
    page.goto("/admin/orders/momo-shop/H-100")
    assert "原始資料" in page.locator("#raw-payload").inner_text()
    assert page.locator("#deliveries").get_by_text("pending").count() == 1
    shot(page, "order_page")


def test_sku_mapping_without_an_erp_to_check_it_is_refused(page):
    """A mapping is checked in the ERP before it re-queues held orders: with no ERP connection nothing is saved."""
    settings = get_settings()
    channel_id = _platform_and_channel(settings)
    held = _held_order(settings, channel_id, "S-1", reason="SKU ABC-1 has no ERP product", code="missing_sku:ABC-1")
    login(page)
    page.goto("/admin/skus")
    assert "ABC-1" in page.locator("#unmapped").inner_text()
    page.fill("#map-sku input[name=sku]", "ABC-1")
    page.fill("#map-sku input[name=m_product_value]", "Oak Tree")
    page.click("#map-sku button[value=map]")
    assert "no ERP connection to check the product against" in page.locator("#flash-err").inner_text()
    shot(page, "sku_mapping")
    with session_scope(settings) as s:
        assert s.get(Delivery, held).state == "held"
        assert s.scalars(select(SkuMap)).first() is None


def test_orders_filters_and_runs_page(page):
    settings = get_settings()
    channel_id = _platform_and_channel(settings)
    _held_order(settings, channel_id, "F-1", reason="r", code="c")
    with session_scope(settings) as s:
        s.add(ProcessRun(process="getorder", oms_channel_id=channel_id, started=utcnow(), ended=utcnow(),
                         outcome="success", fetched=7, new=7))
    login(page)
    page.goto("/admin/orders?status=paid")
    assert "F-1" in page.locator("#orders").inner_text()
    page.goto("/admin/orders?status=cancelled")
    assert "No orders match." in page.locator("#orders").inner_text()
    page.goto("/admin/runs?process=getorder")
    assert "success" in page.locator("#runs").inner_text()
    shot(page, "runs")


def test_check_credentials_button_on_a_credential_platform(page):
    from sandboxes.momo import MomoSandbox

    settings = get_settings()
    with MomoSandbox() as sandbox:
        shop = sandbox.add_shop()
        vault = Vault.from_settings(settings)
        with session_scope(settings) as s:
            add_platform(s, vault, value="momo-app", platform_type="momo", host=sandbox.base_url)
            add_channel(s, vault, value="momo-a", platform="momo-app", shop_id=shop["shop_id"],
                                  credentials={**shop["credentials"], "entpPwd": "wrong-password"})
        login(page)
        page.goto("/admin/channels/momo-a")
        assert page.locator("#authorize").inner_text() == "Check credentials"
        page.click("#authorize")
        assert "rejected" in page.locator("#flash-err").inner_text()
        assert page.locator("#auth-state").inner_text() == "error"
        shot(page, "credentials_rejected")
        page.fill("input[name=cred_entpPwd]", shop["credentials"]["entpPwd"])
        page.click("#edit-channel button[type=submit]")
        page.click("#authorize")
        assert "credentials work" in page.locator("#flash-ok").inner_text()
        assert page.locator("#auth-state").inner_text() == "active"
        shot(page, "credentials_checked")


def test_cyberbiz_token_channel_in_the_browser(page):
    """The add form refuses an auth_model typo; a token channel asks for its API token only, then checks it."""
    from sandboxes.cyberbiz import CyberbizSandbox

    settings = get_settings()
    with CyberbizSandbox() as sandbox:
        shop = sandbox.add_shop(auth_model="token")
        token = shop["credentials"]["access_token"]
        with session_scope(settings) as s:
            add_platform(s, Vault.from_settings(settings), value="cbz", platform_type="cyberbiz",
                                   host=sandbox.base_url)
        login(page)
        page.goto("/admin/channels")
        page.fill("#add-channel input[name=value]", "cbz-a")
        page.fill("#add-channel input[name=shop_id]", shop["shop_id"])
        page.fill("#add-channel textarea[name=settings_json]", '{"auth_model": "tokne"}')
        page.click("#add-channel button[type=submit]")
        assert "auth_model 'tokne' must be one of" in page.locator("#flash-err").inner_text()
        assert "cbz-a" not in page.locator("#channels").inner_text()
        page.fill("#add-channel input[name=value]", "cbz-a")
        page.fill("#add-channel input[name=shop_id]", shop["shop_id"])
        page.fill("#add-channel textarea[name=settings_json]", '{"auth_model": "token"}')
        page.click("#add-channel button[type=submit]")
        page.wait_for_url("**/admin/channels/cbz-a**")
        assert page.locator("input[name=cred_access_token]").count() == 1
        assert page.locator("input[name=cred_username]").count() == 0  # no HMAC fields for a token channel
        assert page.locator("#authorize").inner_text() == "Check credentials"
        page.fill("input[name=cred_access_token]", token)
        page.click("#edit-channel button[type=submit]")
        assert page.locator("#flash-ok").inner_text() == "saved"
        page.click("#authorize")
        assert "API token accepted" in page.locator("#flash-ok").inner_text()
        assert page.locator("#auth-state").inner_text() == "active"
        assert token not in page.content()
        shot(page, "cyberbiz_token_channel")


def test_oms_products_page_maps_imports_and_requeues(page):
    """The OMS products page: unmapped SKUs listed, one mapped by form, others imported from pasted CSV."""
    from oms_bridge.store.models.oms_notify import OmsProductRef, product_hold_code

    settings = get_settings()
    channel_id = _platform_and_channel(settings)
    with session_scope(settings) as s:
        order = Order(oms_channel_id=channel_id, external_id="OP-1", status="paid", platform_status="PAID",
                      order_created=utcnow(), currency="TWD")
        order.lines.append(OrderLine(line_no=1, sku="MUG-CER-350", name="馬克杯", qty=1, unit_price=299))
        s.add(order)
        s.flush()
        (row,) = outbox.arm(s, order, ["oms"])
        s.flush()
        outbox.mark_held(row, "SKU MUG-CER-350 has no Omnitron product id", code=product_hold_code("MUG-CER-350"))
        held_id = row.id
    login(page)
    page.goto("/admin/oms-products")
    assert page.locator("#policy").inner_text() == "warn"
    assert "MUG-CER-350" in page.locator("#unmapped").inner_text()
    page.fill("#map-product input[name=sku]", "MUG-CER-350")
    page.fill("#map-product input[name=omnitron_product_id]", "365")
    page.click("#map-product button[type=submit]")
    assert page.locator("#flash-ok").inner_text() == ("SKU MUG-CER-350 → Omnitron product 365; 1 held order(s) "
                                                      "queued again for the OMS")
    page.fill("#import-products textarea[name=csv]", "sku,omnitron_product_id\nTEA-1,8362\nBAD,x\n")
    page.click("#import-products button[type=submit]")
    assert "1 product id(s) imported" in page.locator("#flash-ok").inner_text()
    assert "line 3: SKU BAD" in page.locator("#flash-err").inner_text()
    table = page.locator("#product-ids").inner_text()
    assert "MUG-CER-350" in table and "365" in table and "TEA-1" in table and "8362" in table
    shot(page, "oms_products")
    with session_scope(settings) as s:
        assert s.get(Delivery, held_id).state == "pending"
        assert dict(s.execute(select(OmsProductRef.sku, OmsProductRef.omnitron_product_id)).tuples().all()) == {
            "MUG-CER-350": 365, "TEA-1": 8362}
    page.locator("#product-ids button").first.click()
    assert "product id of SKU MUG-CER-350 removed" in page.locator("#flash-ok").inner_text()


def test_order_page_and_dashboard_show_cancellation_requests(page):
    """An open stop-shipping request is counted on the dashboard, marked in the order list and shown with its
    decision on the order page; an answered one shows when and how it was answered."""
    from oms_bridge.store.models import OrderCancelRequest

    settings = get_settings()
    channel_id = _platform_and_channel(settings)
    now = utcnow()
    with session_scope(settings) as s:
        for number in ("20260315101500", "20260315093000"):
            s.add(Order(oms_channel_id=channel_id, external_id=number, status="ready_to_ship",
                        platform_status="unsendCompanyQuery", order_created=now, currency="TWD"))
        s.flush()
        open_id, done_id = (s.scalars(select(Order.id).where(Order.external_id == n)).one()
                            for n in ("20260315101500", "20260315093000"))
        s.add(OrderCancelRequest(oms_order_id=open_id, state="open", reason="客戶取消訂單", isallowed=True,
                                 reference="20260315101500-001-001-001", seen_at=now))
        s.add(OrderCancelRequest(oms_order_id=done_id, state="answered", reason="客戶取消訂單", isallowed=True,
                                 seen_at=now - timedelta(hours=1), decision="refuse", decided_at=now,
                                 decision_note="OMS package 702 is shipped (tracking TW-702)", answered_at=now,
                                 outcome="return_expected", outcome_note="momo took the answer (too late)"))
    login(page)
    assert "1 open cancellation" in page.inner_text("#open-requests")
    page.goto("/admin/orders")
    assert "cancel requested" in page.inner_text("#orders")
    page.goto("/admin/orders/momo-shop/20260315101500")
    table = page.inner_text("#cancel-requests")
    assert "open" in table and "客戶取消訂單" in table and "yes" in table
    page.goto("/admin/orders/momo-shop/20260315093000")
    table = page.inner_text("#cancel-requests")
    assert "answered" in table and "refuse" in table and "return_expected" in table and "TW-702" in table
    shot(page, "cancel_request")


def test_security_headers_leave_every_page_working_and_logout_ends_the_session(page):
    """The CSP blocks nothing the admin pages use (no violation in the console on any page); after logout
    the old session cookie, put back into the browser, no longer opens anything."""
    violations: list[str] = []
    page.on("console", lambda msg: violations.append(msg.text) if "Content Security Policy" in msg.text else None)
    _platform_and_channel(get_settings())
    login(page)
    for path in ("/admin/", "/admin/platforms", "/admin/channels", "/admin/channels/momo-shop", "/admin/orders",
                 "/admin/held", "/admin/skus", "/admin/runs"):
        answer = page.goto(path)
        assert answer.status == 200 and "default-src 'none'" in answer.headers["content-security-policy"], path
    assert violations == []
    cookie = next(c for c in page.context.cookies() if c["name"] == "omsb_session")
    page.click("header form button[type=submit]")  # Log out
    page.wait_for_url("**/admin/login?m=signed_out")
    assert "You are signed out." in page.content()
    page.context.add_cookies([cookie])  # what someone who copied the cookie would do
    page.goto("/admin/")
    page.wait_for_url("**/admin/login**")
    assert "Your session ended" in page.content()
    shot(page, "logout_ends_session")


def test_channel_interval_out_of_range_is_refused_with_the_range(page):
    """Issue 11: an interval of 2**40 minutes was accepted and then stopped the jobs of every channel."""
    settings = get_settings()
    _platform_and_channel(settings)
    login(page)
    page.goto("/admin/channels/momo-shop")
    page.fill("#edit-channel input[name=getorder_interval_minutes]", str(2**40))
    page.click("#edit-channel button[type=submit]")
    assert "must be between 1 and 10080 minutes" in page.locator("#flash-err").inner_text()
    shot(page, "interval_out_of_range")
    with session_scope(settings, readonly=True) as s:
        assert s.scalar(select(Channel.getorder_interval_minutes).where(Channel.value == "momo-shop")) is None


def test_runs_page_shows_a_dead_run_as_lost(page):
    """Issue 11: a killed run stayed `running` forever in the web admin; its stopped heartbeat says lost."""
    settings = get_settings()
    channel_id = _platform_and_channel(settings)
    long_ago = utcnow() - timedelta(hours=1)
    with session_scope(settings) as s:
        s.add(ProcessRun(process="getorder", oms_channel_id=channel_id, started=long_ago, heartbeat=long_ago,
                         outcome="running", details_json=json.dumps({"runner": "another-host:4242"})))
        s.add(ProcessRun(process="getorder", oms_channel_id=channel_id, started=utcnow(), heartbeat=utcnow(),
                         outcome="running", details_json=json.dumps({"runner": "another-host:4243"})))
    login(page)
    page.goto("/admin/runs")
    outcomes = page.locator("#runs td[class^=state-]").all_inner_texts()
    assert outcomes == ["running", "lost"]  # newest first: the live one, then the dead one
    shot(page, "runs_lost")
