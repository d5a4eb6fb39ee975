"""``erp check`` reads every record the channels' ERP mappings name from the SOAP sandbox and lists every
problem at once: missing records, inactive ones, a price list in another currency, a warehouse of another
org, charges not set. A clean mapping stays quiet; a missing query type leaves the mapping unverified."""

from __future__ import annotations

import json

from click.testing import CliRunner
from erp_helpers import ErpEnv
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel
from sandboxes.idempiere.database import SEED


def _channel(env: ErpEnv, value: str = "shop-a", **changes) -> None:
    with session_scope(env.settings) as s:
        channel = s.scalars(select(Channel).where(Channel.value == value)).one()
        for column, val in changes.items():
            setattr(channel, column, val)


def _erp(env: ErpEnv, sql: str, *params) -> None:
    with env.sandbox.db.lock:
        env.sandbox.db.conn.execute(sql, params)


def test_a_fitting_mapping_passes(erp_env: ErpEnv) -> None:
    result = CliRunner().invoke(cli, ["erp", "check", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["ok"] is True and report["problems"] == []
    assert {"subject": "channel shop-a: ERP mapping", "ok": True, "unverified": False, "detail": "", "todo": "",
            "kind": "mapping"} in report["items"]
    assert erp_env.sandbox.orders() == []  # reads only


def test_every_broken_mapping_is_named_at_once(erp_env: ErpEnv) -> None:
    # Another org's warehouse, a USD price list, an inactive partner, an order source that does not exist,
    # an inactive shipping charge and no discount charge: six problems, one check.
    _erp(erp_env, "INSERT INTO M_Warehouse (M_Warehouse_ID, AD_Client_ID, AD_Org_ID, Name) "
                  "VALUES (104, ?, 12, 'Branch')", SEED.client)
    _erp(erp_env, "INSERT INTO M_PriceList (M_PriceList_ID, AD_Client_ID, Name, IsSOPriceList, C_Currency_ID) "
                  "VALUES (105, ?, 'Export', 'Y', 100)", SEED.client)
    _erp(erp_env, "UPDATE C_BPartner SET IsActive = 'N' WHERE C_BPartner_ID = ?", SEED.default_bpartner)
    _erp(erp_env, "UPDATE C_Charge SET IsActive = 'N' WHERE C_Charge_ID = ?", SEED.shipping_charge)
    _channel(erp_env, erp_warehouse_id=104, erp_pricelist_id=105, erp_ordersource_id=999999,
             erp_discount_charge_id=None)

    result = CliRunner().invoke(cli, ["erp", "check"])
    assert result.exit_code == 1, result.output
    out = result.output
    assert "6 problem(s) in the channels' ERP mapping" in out
    assert "channel shop-a: warehouse 104 (Branch): belongs to organization 12, the channel's orders to " \
           f"organization {SEED.org}" in out
    assert "channel shop-a: price list 105 (Export): its currency is USD but channel shop-a sells in TWD" in out
    assert f"channel shop-a: business partner {SEED.default_bpartner} (Standard Customer): inactive in iDempiere" in out
    assert "channel shop-a: order source 999999: no C_OrderSource with C_OrderSource_ID 999999 in this tenant" in out
    assert f"channel shop-a: shipping charge {SEED.shipping_charge} (Shipping fee): inactive in iDempiere" in out
    assert "channel shop-a: discount charge not set: orders with a discount would be held" in out
    assert "oms-bridge channel update shop-a --erp-discount-charge-id <Charge_ID>" in out
    # The web-service setup itself is fine: no iDempiere Web Service Type step is asked for.
    assert "[MISSING]" not in out and "Web Service Type\" >" not in out

    data = json.loads(CliRunner().invoke(cli, ["erp", "check", "--json"]).output)
    assert data["ok"] is False and len(data["problems"]) == 6
    assert sum(1 for i in data["items"] if i["kind"] == "mapping" and not i["ok"]) == 6


def test_each_channel_is_checked_with_its_own_currency_and_org(erp_env: ErpEnv) -> None:
    """A second channel selling in USD on the TWD price list is named; the first one is fine."""
    with session_scope(erp_env.settings) as s:
        first = s.scalars(select(Channel).where(Channel.value == "shop-a")).one()
        s.add(Channel(value="shop-us", name="US", oms_platform_id=first.oms_platform_id, shop_id="2002",
                      oms_erp_connection_id=first.oms_erp_connection_id, settings_json=json.dumps({"currency": "usd"}),
                      **erp_env.sandbox.channel_mapping()))
    result = CliRunner().invoke(cli, ["erp", "check", "--json"])
    data = json.loads(result.output)
    assert result.exit_code == 1
    assert data["problems"] == [f"channel shop-us: price list {SEED.price_list} (Standard): its currency is TWD but "
                                "channel shop-us sells in USD"]
    assert {"subject": "channel shop-a: ERP mapping", "ok": True, "unverified": False, "detail": "", "todo": "",
            "kind": "mapping"} in data["items"]


def test_mapping_problems_do_not_keep_web_service_holds(erp_env: ErpEnv) -> None:
    """The service types pass: holds for the ERP configuration are re-armed although a channel's mapping is wrong."""
    from oms_bridge.store.models import Delivery

    number = erp_env.add_order()
    with session_scope(erp_env.settings) as s:
        row = s.scalars(select(Delivery)).one()
        row.state, row.hold_code, row.last_error = "held", "erp_config:type:OmsCreateOrder", "not configured"
    _channel(erp_env, erp_ordersource_id=999999)
    result = CliRunner().invoke(cli, ["erp", "check"])
    assert result.exit_code == 1 and "order source 999999" in result.output
    assert "1 held order(s) re-armed." in result.output, number


def test_without_the_mapping_query_type_the_mapping_is_unverified(erp_env: ErpEnv) -> None:
    del erp_env.sandbox.service_types["OmsQueryMapping"]
    _channel(erp_env, erp_ordersource_id=999999)  # not seen: nothing can be read
    result = CliRunner().invoke(cli, ["erp", "check"])
    assert result.exit_code == 0, result.output
    assert "[?]       channels' ERP mapping -- not read from iDempiere" in result.output
    assert 'Web Service Type "OmsQueryMapping"' in result.output
