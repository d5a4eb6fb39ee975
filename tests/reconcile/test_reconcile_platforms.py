"""Reconciliation against the marketplace sandboxes over real HTTP and the iDempiere SOAP sandbox.

Parametrized over every platform whose adapter implements ``list_orders`` (the list-only pass): a
platform joins by implementing it; nothing is skipped. The scenario: orders over the last two Asia/Taipei
days, GetOrder and the ERP delivery, then the world drifts - an order the marketplace backdated (GetOrder
never reads it), one changed a minute ago, one the ERP holds, one deleted in iDempiere, one the ERP waits for
(unpaid; on momo, which lists paid orders only, a stop request), one the OMS has not read for two hours. The
list-only pass sends no detail call (the sandbox counts them). The report names each by order number, where
and why; the alert reaches a webhook; the admin's fixes make the next reconciliation prove the counts match.
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import select, update

from channels.getorder import run_getorder
from oms_bridge.alerts.engine import run_alerts
from oms_bridge.alerts.targets import add_target
from oms_bridge.cli.main import cli
from oms_bridge.erp.connections import save_connection
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.erp.reference import po_reference
from oms_bridge.oms.events import acknowledge, record_served
from oms_bridge.reconcile.compare import day_of
from oms_bridge.reconcile.run import reconcile_channel
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, Reconciliation, utcnow
from oms_bridge.vault import Vault
from platforms.base import Adapter
from platforms.registry import adapter_class
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.idempiere.server import ErpSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.shopee import ShopeeSandbox
from sandboxes.shopline import ShoplineSandbox

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "channels"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "alerts"))
from channels_kit import FAST, bind  # noqa: E402 - the channel tests' kit (a folder of its own)
from receivers import WebhookReceiver  # noqa: E402 - the alert tests' receivers

ALL_SANDBOXES = [CyberbizSandbox, ShopeeSandbox, MomoSandbox, ShoplineSandbox]


def lists_orders(sandbox_cls) -> bool:
    """Whether the platform's adapter implements the list-only pass."""
    return adapter_class(sandbox_cls.platform_type).list_orders is not Adapter.list_orders


LISTING = [cls for cls in ALL_SANDBOXES if lists_orders(cls)]


def test_listing_platforms_are_known() -> None:
    assert LISTING == ALL_SANDBOXES  # every platform lists orders without reading them


def _cli(*args: str):
    return CliRunner().invoke(cli, list(args))


def _wire_erp(settings, channel_id: int, erp: ErpSandbox) -> None:
    fields = erp.connection_fields()
    with session_scope(settings) as s:
        conn = save_connection(s, Vault.from_settings(settings), "gw", **fields,
                               settings={"timeout_seconds": 10})
        s.execute(update(Channel).where(Channel.id == channel_id)
                  .values(oms_erp_connection_id=conn.id, **erp.channel_mapping()))


def _orders(settings, numbers) -> list[Order]:
    with session_scope(settings) as s:
        return list(s.scalars(select(Order).where(Order.external_id.in_(list(numbers)))))


@pytest.fixture
def env_settings(sqlite_settings, monkeypatch):
    """Settings from the environment, so the CLI commands of the test see the same thresholds."""
    monkeypatch.setenv("OMS_BRIDGE_GETORDER_INITIAL_LOOKBACK_MINUTES", str(4 * 1440))
    monkeypatch.setenv("OMS_BRIDGE_RECONCILE_LAG_MINUTES", "60")
    monkeypatch.setenv("OMS_BRIDGE_RECONCILE_ERP_BATCH_SIZE", "3")
    monkeypatch.setenv("OMS_BRIDGE_MONITORED_DESTINATIONS", "erp,oms")
    reset_settings()
    return get_settings()


