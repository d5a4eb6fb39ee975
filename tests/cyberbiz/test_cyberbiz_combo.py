"""Combo products: a ``sku: null`` line with the real products under ``related_items`` becomes their ERP lines.

The recorded order (actinc/cyberbiz-sdk testdata/golden/v1/GET_v1_orders.json, trimmed in
``test_cyberbiz_contract_examples``) is the reference shape; rules in :mod:`platforms.cyberbiz.combos`.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from decimal import Decimal

import pytest
from cyberbiz_kit import NOW, build_adapter
from hypothesis import given, settings
from hypothesis import strategies as st

from platforms.base import Order, Shipment
from platforms.cyberbiz.combos import ComboRules, parent_line_id
from platforms.cyberbiz.mapping import map_order
from sandboxes.data import PRODUCTS

HOUR = timedelta(hours=1)
SKUS = {p.sku for p in PRODUCTS}


def _child(item_id: int, sku: str | None, price, qty=1, difference=None) -> dict:
    child = {"id": item_id, "product_variant_id": item_id, "title": "哥本哈根28",
             "variant_title": f"哥本哈根28 - {sku}", "sku": sku, "price": price, "quantity": qty}
    if difference is not None:
        child["combo_product_price_difference"] = difference
        child["combo_product_price_diff_details"] = [difference]
    return child


def _order(price, qty, groups, *, discount=0, sku=None) -> dict:
    gross = price * qty
    return {"id": 56943817, "created_at": "2026-09-07 12:35:05", "updated_at": "2026-09-07 12:35:06",
            "line_items": [{"id": 126360067, "title": "哥本組", "variant_title": "", "sku": sku, "price": price,
                            "quantity": qty, "item_type": "normal", "total_discount": discount,
                            "total_price_after_discounts": gross - discount, "related_items": groups}],
            "prices": {"total_line_items_price": gross - discount, "shipping_rate_price": 0.0,
                       "total_price": gross - discount},
            "statuses": {"order_status": "open", "financial_status": "paid", "fulfillment_status": "unshipped",
                         "return_status": "no_need"},
            "timings": {"confirmed_at": "2026-09-07 12:35:05"}}


RECORDED_GROUPS = [{"quantity": 1, "items": [_child(83653662, "SKU-a4eb96", 14990.0, 1, 9991),
                                             _child(83730772, "SKU-d76be1", 14990.0, 1, 9990)]}]


def _net(order: Order) -> Decimal:
    return sum((line.unit_price * line.qty - line.discount for line in order.lines), Decimal(0))


def _lines(order: Order) -> list[tuple]:
    return [(line.sku, line.qty, line.unit_price, line.discount, line.external_line_id) for line in order.lines]


def test_cyberbiz_recorded_combo_becomes_its_two_products():
    order = map_order(_order(9999.0, 1, RECORDED_GROUPS))
    assert _lines(order) == [
        ("SKU-a4eb96", Decimal(1), Decimal(4999), Decimal(0), "126360067:83653662"),  # 14990 - 9991
        ("SKU-d76be1", Decimal(1), Decimal(5000), Decimal(0), "126360067:83730772"),  # 14990 - 9990
    ]
    assert order.lines[0].name == "哥本組: 哥本哈根28 - SKU-a4eb96"
    assert _net(order) == order.total == Decimal(9999) and order.discount == 0


def test_cyberbiz_combo_quantity_multiplies_and_line_ids_are_stable():
    order = map_order(_order(9999.0, 3, RECORDED_GROUPS, discount=300))
    assert [(line.sku, line.qty, line.unit_price) for line in order.lines] == [
        ("SKU-a4eb96", Decimal(3), Decimal(4999)), ("SKU-d76be1", Decimal(3), Decimal(5000))]
    assert sum(line.discount for line in order.lines) == Decimal(300)
    assert _net(order) == Decimal(9999 * 3 - 300) == order.total
    again = map_order(copy.deepcopy(_order(9999.0, 3, RECORDED_GROUPS, discount=300)))
    assert [line.external_line_id for line in again.lines] == [line.external_line_id for line in order.lines]


def test_cyberbiz_combo_groups_that_split_the_line_are_recognised_by_their_prices():
    """Two configurations of a qty-2 combo (one set each): the prices only add up per group (``auto``)."""
    groups = [{"quantity": 1, "items": [_child(1, "A", 600.0, 1, 100), _child(2, "B", 600.0, 1, 100)]},
              {"quantity": 1, "items": [_child(1, "A", 600.0, 1, 100), _child(3, "C", 600.0, 1, 100)]}]
    order = map_order(_order(1000.0, 2, groups))
    assert [(line.sku, line.qty, line.unit_price) for line in order.lines] == [
        ("A", 1, 500), ("B", 1, 500), ("A", 1, 500), ("C", 1, 500)]
    assert [line.external_line_id for line in order.lines] == [
        "126360067:1@0.0", "126360067:2", "126360067:1@1.0", "126360067:3"]  # a repeated child gets its place
    assert _net(order) == Decimal(2000)
    fixed = map_order(_order(1000.0, 2, groups), combos=ComboRules(quantity="per_parent_unit"))
    assert [line.qty for line in fixed.lines] == [2, 2, 2, 2] and _net(fixed) == Decimal(2000)  # prices split


def test_cyberbiz_combo_without_child_prices_splits_by_the_fallback():
    groups = [{"quantity": 1, "items": [_child(1, "A", 300.0), _child(2, "B", 100.0, 2)]}]
    proportional = map_order(_order(999.0, 1, groups))
    # weights 300 x 1 and 100 x 2 -> 599.4 / 399.6 -> 599 + 400 (largest remainder); B's 400 / 2 = 200 each
    assert [(line.sku, line.qty, line.unit_price, line.discount) for line in proportional.lines] == [
        ("A", 1, 599, 0), ("B", 2, 200, 0)]
    first = map_order(_order(999.0, 1, groups), combos=ComboRules(price_fallback="first_child"))
    assert [(line.sku, line.unit_price) for line in first.lines] == [("A", 999), ("B", 0)]
    odd = map_order(_order(1000.0, 1, [{"quantity": 1, "items": [_child(1, "A", None, 3)]}]))
    # 1000 / 3 does not divide in whole dollars: unit rounded up to 334, the extra 2 is discount
    assert _lines(odd) == [("A", Decimal(3), Decimal(334), Decimal(2), "126360067:1")]
    assert _net(odd) == Decimal(1000)


def test_cyberbiz_combo_settings():
    with_sku = _order(9999.0, 1, RECORDED_GROUPS, sku="COMBO-1")
    assert [line.sku for line in map_order(with_sku).lines] == ["COMBO-1"]  # its own SKU: kept as one line
    assert [line.sku for line in map_order(with_sku, combos=ComboRules(lines="always")).lines] == [
        "SKU-a4eb96", "SKU-d76be1"]
    assert [line.sku for line in map_order(_order(9999.0, 1, RECORDED_GROUPS),
                                            combos=ComboRules(lines="never")).lines] == [None]
    with pytest.raises(ValueError, match="combo_price_fallback = 'median'"):
        ComboRules(price_fallback="median")
    bad = map_order(_order(9999.0, 1, [{"quantity": 1, "items": [_child(1, "A", 10.0, 0)]}]))
    assert bad.reason == "line_items[0].related_items[0].items[0].quantity 0 is not a positive quantity"


@settings(max_examples=300, deadline=None)
@given(price=st.integers(0, 50_000), qty=st.integers(1, 5), discount_pct=st.integers(0, 100),
       children=st.lists(st.tuples(st.integers(1, 4), st.one_of(st.none(), st.integers(0, 20_000)),
                                   st.one_of(st.none(), st.integers(0, 5_000))), min_size=1, max_size=4),
       group_qty=st.integers(1, 3), fallback=st.sampled_from(["proportional", "first_child"]),
       rule=st.sampled_from(["auto", "per_parent_unit", "per_group"]))
def test_cyberbiz_combo_totals_are_exact_whatever_the_data(price, qty, discount_pct, children, group_qty, fallback,
                                                           rule):
    discount = price * qty * discount_pct // 100
    kids = [_child(i + 1, f"S{i}", None if p is None else float(p), q, d) for i, (q, p, d) in enumerate(children)]
    order = map_order(_order(float(price), qty, [{"quantity": group_qty, "items": kids}], discount=discount),
                      combos=ComboRules(quantity=rule, price_fallback=fallback))
    assert isinstance(order, Order), order
    assert _net(order) == Decimal(price * qty - discount)
    assert all(line.qty > 0 and line.unit_price >= 0 and line.discount >= 0 for line in order.lines)
    assert all(line.unit_price == line.unit_price.quantize(Decimal(1)) for line in order.lines)  # TWD: whole dollars
    assert {parent_line_id(line.external_line_id) for line in order.lines} == {"126360067"}


def test_cyberbiz_combo_orders_from_the_sandbox_ship_as_their_combo_line(cbz_sandbox):
    shop = cbz_sandbox.add_shop(auth_model="token")
    adapter = build_adapter(cbz_sandbox, shop)
    (order_id,) = cbz_sandbox.generate_orders(shop["shop_id"], 1, status="paid", combo=True, combo_quantity=2)
    raw = cbz_sandbox.order(shop["shop_id"], order_id)
    combo = raw["line_items"][0]
    assert combo["sku"] is None and combo["item_type"] == "normal" and combo["related_items"][0]["items"]
    (order,) = list(adapter.fetch_orders(NOW - 24 * HOUR, NOW + HOUR))
    assert all(line.sku in SKUS for line in order.lines)  # the ERP knows every SKU: nothing is held
    children = [line for line in order.lines if line.external_line_id.startswith(f"{combo['id']}:")]
    assert len(children) == 2 and all(line.qty == 2 for line in children)
    assert _net(order) + order.shipping_fee - order.discount == order.total
    adapter.ship(order, Shipment("CB-1", carrier="hct", line_ids=(children[0].external_line_id,)))
    recorded = cbz_sandbox.shipment_of(shop["shop_id"], order_id)
    assert recorded["line_item_ids"] == [combo["id"]]  # Cyberbiz ships its own line item, the combo
