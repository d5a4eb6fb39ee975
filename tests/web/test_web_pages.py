"""Every admin page renders from a populated store on SQLite and on PostgreSQL (queries are dialect-safe)."""

from __future__ import annotations

from fastapi.testclient import TestClient

from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order, ProcessRun, SkuMap, utcnow
from oms_bridge.vault import Vault
from oms_bridge.web.app import create_app
from oms_bridge.web.security import SESSION_COOKIE, authenticate, issue_session, set_admin_password
from scheduler.builder import build_scheduler
from scheduler.config import ScheduleConfig
from scheduler.sync import reconcile


def test_every_page_renders_on_both_stores(store_settings):
    settings = store_settings
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        add_platform(s, vault, value="momo-app", platform_type="momo", host="http://127.0.0.1:9",
                               app_secret="app-secret-123456")
        ch = add_channel(s, vault, value="momo-a", platform="momo-app", shop_id="1",
                                   credentials={"entpPwd": "pw-secret-987654"})
        ch.auth_state = "active"
        held = Order(oms_channel_id=ch.id, external_id="H-1", status="paid", order_created=utcnow(),
                     is_held=True, held_reason="malformed payload: no items", raw_payload="not json")
        ok = Order(oms_channel_id=ch.id, external_id="OK-1", status="paid", order_created=utcnow(),
                   raw_payload='{"a": 1}')
        s.add_all([held, ok])
        s.flush()
        (row,) = outbox.arm(s, ok, ["erp"])
        outbox.mark_held(row, "SKU ABC-1 has no ERP product", code="missing_sku:ABC-1")
        s.add(SkuMap(sku="XYZ", m_product_id=130))
        s.add(ProcessRun(process="getorder", oms_channel_id=ch.id, started=utcnow(), ended=utcnow(),
                         outcome="success", fetched=2, new=2))
    set_admin_password("admin", "page-test-password", settings=settings)
    sched = build_scheduler(settings, ScheduleConfig())  # its jobs stay in the shared table after shutdown
    sched.start(paused=True)
    reconcile(sched, settings, ScheduleConfig())
    sched.shutdown(wait=False)
    client = TestClient(create_app())
    client.cookies.set(SESSION_COOKIE, issue_session(authenticate("admin", "page-test-password", settings=settings),
                                                     settings=settings))
    expectations = {
        "/admin/": "1 delivery is held",  # a recent successful GetOrder: not stale; the held row is a warning
        "/admin/platforms": "momo-app",
        "/admin/platforms/momo-app": "3456",
        "/admin/channels": "momo-a",
        "/admin/channels/momo-a": "Check credentials",
        "/admin/orders?held=Y": "H-1",
        "/admin/orders?channel=momo-a&status=paid&held=N": "OK-1",
        "/admin/orders/momo-a/OK-1": "SKU ABC-1 has no ERP product",
        "/admin/orders/momo-a/H-1": "not json",
        "/admin/held?destination=erp": "SKU ABC-1 has no ERP product",
        "/admin/skus": "ABC-1",
        "/admin/runs?channel=momo-a&process=getorder": "success",
    }
    for path, text in expectations.items():
        answer = client.get(path)
        assert answer.status_code == 200, (path, answer.text[:300])
        assert text in answer.text, path
        assert "app-secret-123456" not in answer.text and "pw-secret-987654" not in answer.text
    dashboard = client.get("/admin/").text
    assert "not scheduled" not in dashboard and 'class="next-run">' in dashboard  # next GetOrder from the job table
    missing = client.get("/admin/orders/momo-a/NOPE")
    assert missing.status_code == 404 and "no order" in missing.text
    assert client.get("/admin/channels/nope").status_code == 404
