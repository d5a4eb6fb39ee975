"""The Shopee sandbox's own promises: deterministic generator, status mix, lazy index, envelopes."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import requests

from sandboxes.server import SandboxClock
from sandboxes.shopee import ShopeeSandbox

START = datetime(2026, 3, 1, 4, 0, 0, tzinfo=UTC)


def _sandbox() -> ShopeeSandbox:
    return ShopeeSandbox(clock=SandboxClock(START, frozen=True), seed=11)


def test_shopee_generator_is_deterministic_per_seed():
    a, b = _sandbox(), _sandbox()
    shop_a, shop_b = a.add_shop(mask_address=False), b.add_shop(mask_address=False)
    sns_a = a.generate_orders(shop_a["shop_id"], 30)
    sns_b = b.generate_orders(shop_b["shop_id"], 30)
    assert sns_a == sns_b and len(set(sns_a)) == 30
    assert [a.order(shop_a["shop_id"], sn) for sn in sns_a] == [b.order(shop_b["shop_id"], sn) for sn in sns_b]
    other = ShopeeSandbox(clock=SandboxClock(START, frozen=True), seed=12)
    shop_c = other.add_shop()
    sn_c = other.generate_orders(shop_c["shop_id"], 1)[0]
    assert other.order(shop_c["shop_id"], sn_c)["item_list"] != a.order(shop_a["shop_id"], sns_a[0])["item_list"] \
        or other.order(shop_c["shop_id"], sn_c)["recipient_address"] != a.order(shop_a["shop_id"], sns_a[0])[
            "recipient_address"]


def test_shopee_generator_mixes_statuses_lines_and_tw_addresses():
    sb = _sandbox()
    shop = sb.add_shop(mask_address=False)
    sns = sb.generate_orders(shop["shop_id"], 200)
    orders = [sb.order(shop["shop_id"], sn) for sn in sns]
    statuses = Counter(o["order_status"] for o in orders)
    assert {"READY_TO_SHIP", "UNPAID", "COMPLETED", "CANCELLED"} <= set(statuses)
    assert any(len(o["item_list"]) > 1 for o in orders)
    assert all(len(o["package_list"]) == 1 for o in orders)  # one package per order until the seller splits it
    assert all(o["recipient_address"]["city"][-1] in "市縣" for o in orders)
    assert all(START.timestamp() - 86400 <= o["create_time"] <= o["update_time"] < START.timestamp() for o in orders)
    assert all((o["pay_time"] is None) == (o["order_status"] == "UNPAID") for o in orders)


def test_shopee_generator_keeps_only_a_small_index():
    sb = _sandbox()
    shop = sb.add_shop()
    sb.generate_orders(shop["shop_id"], 20000)
    state = sb.shops[int(shop["shop_id"])]
    assert len(state.index) == 20000 and not state.changed and len(state.by_update) == 20000


def test_shopee_unknown_path_and_missing_params_answer_envelopes(sandbox):
    body = requests.get(f"{sandbox.base_url}/api/v2/nope", timeout=5).json()
    assert body["error"] == "error_not_found" and body["request_id"]
    missing = requests.get(f"{sandbox.base_url}/api/v2/order/get_order_list", params={"partner_id": 2001887},
                           timeout=5)
    assert missing.status_code == 400 and missing.json()["message"] == "no timestamp"
    nosign = requests.get(f"{sandbox.base_url}/api/v2/order/get_order_list",
                          params={"partner_id": 2001887, "timestamp": sandbox.clock.timestamp()}, timeout=5)
    assert nosign.json()["message"] == "There is no sign in query"
    wrong = requests.get(f"{sandbox.base_url}/api/v2/order/get_order_list", timeout=5,
                         params={"partner_id": 1, "timestamp": sandbox.clock.timestamp(), "sign": "x"})
    assert wrong.json() == {**wrong.json(), "error": "error_param", "message": "Invalid partner_id"}


def test_shopee_envelopes_can_all_be_http_200(sandbox):
    sandbox.http_error_status = False
    response = requests.get(f"{sandbox.base_url}/api/v2/order/get_order_list", params={"partner_id": 2001887},
                            timeout=5)
    assert response.status_code == 200 and response.json()["error"] == "error_param"
