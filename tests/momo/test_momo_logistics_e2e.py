"""Every momo delivery type through the real flow: GetOrder → the OMS pulls and ships a package by webhook → the
logistics run confirms it on the momo sandbox (company: unsendCompanyConfirm with the tracking number; store pickup
and third party: unsendStoresFinish / unsendThirdFinish, momo's slip recorded). A confirm whose answer is lost is
read back (shipment_state), never sent twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from momo_kit import FAST
from sqlalchemy import select

from channels.authorization import check_credentials
from channels.getorder import run_getorder
from channels.logistics import run_logistics_delivery
from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, Platform
from oms_bridge.store.models.oms import OmsCarrier, OmsPackagePush
from oms_bridge.vault import Vault
from oms_bridge.web.app import create_app
from sandboxes.momo import MomoSandbox
from sandboxes.oms import OmsSimulator
from sandboxes.server import SandboxClock

KINDS = ("company", "stores", "third")


@pytest.fixture
def flow(sqlite_settings: Settings) -> Iterator[tuple[Settings, MomoSandbox, str, OmsSimulator]]:
    with MomoSandbox(clock=SandboxClock(), seed=31, rate_limit=500) as market:
        shop = market.add_shop()
        vault = Vault.from_settings(sqlite_settings)
        with session_scope(sqlite_settings) as s:
            platform = Platform(value="momo", name="momo", platform_type="momo", host=market.base_url,
                                settings_json="{}")
            s.add(platform)
            s.flush()
            s.add(Channel(value="momo-a", name="momo A", oms_platform_id=platform.id, shop_id=shop["shop_id"],
                          credentials_enc=vault.encrypt(json.dumps(shop["credentials"])), settings_json="{}"))
            s.add(OmsCarrier(platform_type="momo", oms_carrier="黑貓宅急便", platform_carrier="統一速達"))
        ok, message = check_credentials("momo-a", settings=sqlite_settings, policy=FAST, clock=market.clock.now)
        assert ok, message
        setup = CliRunner().invoke(cli, ["oms", "settings", "--json", "--rotate"], catch_exceptions=False)
        with TestClient(create_app()) as app:
            yield sqlite_settings, market, shop["shop_id"], OmsSimulator(json.loads(setup.output), app)


def _logistics_row(settings: Settings, number: str) -> Delivery:
    with session_scope(settings) as s:
        return s.scalars(select(Delivery).join(Order, Order.id == Delivery.oms_order_id)
                         .where(Order.external_id == number, Delivery.destination == "logistics")).one()


def _pull_and_ship(settings, market, shop_id, oms, kinds=KINDS) -> dict[str, str]:
    now = market.clock.now()
    ids = market.generate_orders(shop_id, len(kinds), start=now - timedelta(hours=3), end=now - timedelta(hours=1),
                                 kinds=list(kinds))
    with session_scope(settings) as s:
        channel_id = s.scalars(select(Channel.id)).one()
    assert run_getorder(channel_id, settings=settings, clock=market.clock.now, policy=FAST).new == len(kinds)
    served = {o["number"]: o for o in oms.pull_all("orders")}
    for n, number in enumerate(ids):
        oms.ship(served[number], package_id=800 + n, tracking_number=f"TW-{n}", carrier="黑貓宅急便")
    return dict(zip(kinds, ids, strict=True))


def test_the_oms_ships_every_momo_delivery_type(flow):
    settings, market, shop_id, oms = flow
    ids = _pull_and_ship(settings, market, shop_id, oms)
    stats = run_logistics_delivery(settings=settings, policy=FAST, clock=market.clock.now)
    assert (stats.sent, stats.held, stats.failed) == (3, 0, 0), stats
    company = market.shipment_of(shop_id, ids["company"])
    assert company["tracking_number"] == "TW-0" and company["carrier"] == "統一速達"
    for kind in ("stores", "third"):
        recorded = market.shipment_of(shop_id, ids[kind])
        assert recorded is not None and recorded["tracking_number"].startswith("M")
        with session_scope(settings) as s:
            push = s.scalars(select(OmsPackagePush).join(Order, Order.id == OmsPackagePush.oms_order_id)
                             .where(Order.external_id == ids[kind])).one()
            assert push.state == "sent" and push.platform_tracking == recorded["tracking_number"]
        assert _logistics_row(settings, ids[kind]).external_ref == recorded["tracking_number"]
    assert market.actions.count("unsendStoresFinish") == 1 and market.actions.count("unsendThirdFinish") == 1


@pytest.mark.parametrize("kind", KINDS)
def test_a_lost_confirm_answer_is_read_back_and_recorded_not_sent_again(flow, kind):
    """The first version retried the POST (and the company confirm met "訂單已出貨"); now: one confirm, then a read
    of what momo recorded, in the same run, and the shipment is recorded as momo made it."""
    settings, market, shop_id, oms = flow
    ids = _pull_and_ship(settings, market, shop_id, oms, kinds=(kind,))
    market.faults.inject("lost_answer")  # the first request of the run: the confirm; momo applies it
    first = run_logistics_delivery(settings=settings, policy=FAST, clock=market.clock.now)
    assert (first.sent, first.failed) == (1, 0), first
    assert first.details.get("lost_answers") == 1 and first.details.get("read_back") == 1
    confirms = [a for a in market.actions if a.endswith(("Confirm", "Finish"))]
    assert len(confirms) == 1 and market.shipment_of(shop_id, ids[kind]) is not None  # never sent twice
    row = _logistics_row(settings, ids[kind])
    assert row.state == "sent" and row.hold_code is None
    again = run_logistics_delivery(settings=settings, policy=FAST, clock=market.clock.now)
    assert again.fetched == 0 and [a for a in market.actions if a.endswith(("Confirm", "Finish"))] == confirms
