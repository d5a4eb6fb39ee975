"""The operator console in a real browser (Debian's Chromium via Playwright, a real uvicorn server):
dashboard tiles and their links, charts drawn from the JSON endpoints, Run GetOrder now and backfill
against the momo sandbox (real HTTP), the runs filters and detail, error pages, the 390 px layout,
and on every admin page (:data:`ADMIN_PAGES`): screenshots at desktop and phone width (kept in
``test-artifacts/console/``), no CSP violation, and axe-core (shipped inside the
``axe-playwright-python`` package: no network) with zero serious or critical violations.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from sqlalchemy import select
from test_web_browser import ARTIFACTS, PASSWORD, browser, login, server  # noqa: F401 - fixtures

from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.lookups import get_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.settings import get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order, ProcessRun, Reconciliation, utcnow
from oms_bridge.store.models.backfill import Backfill
from oms_bridge.vault import Vault

pytestmark = pytest.mark.browser

SHOTS = ARTIFACTS / "console"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}

#: Every admin page the checks visit: (name, path). Another page? Add it here (``{run}``, ``{rec}`` are
#: filled with the seeded run and reconciliation ids).
ADMIN_PAGES = [
    ("dashboard", "/admin/"),
    ("platforms", "/admin/platforms"),
    ("platform", "/admin/platforms/momo-app"),
    ("channels", "/admin/channels"),
    ("channel", "/admin/channels/momo-a"),
    ("orders", "/admin/orders"),
    ("order", "/admin/orders/momo-a/C-1"),
    ("held", "/admin/held"),
    ("skus", "/admin/skus"),
    ("oms_products", "/admin/oms-products"),
    ("runs", "/admin/runs"),
    ("run", "/admin/runs/{run}"),
    ("alerts", "/admin/alerts"),
    ("reconcile", "/admin/reconcile"),
    ("reconciliation", "/admin/reconcile/{rec}"),
    ("not_found", "/admin/no-such-page"),
]
#: axe-core impacts that fail the check
BLOCKING = ("serious", "critical")


@pytest.fixture
def context(browser, server):  # noqa: F811 - the fixture imported above
    """A desktop-sized browser context that records CSP violations the pages cause."""
    ctx = browser.new_context(base_url=server, viewport=DESKTOP)
    ctx.csp_problems = []
    ctx.on("console", lambda msg: ctx.csp_problems.append(msg.text)
           if "Content Security Policy" in msg.text else None)
    yield ctx
    ctx.close()


@pytest.fixture
def page(context):
    page = context.new_page()
    page.on("console", lambda msg: context.csp_problems.append(msg.text)
            if "Content Security Policy" in msg.text else None)
    return page


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


# ------------------------------------------------------------------------------ store
def _seed(settings, *, host: str = "http://127.0.0.1:9", shop: dict | None = None) -> dict[str, int]:
    """A channel with orders, held/dead/retrying deliveries, runs and a reconciliation."""
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        add_platform(s, vault, value="momo-app", platform_type="momo", host=host)
        ch = add_channel(s, vault, value="momo-a", platform="momo-app",
                                   shop_id=(shop or {}).get("shop_id", "S1"),
                                   credentials=(shop or {}).get("credentials"), settings={"note": "x \"y\""})
        ch.auth_state = "active"
        ch.order_watermark = utcnow() - timedelta(minutes=2)
        s.flush()
        channel_id = ch.id
        now = utcnow()
        for n, state in enumerate(["held"] * 4 + ["dead"] * 2 + ["retry", "sent", "sent", "pending"], start=1):
            order = Order(oms_channel_id=channel_id, external_id=f"C-{n}", status="paid", platform_status="PAID",
                          order_created=now - timedelta(hours=n * 3), currency="TWD", raw_payload=json.dumps({"n": n}))
            s.add(order)
            s.flush()
            (row,) = outbox.arm(s, order, ["erp"])
            s.flush()
            if state == "held":
                outbox.mark_held(row, "SKU SAUCE-CHILI has no ERP product", code="missing_sku:SAUCE-CHILI")
            elif state == "sent":
                outbox.mark_sent(row)
            elif state != "pending":
                row.state, row.last_error = state, "ERP answered 500"
        for k in range(12):
            s.add(ProcessRun(process="getorder", oms_channel_id=channel_id, started=now - timedelta(minutes=30 * k),
                             ended=now - timedelta(minutes=30 * k) + timedelta(seconds=2 + k), outcome="success",
                             fetched=k))
        failed = ProcessRun(process="erp_delivery", started=now, ended=now + timedelta(seconds=4), outcome="failed",
                            failed=1, error_text="ERP answered 500")
        s.add(failed)
        s.add_all([ProcessRun(process="erp_delivery", started=now, ended=now, outcome="success") for _ in range(5)])
        rec = Reconciliation(oms_channel_id=channel_id, first_day=now.date(), last_day=now.date(), started=now,
                             ended=now, outcome="match", listed=3, stored=3, missing=0, differences_total=0,
                             report_json=json.dumps({"days": [], "differences": []}))
        s.add(rec)
        s.flush()
        return {"channel": channel_id, "run": failed.id, "rec": rec.id}


# ------------------------------------------------------------------------------ flows
def test_dashboard_tiles_link_to_the_fix_and_charts_are_drawn(page, context):
    _seed(get_settings())
    login(page)
    assert page.locator("#tile-held .n").inner_text() == "4"
    assert page.locator("#tile-dead .n").inner_text() == "2"
    assert page.locator("#tile-retrying .n").inner_text() == "1"
    warnings = page.locator("#warnings").inner_text()
    assert "4 deliveries are held" in warnings and "Nothing needs attention" not in warnings
    assert page.locator('nav a[aria-current="page"]').inner_text() == "Dashboard"
    for canvas in ("chart-orders-24", "chart-orders-7d", "chart-backlog", "chart-runs"):
        page.wait_for_selector(f"#{canvas}[data-ready='1']", timeout=15_000)
    drawn = page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('canvas[data-src]')].map(c =>
        [c.id, c.chart.data.datasets.reduce((n, d) => n + d.data.reduce((m, v) => m + (v.y ?? v), 0), 0)]))""")
    assert drawn["chart-orders-24"] == 7  # orders created 3, 6 .. 30 h ago: 7 fall in the last 24 hours
    assert drawn["chart-orders-7d"] == 10
    assert drawn["chart-backlog"] > 0 and drawn["chart-runs"] > 0
    painted = page.evaluate("""() => { const c = document.getElementById('chart-orders-7d');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }""")
    assert painted > 1000  # pixels on the canvas: the chart was drawn, not only configured
    misplaced = page.evaluate("""() => { const ch = document.getElementById('chart-runs').chart, bad = [];
        ch.data.datasets.forEach((d, i) => ch.getDatasetMeta(i).data.forEach((point, j) => {
            const want = ch.scales.x.getPixelForValue(ch.data.labels.indexOf(d.data[j].x));
            if (Math.abs(point.x - want) > 0.5) bad.push([d.label, d.data[j].x]); })); return bad; }""")
    assert misplaced == []  # each run at its own start time (runs started in the same second included)
    shot(page, "dashboard_desktop")
    page.click("#tile-held")
    page.wait_for_url("**/admin/held?state=held")
    page.go_back()
    page.click("#tile-dead")
    page.wait_for_url("**/admin/held?state=dead")
    assert context.csp_problems == []


