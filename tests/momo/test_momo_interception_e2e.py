"""momo 攔貨 end to end, every part real: the momo sandbox over HTTP → GetOrder → the store (SQLite and PostgreSQL)
→ the iDempiere sandbox over SOAP → the OMS pulling the bridge's API and posting package webhooks (the app in
process) → the cancel-answers run → stopSendingConfirm on the momo sandbox → cancellation (VO) or a recorded
return, visible in ``oms-bridge orders show`` and on the admin pages.

The request is seen by GetOrder; the ERP delivery waits if the ERP does not have the order yet; the OMS is served
the order as 50 (cancellation waiting); the package state the OMS reported decides stopAct; the answer goes out
once, even when its reply is lost."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from momo_kit import FAST
from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "erp"))
from erp_helpers import erp_orders_by_number  # noqa: E402

from channels.authorization import check_credentials  # noqa: E402
from channels.cancel_answers import run_cancel_answers  # noqa: E402
from channels.getorder import run_getorder  # noqa: E402
from oms_bridge.cli.main import cli  # noqa: E402
from oms_bridge.erp.delivery import run_erp_delivery  # noqa: E402
from oms_bridge.settings import Settings  # noqa: E402
from oms_bridge.store.db import session_scope  # noqa: E402
from oms_bridge.store.models import Channel, Delivery, ErpConnection, Order, OrderCancelRequest, Platform  # noqa: E402
from oms_bridge.vault import Vault  # noqa: E402
from oms_bridge.web.app import create_app  # noqa: E402
from oms_bridge.web.security import SESSION_COOKIE, authenticate, issue_session, set_admin_password  # noqa: E402
from sandboxes.idempiere.server import ErpSandbox  # noqa: E402
from sandboxes.momo import MomoSandbox  # noqa: E402
from sandboxes.oms import OmsSimulator, package_payload  # noqa: E402
from sandboxes.server import SandboxClock  # noqa: E402


@dataclass
class World:
    settings: Settings
    market: MomoSandbox
    erp: ErpSandbox
    shop_id: str
    channel_id: int
    app: TestClient
    oms: OmsSimulator

    def generate(self, count: int, hours: tuple[int, int] = (3, 2)) -> list[str]:
        """``count`` company orders placed between ``hours[0]`` and ``hours[1]`` hours ago."""
        now = self.market.clock.now()
        return self.market.generate_orders(self.shop_id, count, start=now - timedelta(hours=hours[0]),
                                           end=now - timedelta(hours=hours[1]))

    def getorder(self):
        stats = run_getorder(self.channel_id, settings=self.settings, clock=self.market.clock.now, policy=FAST)
        assert stats.outcome in ("success", "partial"), stats.error_text
        return stats

    def answers(self, **kw):
        return run_cancel_answers(settings=self.settings, policy=FAST, clock=self.market.clock.now, **kw)

    def erp_run(self):
        stats = run_erp_delivery(settings=self.settings)
        assert stats.failed == 0, stats
        return stats

    def erp_order(self, number: str) -> dict | None:
        return erp_orders_by_number(self.erp).get(number)

    def row(self, number: str, destination: str) -> Delivery:
        with session_scope(self.settings) as s:
            return s.scalars(select(Delivery).join(Order, Order.id == Delivery.oms_order_id)
                             .where(Order.external_id == number, Delivery.destination == destination)).one()

    def order(self, number: str) -> Order:
        with session_scope(self.settings) as s:
            return s.scalars(select(Order).where(Order.external_id == number)).one()

    def request(self, number: str) -> OrderCancelRequest:
        with session_scope(self.settings) as s:
            return s.scalars(select(OrderCancelRequest).join(Order, Order.id == OrderCancelRequest.oms_order_id)
                             .where(Order.external_id == number).order_by(OrderCancelRequest.id.desc())).first()

    def served(self, **params) -> dict[str, dict]:
        return {o["number"]: o for o in self.oms.pull_all("orders", **params)}


@pytest.fixture
def world(store_settings: Settings) -> Iterator[World]:
    settings = store_settings
    # real time everywhere: GetOrder (the request's time), the OMS reads and the answers run use one clock
    with ErpSandbox() as erp, MomoSandbox(clock=SandboxClock(), seed=21, rate_limit=500) as market:
        shop = market.add_shop()
        vault = Vault.from_settings(settings)
        fields = erp.connection_fields()
        with session_scope(settings) as s:
            platform = Platform(value="momo", name="momo", platform_type="momo", host=market.base_url,
                                settings_json="{}")
            conn = ErpConnection(value="gw", url=fields["url"], username=fields["username"],
                                 password_enc=vault.encrypt(fields["password"]), erp_client_id=fields["client_id"],
                                 erp_role_id=fields["role_id"], erp_org_id=fields["org_id"],
                                 erp_warehouse_id=fields["warehouse_id"], lang=fields["lang"], stage=fields["stage"],
                                 settings_json=json.dumps({"timeout_seconds": 5}))
            s.add_all([platform, conn])
            s.flush()
            channel = Channel(value="momo-a", name="momo A", oms_platform_id=platform.id, shop_id=shop["shop_id"],
                              credentials_enc=vault.encrypt(json.dumps(shop["credentials"])), settings_json="{}",
                              oms_erp_connection_id=conn.id, **erp.channel_mapping())
            s.add(channel)
            s.flush()
            channel_id = channel.id
        ok, message = check_credentials("momo-a", settings=settings, policy=FAST, clock=market.clock.now)
        assert ok, message
        setup = CliRunner().invoke(cli, ["oms", "settings", "--json", "--rotate"], catch_exceptions=False)
        assert setup.exit_code == 0, setup.output
        with TestClient(create_app()) as app:
            yield World(settings, market, erp, shop["shop_id"], channel_id, app,
                        OmsSimulator(json.loads(setup.output), app))


def _show(number: str) -> str:
    result = CliRunner().invoke(cli, ["orders", "show", number], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


def test_stop_requests_intercept_what_did_not_leave_and_record_a_return_for_what_did(world: World):
    a, b, c = world.generate(3, hours=(5, 1))
    assert world.getorder().new == 3
    assert world.erp_run().sent == 3 and {world.erp_order(n)["DocStatus"] for n in (a, b, c)} == {"CO"}
    served = world.served()
    assert {served[n]["status"] for n in (a, b, c)} == {"400"}
    # the OMS is preparing A (waiting) and has shipped B; the push of B's tracking has not reached momo yet
    items = {n: tuple(i["id"] for i in served[n]["orderitem_set"]) for n in (a, b)}
    assert world.oms.send("package.created", package_payload(701, a, "100", "Waiting", item_ids=items[a])
                          ).status_code == 200
    world.oms.ship(served[b], package_id=702, tracking_number="TW-702", carrier="黑貓宅急便")

    world.market.request_stop(world.shop_id, a)
    world.market.request_stop(world.shop_id, b)
    assert world.getorder().changed == 2
    for number in (a, b):
        request = world.request(number)
        assert request.state == "open" and request.reason == "客戶取消訂單"
        assert world.order(number).status == "ready_to_ship"  # a request, not a cancellation
    waiting = world.served(status="50")  # the OMS sees both on hold: cancellation waiting
    assert set(waiting) == {a, b} and waiting[a]["extra_field"]["cancel_request"]["reason"] == "客戶取消訂單"
    assert c not in waiting and world.served(status="400").keys() == {c}
    assert "cancellation request: OPEN" in _show(a)

    stats = world.answers()
    assert (stats.sent, stats.held, stats.failed) == (2, 0, 0), stats
    assert world.market.stop_answer(world.shop_id, a) == "1"  # 確定攔貨: nothing had left
    assert world.market.stop_answer(world.shop_id, b) == "0"  # 來不及攔貨: package 702 shipped
    assert world.market.actions.count("stopSendingConfirm") == 2

    ra, rb = world.request(a), world.request(b)
    assert (ra.state, ra.decision, ra.outcome) == ("answered", "accept", "intercepted")
    assert "no OMS package has left" in ra.decision_note and "701" in ra.decision_note
    assert (rb.state, rb.decision, rb.outcome) == ("answered", "refuse", "return_expected")
    assert "702 is shipped" in rb.decision_note and "TW-702" in rb.decision_note
    assert world.order(a).status == "cancelled" and world.order(b).status == "ready_to_ship"

    # the ERP voids the intercepted order and keeps the one that left (a return comes later)
    world.erp_run()
    assert world.erp_order(a)["DocStatus"] in ("VO", "CL") and world.erp_order(b)["DocStatus"] == "CO"
    assert world.row(a, "erp").state == "sent" and world.row(a, "erp").action == "cancel"
    served = world.served()
    assert served[a]["status"] == "100" and served[b]["status"] == "400"
    plans = {p["order_number"]: p for p in world.oms.pull_all("cancellation_plans")}
    assert plans[a]["plan_type"] == "cancel" and b not in plans

    shown = _show(a)
    assert "cancellation request: ANSWERED" in shown and "decision: accept" in shown and "intercepted" in shown
    assert "return_expected" in _show(b)
    # momo lists neither any more; the next reads change nothing and answer nothing
    assert world.getorder().changed == 0
    assert world.answers().fetched == 0


def test_a_request_before_the_erp_has_the_order_holds_the_delivery_and_the_erp_never_sees_it(world: World):
    (d,) = world.generate(1)
    world.getorder()
    world.market.request_stop(world.shop_id, d)
    world.getorder()
    world.erp_run()
    row = world.row(d, "erp")
    assert row.state == "waiting" and row.hold_code == "cancel_request"
    assert "open cancellation request" in row.last_error and world.erp_order(d) is None
    assert "open cancellation request" in _show(d)
    stats = world.answers()  # the OMS never had the order: nothing can have left
    assert stats.sent == 1 and world.market.stop_answer(world.shop_id, d) == "1"
    world.erp_run()
    row = world.row(d, "erp")
    assert row.state == "sent" and row.external_ref == "cancelled before reaching the ERP" and row.erp_record_id is None
    assert world.erp_order(d) is None


def test_a_request_momo_does_not_allow_yet_waits_until_it_does(world: World):
    (e,) = world.generate(1)
    world.getorder()
    world.market.request_stop(world.shop_id, e, allowed=False)
    world.getorder()
    stats = world.answers()
    assert (stats.sent, stats.held) == (0, 0) and "stopSendingConfirm" not in world.market.actions
    row = world.row(e, "cancel_answer")
    assert row.state == "waiting" and "待排程處理" in row.last_error
    world.market.request_stop(world.shop_id, e, allowed=True)  # momo's schedule ran: the vendor may answer now
    assert world.getorder().changed == 1
    assert world.answers().sent == 1 and world.market.stop_answer(world.shop_id, e) == "1"


def test_a_lost_reply_is_resolved_by_reading_momo_not_by_answering_again(world: World):
    (f,) = world.generate(1)
    world.getorder()
    world.market.request_stop(world.shop_id, f)
    world.getorder()
    world.market.faults.inject("lost_answer")  # momo applies the answer, the reply never arrives
    first = world.answers()
    assert (first.sent, first.failed) == (0, 1)
    assert world.market.stop_answer(world.shop_id, f) == "1"
    row = world.row(f, "cancel_answer")
    assert row.state == "retry" and row.hold_code == "outcome_unknown" and "answer was lost" in row.last_error
    request = world.request(f)
    assert request.state == "open" and request.answer_state == "unknown" and request.decision == "accept"
    assert "reply was lost" in _show(f)
    second = world.answers(now=row.next_attempt_at)
    assert second.sent == 1 and world.market.actions.count("stopSendingConfirm") == 1  # never sent twice
    request = world.request(f)
    assert (request.state, request.outcome) == ("answered", "intercepted") and "read back" in request.outcome_note
    assert world.order(f).status == "cancelled"


def test_the_decision_waits_for_the_oms_to_see_the_hold(world: World):
    (g,) = world.generate(1)
    world.getorder()
    assert g in world.served()  # the OMS has the order before the request
    world.market.request_stop(world.shop_id, g)
    world.getorder()
    first = world.answers()
    row = world.row(g, "cancel_answer")
    assert first.sent == 0 and row.state == "retry" and row.hold_code == "cancel_request:deciding"
    assert "has not read it since" in row.last_error and row.attempts == 0
    assert world.served(status="50").keys() == {g}  # the OMS reads it, on hold
    second = world.answers(now=row.next_attempt_at)
    assert second.sent == 1 and world.market.stop_answer(world.shop_id, g) == "1"


def test_the_admin_sees_the_request_on_the_order_page_and_the_dashboard(world: World):
    (h,) = world.generate(1)
    world.getorder()
    world.market.request_stop(world.shop_id, h)
    world.getorder()
    set_admin_password("admin", "e2e-admin-password", settings=world.settings)
    world.app.cookies.set(SESSION_COOKIE, issue_session(authenticate("admin", "e2e-admin-password",
                                                                     settings=world.settings),
                                                        settings=world.settings))
    dashboard = world.app.get("/admin/")
    assert dashboard.status_code == 200 and "<b>1</b> open cancellation" in dashboard.text
    page = world.app.get(f"/admin/orders/momo-a/{h}").text
    assert 'id="cancel-requests"' in page and "客戶取消訂單" in page and ">open<" in page
    assert "cancel requested" in world.app.get("/admin/orders").text
    world.answers()
    page = world.app.get(f"/admin/orders/momo-a/{h}").text
    assert "intercepted" in page and ">answered<" in page and "accept" in page
    assert "No open cancellation requests." in world.app.get("/admin/").text


def test_a_request_for_an_order_never_read_is_stored_held_and_still_answered(world: World):
    """momo's stop list names an order the bridge never read (placed before the first GetOrder window)."""
    (old,) = world.generate(1, hours=(72, 71))  # outside the first run's one-day lookback
    (recent,) = world.generate(1)
    assert world.getorder().new == 1
    world.market.request_stop(world.shop_id, old)
    stats = world.getorder()
    assert (stats.new, stats.held) == (1, 1)
    order = world.order(old)
    assert order.is_held and "only in its cancellation" in order.held_reason and order.total_amount is None
    assert old not in world.served() and recent in world.served()  # the OMS is not served content it lacks
    assert world.answers().sent == 1 and world.market.stop_answer(world.shop_id, old) == "1"
    assert (world.request(old).outcome, world.order(old).status) == ("intercepted", "cancelled")
    assert world.erp_run().sent == 1 and world.erp_order(old) is None  # only the recent order reached the ERP


def test_two_workers_answer_each_request_exactly_once(world: World):
    import threading

    numbers = world.generate(6)
    world.getorder()
    for number in numbers:
        world.market.request_stop(world.shop_id, number)
    world.getorder()
    results: list = []
    barrier = threading.Barrier(2)

    def work() -> None:
        barrier.wait()
        results.append(world.answers(batch_size=2))

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert len(results) == 2 and sum(r.sent for r in results) == 6 and all(r.failed == 0 for r in results)
    assert world.market.actions.count("stopSendingConfirm") == 6  # one per request, whichever worker took it
    assert {world.market.stop_answer(world.shop_id, n) for n in numbers} == {"1"}
