"""The Alerts and Reconciliation admin pages in a real browser (headless Chromium) on a real server.

Alerts: add a target (its URL a password field, masked afterwards, never in the page), "Send test" reaches a
real webhook receiver, the firing alert shows what is wrong, since when and what to do, the history lists
what was sent, Remove removes. Reconciliation: run one for a channel from the page and read its report.
"""

from __future__ import annotations

import sys
from datetime import timedelta
from pathlib import Path

import pytest
from test_web_browser import browser, login, page, server, shot  # noqa: F401 - fixtures of the browser tests

from channels.getorder import run_getorder
from oms_bridge.alerts.engine import run_alerts
from oms_bridge.reconcile.compare import day_of
from oms_bridge.settings import get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, utcnow
from sandboxes.cyberbiz import CyberbizSandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "alerts"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "channels"))
from alerts_kit import channel, order  # noqa: E402 - the alert tests' kit
from channels_kit import FAST, bind  # noqa: E402 - the channel tests' kit
from receivers import WebhookReceiver  # noqa: E402 - the alert tests' receivers

pytestmark = pytest.mark.browser
SECRET = "s3cr3t-hook-key"


def test_alerts_page_targets_test_history_and_what_is_wrong(page) -> None:  # noqa: F811 - the page fixture
    settings = get_settings()
    with WebhookReceiver() as webhook:
        login(page)
        page.goto("/admin/alerts")
        assert page.locator("#alerts").inner_text().endswith("Nothing is wrong.")
        assert page.locator("#add-target input[name=url]").get_attribute("type") == "password"
        page.fill("#add-target input[name=value]", "ops-hook")
        page.fill("#add-target input[name=url]", f"json://127.0.0.1:{webhook.port}/hook/{SECRET}")
        page.fill("#add-target input[name=description]", "on-call")
        page.click("#add-target button[type=submit]")
        assert "alert target ops-hook added" in page.locator("#flash-ok").inner_text()
        assert f"json://127.0.0.1:{webhook.port}/****" in page.locator("#targets").inner_text()
        assert SECRET not in page.content()

        page.click("#targets button.test")
        assert page.locator("#flash-ok").inner_text() == "test notification sent to ops-hook"
        assert webhook.titles() == ["[oms-bridge] test notification"]
        assert "test notification" in page.locator("#history").inner_text()

        ch = channel(settings, auth_state="new")
        order_id = order(settings, ch, "2605010001")
        with session_scope(settings) as s:
            row = s.query(Delivery).filter_by(oms_order_id=order_id, destination="erp").one()
            outbox.mark_retry(row, "connection refused", max_attempts=1)
        assert run_alerts(settings=settings).fired == ["dead:erp"]
        page.goto("/admin/alerts")
        alerts = page.locator("#alerts").inner_text()
        assert "firing" in alerts and "1 delivery(ies) to the ERP (iDempiere) gave up" in alerts
        assert "oms-bridge erp retry --all-held" in alerts
        assert "PROBLEM: 1 delivery(ies)" in page.locator("#history").inner_text()
        shot(page, "alerts")

        page.click("#targets button.remove")
        assert page.locator("#flash-ok").inner_text() == "alert target ops-hook removed"
        assert "No targets" in page.locator("#targets").inner_text()


def test_reconciliation_page_runs_one_and_shows_its_report(page) -> None:  # noqa: F811 - the page fixture
    settings = get_settings()
    with CyberbizSandbox() as sandbox:
        bound = bind(settings, sandbox, "cbz-web")
        now = utcnow()
        numbers = sandbox.generate_orders(bound.shop_id, 3, start=now - timedelta(hours=3),
                                          end=now - timedelta(hours=2), status="paid")
        assert run_getorder(bound.channel_id, settings=settings, clock=sandbox.clock.now, policy=FAST).new == 3
        lost = sandbox.generate_orders(bound.shop_id, 1, start=now - timedelta(hours=2), end=now - timedelta(hours=2))
        login(page)
        page.goto("/admin/reconcile")
        assert "No reconciliation yet." in page.locator("#reconciliations").inner_text()
        page.select_option("#run-reconcile select[name=channel]", "cbz-web")
        page.fill("#run-reconcile input[name=since]", day_of(now - timedelta(days=1)).isoformat())
        page.click("#run-reconcile button[type=submit]")
        page.wait_for_url("**/admin/reconcile/*")
        assert page.locator("#outcome").inner_text() == "missing"
        days = page.locator("#days").inner_text()
        assert "Total\t4\t3" in days
        differences = page.locator("#differences").inner_text()
        assert f"{lost[0]}\tstore\tmissing" in differences
        assert "Total\t4\t3\t-\t-" in days  # neither an ERP nor an OMS is connected here: not compared
        content = page.content()
        assert "no ERP is connected: its column was not compared" in content
        assert "no OMS is connected: its column was not compared" in content
        assert differences.count("\n") == 1 and not any(n in differences for n in numbers)
        shot(page, "reconciliation")
        page.goto("/admin/reconcile")
        assert "cbz-web" in page.locator("#reconciliations").inner_text()