def test_run_getorder_now_and_backfill_with_progress(page):
    from sandboxes.momo import MomoSandbox

    settings = get_settings()
    with MomoSandbox() as sandbox:
        shop = sandbox.add_shop()
        now = utcnow()
        sandbox.generate_orders(shop["shop_id"], 3, start=now - timedelta(hours=5), end=now - timedelta(hours=1))
        sandbox.generate_orders(shop["shop_id"], 4, start=now - timedelta(days=3), end=now - timedelta(days=2))
        _seed(settings, host=sandbox.base_url, shop=shop)
        with session_scope(settings) as s:  # GetOrder reads from its watermark: look back 6 hours
            get_channel(s, "momo-a").order_watermark = now - timedelta(hours=6)
        login(page)
        page.goto("/admin/channels/momo-a")
        page.click("#run-getorder")
        assert "GetOrder of channel momo-a started" in page.locator("#flash-ok").inner_text()
        _wait_for(page, "/admin/channels/momo-a", lambda: "getorder" in page.locator("#channel-runs tr").nth(1)
                  .inner_text() and "success" in page.locator("#channel-runs tr").nth(1).inner_text())
        first = page.locator("#channel-runs tr").nth(1).inner_text()
        assert "3 / 3 / 0 / 0" in first  # fetched / new / changed / held: the 3 recent orders
        shot(page, "channel_getorder_now")
        page.fill("#backfill-since", (now - timedelta(days=4)).strftime("%Y-%m-%d"))
        page.click("#start-backfill")
        assert "backfill of channel momo-a" in page.locator("#flash-ok").inner_text()
        _wait_for(page, "/admin/channels/momo-a", lambda: page.locator("#backfills progress").count() == 1)
        _wait_for(page, "/admin/channels/momo-a",
                  lambda: page.locator("#backfills tr").nth(1).locator("td.state-done").count() == 1)
        row = page.locator("#backfills tr").nth(1)
        assert row.locator(".backfill-percent").inner_text() == "100 %"
        assert row.locator("progress").get_attribute("value") == "100"
        shot(page, "channel_backfill_done")
    with session_scope(settings) as s:
        assert s.scalars(select(Backfill)).one().state == "done"
        assert s.scalar(select(ProcessRun.outcome).where(ProcessRun.process == "backfill")) == "success"
        numbers = set(s.scalars(select(Order.external_id)))
    assert len(numbers) == 10 + 7  # the seeded ten and every sandbox order, each once


