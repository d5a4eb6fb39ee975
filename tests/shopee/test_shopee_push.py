"""Signed push notifications from the sandbox reach a real receiver and verify with the partner key."""

from __future__ import annotations

import json

from werkzeug.wrappers import Request, Response

from platforms.shopee import signing
from sandboxes.server import SandboxServer


def test_shopee_push_is_signed_over_url_and_raw_body(sandbox, shop):
    received: list[tuple[str, bytes, str | None]] = []

    def receiver(environ, start_response):
        request = Request(environ)
        received.append((request.url, request.get_data(), request.headers.get("Authorization")))
        return Response(status=204)(environ, start_response)

    server = SandboxServer(receiver).start()
    try:
        url = f"{server.base_url}/webhooks/shopee"
        sandbox.push_url = url
        response = sandbox.push(shop["shop_id"], 3, {"ordersn": "2603010000001", "status": "READY_TO_SHIP"})
        assert response.status_code == 204
    finally:
        server.stop()
    (got_url, body, authorization), = received
    assert got_url == url
    payload = json.loads(body)
    assert payload["code"] == 3 and payload["shop_id"] == int(shop["shop_id"])
    assert payload["timestamp"] == sandbox.clock.timestamp() and payload["data"]["ordersn"] == "2603010000001"
    assert signing.verify_push(sandbox.partner_key, url, body, authorization)
    assert not signing.verify_push(sandbox.partner_key, url, body + b" ", authorization)
    assert not signing.verify_push("another-partner-key", url, body, authorization)


def test_shopee_order_list_status_filter_and_create_time_field(sandbox, shop, adapter):
    sandbox.generate_orders(shop["shop_id"], 6, status="UNPAID")
    paid = sandbox.generate_orders(shop["shop_id"], 4, status="COMPLETED")
    now = int(sandbox.clock.timestamp())
    token, shop_id = adapter.tokens.access_token, adapter.channel.shop_id
    page = adapter.client.get_order_list(token, shop_id, time_from=now - 3 * 86400, time_to=now,
                                         order_status="COMPLETED")
    assert sorted(o["order_sn"] for o in page["order_list"]) == sorted(paid)
    assert {o["order_status"] for o in page["order_list"]} == {"COMPLETED"}
    by_create = adapter.client.get_order_list(token, shop_id, time_from=now - 3 * 86400, time_to=now,
                                              time_range_field="create_time", page_size=4)
    assert by_create["more"] is True and by_create["next_cursor"] and len(by_create["order_list"]) == 4
    rest = adapter.client.get_order_list(token, shop_id, time_from=now - 3 * 86400, time_to=now,
                                         time_range_field="create_time", page_size=4,
                                         cursor=by_create["next_cursor"])  # opaque: passed back as it came
    assert len(rest["order_list"]) == 4 and not {o["order_sn"] for o in rest["order_list"]} & {
        o["order_sn"] for o in by_create["order_list"]}
