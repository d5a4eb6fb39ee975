"""The whole Shopee path over real HTTP: authorize → token → fetch → detail → ship → tracking."""

from __future__ import annotations

import math
from datetime import timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from platforms.base import Order, PermanentError, ReauthRequired, Shipment, UnmappableOrder
from platforms.shopee.client import DETAIL_OPTIONAL_FIELDS


def _fetch_all(adapter, sandbox, days: int = 3):
    now = sandbox.clock.now()
    return list(adapter.fetch_orders(now - timedelta(days=days), now + timedelta(seconds=1)))


def test_shopee_full_flow_authorize_fetch_ship_tracking(sandbox, shop, make_adapter):
    adapter = make_adapter(authorize=False)
    url = adapter.authorize_url("https://bridge.example/oauth/callback?channel=7", "csrf-state")
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/api/v2/shop/auth_partner" and query["sign"][0]
    callback = sandbox.consent(url)
    assert callback["state"] == "csrf-state" and callback["channel"] == "7"
    assert callback["shop_id"] == shop["shop_id"] and len(callback["code"]) == 32

    tokens = adapter.exchange_code(callback)
    now = sandbox.clock.now()
    assert tokens.access_expires_at == now + timedelta(hours=4)
    assert tokens.refresh_expires_at == now + timedelta(days=30)
    assert tokens.auth_expires_at == now + timedelta(days=365)
    adapter.set_tokens(tokens)
    assert shop["shop_id"] in adapter.check_credentials()

    sns = sandbox.generate_orders(shop["shop_id"], 120, status="ready_to_ship")
    adapter.api_calls = 0
    sandbox.reset_calls()
    orders = _fetch_all(adapter, sandbox)
    assert sorted(o.external_id for o in orders) == sorted(sns)
    assert all(isinstance(o, Order) and o.status == "ready_to_ship" for o in orders)
    # 1 empty-window list call is impossible here (3 days < 15): 2 list pages + 3 detail batches
    assert sandbox.calls("get_order_list") == 2 and sandbox.calls("get_order_detail") == math.ceil(120 / 50)
    assert adapter.api_calls == 2 + 3

    target = orders[0]
    result = adapter.ship(target, Shipment(tracking_number="SELF-0001"))
    assert result.tracking_number == "SELF-0001"
    shipment = sandbox.shipment_of(shop["shop_id"], target.external_id)
    assert shipment["tracking_number"] == "SELF-0001" and shipment["method"] == "non_integrated"
    reread = adapter.get_orders([target.external_id])[0]
    # non-integrated: handed over at once (LOGISTICS_PICKUP_DONE), so Shopee reads SHIPPED (guide 229 §8.1)
    assert reread.platform_status == "SHIPPED" and reread.status == "shipped"
    assert reread.updated_at >= target.updated_at


def test_shopee_detail_asks_for_every_optional_field_the_order_needs(sandbox, shop, adapter):
    sandbox.generate_orders(shop["shop_id"], 3, status="COMPLETED")
    order = _fetch_all(adapter, sandbox)[0]
    assert {"item_list", "recipient_address", "pay_time", "total_amount", "package_list"} <= set(
        DETAIL_OPTIONAL_FIELDS)
    assert order.lines and order.total is not None and order.paid_at is not None and order.packages
    assert isinstance(order.total, Decimal) and order.total == order.total.quantize(Decimal(1))
    assert order.total == sum(ln.unit_price * ln.qty - ln.discount for ln in order.lines) + order.shipping_fee


def test_shopee_tw_address_masked_and_kept_masked(sandbox, make_adapter):
    masked = sandbox.add_shop(mask_address=True)
    adapter = make_adapter(shop_id=masked["shop_id"])
    sandbox.generate_orders(adapter.channel.shop_id, 2)
    order = _fetch_all(adapter, sandbox)[0]
    assert order.shipping_address.masked and order.shipping_address.name == "****"
    assert order.shipping_address.country == "TW"


def test_shopee_unmasked_shop_gives_chinese_address(sandbox, make_adapter):
    shop = sandbox.add_shop(mask_address=False)
    adapter = make_adapter(shop_id=shop["shop_id"])
    sandbox.generate_orders(shop["shop_id"], 1)
    order = _fetch_all(adapter, sandbox)[0]
    address = order.shipping_address
    assert not address.masked and address.city.endswith(("市", "縣")) and address.zip.isdigit()
    assert address.full.startswith(address.zip + address.city)