def _wait_for(page, path: str, done, timeout: float = 60) -> None:
    """Reload ``path`` until ``done()`` (the page refreshes itself too while a run is busy)."""
    deadline = time.monotonic() + timeout
    while True:
        page.goto(path)
        if done():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"{path}: not done after {timeout} s:\n{page.locator('main').inner_text()[:2000]}")
        time.sleep(0.5)


def test_runs_filters_and_detail(page):
    ids = _seed(get_settings())
    login(page)
    page.goto("/admin/runs?process=getorder")
    page.wait_for_selector("#chart-run-durations[data-ready='1']", timeout=15_000)
    series = page.evaluate("() => document.getElementById('chart-run-durations').chart.data.datasets"
                           ".map(d => [d.label, d.data.length])")
    assert series == [["getorder", 12]]  # the durations chart follows the process filter
    page.goto("/admin/runs")
    assert "5 empty delivery run(s) hidden" in page.locator("#runs-summary").inner_text()
    assert page.locator("#runs tr").count() == 1 + 13  # 12 getorder + 1 failed erp_delivery
    page.check("input[name=empty]")
    page.click("#run-filters button[type=submit]")
    assert page.locator("#runs tr").count() == 1 + 18
    page.uncheck("input[name=empty]")
    page.select_option("select[name=outcome]", "failed")
    page.click("#run-filters button[type=submit]")
    assert page.locator("#runs tr").count() == 2
    shot(page, "runs_failed")
    page.click(f"#runs a[href='/admin/runs/{ids['run']}']")
    page.wait_for_url(f"**/admin/runs/{ids['run']}")
    assert page.locator("#run-outcome").inner_text() == "failed"
    assert page.locator("#run-duration").inner_text() == "4.0 s"
    assert page.locator("#run-error").inner_text() == "ERP answered 500"
    shot(page, "run_detail")


def test_error_pages_lead_back(page):
    _seed(get_settings())
    login(page)
    answer = page.goto("/admin/channels/momo-a/no-such-thing")
    assert answer.status == 404
    assert "Page not found" in page.locator("h1").inner_text()
    page.click("#way-back >> text=Back to Channels")
    page.wait_for_url("**/admin/channels")
    answer = page.goto("/admin/runs/0")
    assert answer.status == 422 and "Not a valid address" in page.locator("h1").inner_text()
    page.click("#way-back >> text=Dashboard")
    page.wait_for_url("**/admin/")
    shot(page, "dashboard_after_error")


def test_every_admin_page_at_desktop_and_phone_width_passes_axe(page, context):
    """Screenshots of every page at 1280 and 390 px; at 390 px nothing but a table scrolls sideways;
    axe-core finds no serious or critical violation; the strict CSP blocks nothing the pages need."""
    from axe_playwright_python.sync_playwright import Axe

    ids = _seed(get_settings())
    axe = Axe()
    page.goto("/admin/login")
    pages = [("login", "/admin/login")]
    login(page)
    pages += [(name, path.format(**ids)) for name, path in ADMIN_PAGES]
    problems: dict[str, list[str]] = {}
    for name, path in pages:
        if name == "login":
            page.context.clear_cookies()
        for width, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            page.goto(path)
            page.wait_for_load_state("networkidle")
            shot(page, f"{name}_{width}")
            if width == "phone":
                overflow = page.evaluate("() => document.documentElement.scrollWidth")
                assert overflow <= PHONE["width"], f"{path} is {overflow} px wide at 390 px"
            results = axe.run(page)
            bad = [f"{v['id']} ({v['impact']}): {v['help']} – {[n['target'] for n in v['nodes']][:3]}"
                   for v in results.response["violations"] if v["impact"] in BLOCKING]
            if bad:
                problems[f"{path} @ {width}"] = bad
        if name == "login":
            login(page)
    assert problems == {}, json.dumps(problems, indent=1)
    assert context.csp_problems == []


def test_dashboard_refreshes_itself_until_paused(page, monkeypatch):
    from oms_bridge.web import admin_dashboard

    monkeypatch.setattr(admin_dashboard, "REFRESH_SECONDS", 1)  # the server runs in this process
    login(page)
    with page.expect_event("load", timeout=5_000):  # reloaded by itself
        pass
    assert page.locator("#auto-refresh").is_checked()
    page.uncheck("#auto-refresh")  # paused: remembered for this page
    page.reload()
    assert not page.locator("#auto-refresh").is_checked()
    loads = []
    page.on("load", lambda _: loads.append(1))
    page.wait_for_timeout(2_500)
    assert loads == []