@pytest.mark.parametrize("sandbox_cls", LISTING, ids=lambda cls: cls.platform_type)
def test_reconciliation_names_every_difference_and_proves_the_fixes(env_settings, sandbox_cls,
                                                                     webhook: WebhookReceiver) -> None:
    settings = env_settings
    erp = ErpSandbox().start()
    sandbox = sandbox_cls().start()  # real time: GetOrder, the lag and the listing read "now"
    try:
        bound = bind(settings, sandbox)
        _wire_erp(settings, bound.channel_id, erp)
        with session_scope(settings) as s:
            add_target(s, Vault.from_settings(settings), "ops-hook", webhook.url())
        now = utcnow()
        shop = bound.shop_id
        paid = sandbox.generate_orders(shop, 6, start=now - timedelta(hours=40), end=now - timedelta(hours=2),
                                       status="paid")
        unpaid = _waiting_order(sandbox, shop, now)
        assert run_getorder(bound.channel_id, settings=settings, clock=sandbox.clock.now, policy=FAST).new == 7
        with session_scope(settings) as s:  # the ERP will refuse this one (a SKU it does not know)
            row = s.scalar(select(Delivery).join(Order, Order.id == Delivery.oms_order_id)
                           .where(Order.external_id == paid[0], Delivery.destination == "erp"))
            outbox.mark_held(row, "SKU GHOST-1 is not an ERP product", code="missing_sku:GHOST-1")
        assert run_erp_delivery(settings=settings).sent == 5
        with erp.db.lock:  # someone deleted this order in iDempiere
            erp.db.conn.execute("DELETE FROM C_Order WHERE Description LIKE ?", (f"{paid[1]} (%",))
        with session_scope(settings) as s:  # the OMS pulled every order but one, which waits for two hours
            _oms_took(s, [o for o in _orders(settings, paid + unpaid) if o.external_id != paid[5]])
            s.execute(update(Delivery).where(Delivery.destination == "oms", Delivery.oms_order_id.in_(
                select(Order.id).where(Order.external_id == paid[5]))).values(armed_at=now - timedelta(hours=2)))
        lost = sandbox.generate_orders(shop, 1, start=now - timedelta(hours=3), end=now - timedelta(hours=3))
        fresh = sandbox.generate_orders(shop, 1, start=now - timedelta(minutes=5), end=now - timedelta(minutes=5))

        first_day = day_of(now - timedelta(days=2))
        sandbox.reset_calls()
        erp.reset_calls()
        outcome = reconcile_channel(bound.channel, first_day, settings=settings)
        report = outcome.report
        assert report is not None, outcome.error
        found = {(d.order, d.where, d.reason) for d in report.differences}
        assert found == {
            (paid[0], "erp", "held"), (paid[1], "erp", "missing"), (unpaid[0], "erp", "waiting"),
            (paid[5], "oms", "missing"), (lost[0], "store", "missing"), (fresh[0], "store", "not_yet_due")}
        details = {(d.order, d.where): d.detail for d in report.differences}
        assert "missing_sku:GHOST-1" in details[(paid[0], "erp")]
        # the per-channel reference the delivery wrote (a long order number becomes a digest: oms_bridge.erp.reference)
        assert f"POReference {po_reference(paid[1], bound.channel_id, bound.channel)} " in details[(paid[1], "erp")]
        assert "the OMS has not read it since" in details[(paid[5], "oms")]
        assert (report.listed, report.stored, report.in_erp, report.oms_taken, report.missing) == (9, 7, 4, 6, 3)
        assert report.outcome == "missing"
        stored_days = {o.external_id: day_of(o.order_created) for o in _orders(settings, paid + unpaid)}
        for diff in report.differences:  # each difference sits on its order's Taipei day
            if diff.order in stored_days:
                assert diff.day == stored_days[diff.order]
        per_day = Counter(stored_days.values())
        assert {d.day: d.stored for d in report.days if d.stored} == dict(per_day)
        for day in report.days:  # listed = stored + what the store lacks, day by day
            lacking = sum(n for r, n in day.reasons.items() if r in ("missing", "not_yet_due"))
            store_lacks = sum(1 for d in report.differences if d.day == day.day and d.where == "store")
            assert day.listed == day.stored + store_lacks and lacking >= store_lacks
        # the cost: the list calls alone (no detail call), one SOAP query per 3 orders
        assert report.api_calls_marketplace == sandbox.calls() > 0
        assert sandbox.detail_calls() == 0  # the list-only pass: no order read by number
        assert report.api_calls_erp == 3 == erp.calls("ModelADService")
        with session_scope(settings) as s:
            row = s.get(Reconciliation, outcome.id)
            assert (row.outcome, row.missing, row.listed, row.differences_total) == ("missing", 3, 9, 6)

        # the CLI says the same, and exits 1 while something is missing
        shown = _cli("reconcile", "--channel", bound.channel, "--since", first_day.isoformat())
        assert shown.exit_code == 1, shown.output
        assert f"{lost[0]}" in shown.output and "store       missing" in shown.output
        assert "API calls: marketplace" in shown.output
        data = json.loads(_cli("reconcile", "--channel", bound.channel, "--since", first_day.isoformat(),
                               "--json").output)
        assert data["missing"] == 3 and {(d["order"], d["reason"]) for d in data["differences"]} >= {
            (lost[0], "missing"), (paid[1], "missing"), (paid[5], "missing")}

        # nobody looks at the admin: the alert says which orders are missing where
        alerted = run_alerts(settings=settings)
        assert f"reconcile_missing:{bound.channel}" in alerted.fired
        message = next(p["message"] for p in webhook.wait_for(1) if "reconciliation" in p["title"])
        for number, where in ((lost[0], "store"), (paid[1], "erp"), (paid[5], "oms")):
            assert f"{number} ({where})" in message
        assert "oms-bridge orders backfill" in message

        # the admin's fixes: read the lost order again, re-send the ERP's lost one, release the held one; the
        # OMS catches up; GetOrder picks up the fresh order
        backfilled = _cli("orders", "backfill", "--channel", bound.channel, "--since", first_day.isoformat())
        assert backfilled.exit_code == 0, backfilled.output
        for args in (("--order", paid[1], "--sent"), ("--order", paid[0])):
            assert _cli("erp", "retry", *args).exit_code == 0
        assert run_erp_delivery(settings=settings).sent >= 3  # paid[0], paid[1], the backfilled one
        run_getorder(bound.channel_id, settings=settings, clock=sandbox.clock.now, policy=FAST)
        with session_scope(settings) as s:
            _oms_took(s, _orders(settings, paid + unpaid + lost + fresh))
        again = reconcile_channel(bound.channel, first_day, settings=settings).report
        assert {(d.order, d.where, d.reason) for d in again.differences} == {(unpaid[0], "erp", "waiting")}
        assert (again.listed, again.stored, again.missing, again.outcome) == (9, 9, 0, "differences")
        assert Counter((o.get("Description") or "").split(" (")[0] for o in erp.orders()) == Counter(
            {n: 1 for n in paid + lost + fresh})  # every order exactly once, the re-sent one too
        recovered = run_alerts(settings=settings)
        assert f"reconcile_missing:{bound.channel}" in recovered.resolved
        assert any(t.startswith("[oms-bridge] RESOLVED: reconciliation") for t in webhook.titles())
    finally:
        sandbox.stop()
        erp.stop()


def _waiting_order(sandbox, shop: str, now) -> list[str]:
    """One order the ERP must not take yet, which nobody has to act on: an unpaid one; momo lists paid orders only
    (docs/contracts/momo.md, "Unsent rows are paid"), so there a company order momo asked to stop (攔貨) whose
    request the vendor may not answer yet (the ERP waits for the answer; the unsent list keeps it: the contract
    leaves that open and the adapter handles both)."""
    start, end = now - timedelta(hours=5), now - timedelta(hours=4)
    if not isinstance(sandbox, MomoSandbox):
        return sandbox.generate_orders(shop, 1, start=start, end=end, status="unpaid")
    numbers = sandbox.generate_orders(shop, 1, start=start, end=end, status="paid", kind="company")
    sandbox.stop_keeps_unsent = True
    sandbox.request_stop(shop, numbers[0], allowed=False)
    return numbers


def _oms_took(session, orders) -> None:
    """The OMS read these orders and acted on them (an acknowledgement): their ``oms`` rows are delivered."""
    record_served(session, orders)
    session.flush()
    acknowledge(session, [o.id for o in orders], "ack call")