def test_shopee_ship_dropoff_passes_tw_slug_and_reports_shopee_tracking(sandbox, make_adapter):
    shop = sandbox.add_shop(logistics="dropoff")
    adapter = make_adapter(shop_id=shop["shop_id"])
    sn = sandbox.generate_orders(shop["shop_id"], 1, status="READY_TO_SHIP")[0]
    order = adapter.get_orders([sn])[0]
    result = adapter.ship(order, Shipment(tracking_number=""))
    recorded = sandbox.shipment_of(shop["shop_id"], sn)
    assert recorded["method"] == "dropoff" and recorded["request"] == {"slug": "TW_711"}
    assert result.tracking_number == recorded["tracking_number"] and result.tracking_number.startswith("TW")
    assert sandbox.order(shop["shop_id"], sn)["order_status"] == "PROCESSED"


def test_shopee_ship_pickup_fills_address_and_time_slot(sandbox, make_adapter):
    shop = sandbox.add_shop(logistics="pickup")
    adapter = make_adapter(shop_id=shop["shop_id"])
    sn = sandbox.generate_orders(shop["shop_id"], 1, status="READY_TO_SHIP")[0]
    adapter.ship(adapter.get_orders([sn])[0], Shipment(tracking_number="IGNORED"))
    recorded = sandbox.shipment_of(shop["shop_id"], sn)
    assert recorded["method"] == "pickup" and recorded["request"]["address_id"] == 9001
    assert recorded["request"]["pickup_time_id"]


def test_shopee_ship_multi_package_one_package_at_a_time(sandbox, shop, adapter):
    sns = sandbox.generate_orders(shop["shop_id"], 40, status="READY_TO_SHIP", max_lines=3)
    split = next(sn for sn in sns if len(sandbox.order(shop["shop_id"], sn)["item_list"]) > 1)
    sandbox.split_order(shop["shop_id"], split)  # one package per order until the seller splits it
    order = next(o for o in _fetch_all(adapter, sandbox) if len(o.packages) == 2)
    first, second = order.packages
    adapter.ship(order, Shipment(tracking_number="PKG-A", package_number=first))
    assert sandbox.order(shop["shop_id"], order.external_id)["order_status"] == "READY_TO_SHIP"
    adapter.ship(order, Shipment(tracking_number="PKG-B", package_number=second))
    recorded = sandbox.shipment_of(shop["shop_id"], order.external_id)
    assert {p["tracking_number"] for p in recorded["packages"]} == {"PKG-A", "PKG-B"}
    assert sandbox.order(shop["shop_id"], order.external_id)["order_status"] == "SHIPPED"


def test_shopee_ship_twice_or_unpaid_is_permanent_with_shopee_text(sandbox, shop, adapter):
    unpaid = sandbox.generate_orders(shop["shop_id"], 1, status="UNPAID")[0]
    order = adapter.get_orders([unpaid])[0]
    assert order.status == "unpaid" and order.total is None and order.paid_at is None
    with pytest.raises(PermanentError, match="logistic status not ready to ship"):
        adapter.ship(order, Shipment(tracking_number="T1"))


def test_shopee_get_orders_rereads_and_flags_unknown(sandbox, shop, adapter):
    sns = sandbox.generate_orders(shop["shop_id"], 3)
    got = {g.external_id: g for g in adapter.get_orders([sns[1], "NOSUCHORDER01", sns[2]])}
    assert set(got) == {sns[1], "NOSUCHORDER01", sns[2]}
    assert isinstance(got[sns[1]], Order) and isinstance(got[sns[2]], Order)  # not held with the unknown one
    assert isinstance(got["NOSUCHORDER01"], UnmappableOrder)
    assert "Shopee order NOSUCHORDER01 is unknown to Shopee" in got["NOSUCHORDER01"].reason
    only_unknown = adapter.get_orders(["NOSUCHORDER02"])
    assert isinstance(only_unknown[0], UnmappableOrder)


def test_shopee_update_then_refetch_sees_change(sandbox, shop, adapter):
    sns = sandbox.generate_orders(shop["shop_id"], 5, status="UNPAID")
    before = {o.external_id: o for o in _fetch_all(adapter, sandbox)}
    sandbox.clock.advance(60)
    sandbox.update_order(shop["shop_id"], sns[0], status="READY_TO_SHIP")
    sandbox.update_order(shop["shop_id"], sns[1], status="cancelled")
    since = sandbox.clock.now() - timedelta(seconds=5)
    changed = {o.external_id: o for o in adapter.fetch_orders(since, sandbox.clock.now() + timedelta(seconds=1))}
    assert set(changed) == {sns[0], sns[1]}
    assert changed[sns[0]].status == "ready_to_ship" and changed[sns[0]].paid_at is not None
    assert changed[sns[0]].total is not None and before[sns[0]].total is None
    assert changed[sns[1]].status == "cancelled"


def test_shopee_exchange_code_refuses_other_shop_and_missing_params(sandbox, shop, make_adapter):
    adapter = make_adapter(authorize=False)
    other = sandbox.add_shop()
    params = sandbox.consent(adapter.authorize_url("https://x/cb", "s"), shop_id=other["shop_id"])
    with pytest.raises(PermanentError, match="channel 'shopee-tw' is shop"):
        adapter.exchange_code(params)
    with pytest.raises(PermanentError, match="no code"):
        adapter.exchange_code({"shop_id": shop["shop_id"]})


def test_shopee_unauthorized_channel_says_authorize(sandbox, make_adapter):
    adapter = make_adapter(authorize=False)
    with pytest.raises(ReauthRequired, match="not authorized"):
        adapter.check_credentials()


def test_shopee_auth_partner_page_redirects_with_code(sandbox, shop, make_adapter):
    adapter = make_adapter(authorize=False)
    url = adapter.authorize_url("https://bridge.example/cb", "st")
    response = requests.get(url, allow_redirects=False, timeout=5)
    assert response.status_code == 302
    location = parse_qs(urlsplit(response.headers["Location"]).query)
    assert location["state"] == ["st"] and location["shop_id"] == [shop["shop_id"]]
    tokens = adapter.exchange_code({k: v[0] for k, v in location.items()})
    assert tokens.access_token


def test_shopee_one_broken_order_does_not_stop_the_rest(sandbox, shop, adapter):
    sns = sandbox.generate_orders(shop["shop_id"], 5)
    sandbox.update_order(shop["shop_id"], sns[2], item_list=[], update_time=sandbox.clock.now() - timedelta(hours=1))
    results = _fetch_all(adapter, sandbox)
    assert sorted(r.external_id for r in results) == sorted(sns)
    broken = [r for r in results if isinstance(r, UnmappableOrder)]
    assert [b.external_id for b in broken] == [sns[2]] and "no item_list" in broken[0].reason
    assert broken[0].raw["order_sn"] == sns[2]  # the payload is kept for the hold


def test_shopee_address_change_is_seen_on_refetch(sandbox, make_adapter):
    shop = sandbox.add_shop(mask_address=False)
    adapter = make_adapter(shop_id=shop["shop_id"])
    sn = sandbox.generate_orders(shop["shop_id"], 1, status="READY_TO_SHIP")[0]
    sandbox.clock.advance(30)
    sandbox.update_order(shop["shop_id"], sn, address={"city": "高雄市", "district": "前鎮區", "zip": "806",
                                                         "line1": "806高雄市前鎮區成功路1號"})
    order = adapter.get_orders([sn])[0]
    address = order.shipping_address
    assert (address.city, address.district, address.zip, address.full) == ("高雄市", "前鎮區", "806",
                                                                           "806高雄市前鎮區成功路1號")
    assert order.updated_at == sandbox.clock.now().replace(microsecond=0)


def test_shopee_ship_methods_setting_limits_the_choice(sandbox, make_adapter):
    shop = sandbox.add_shop(logistics="dropoff")
    adapter = make_adapter(shop_id=shop["shop_id"], ship_methods="pickup, non_integrated")
    sn = sandbox.generate_orders(shop["shop_id"], 1, status="READY_TO_SHIP")[0]
    with pytest.raises(PermanentError, match="offered: dropoff; configured: pickup, non_integrated"):
        adapter.ship(adapter.get_orders([sn])[0], Shipment(tracking_number="T-1"))
    assert sandbox.shipment_of(shop["shop_id"], sn) is None
