"""momo end to end over real HTTP against MomoSandbox: login, queries, windows, boundaries, company shipping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from momo_kit import FETCH_CALLS, NOW, WINDOW_CALLS, make_adapter

from platforms.base import CredentialsInvalid, Order, PermanentError, Shipment, TokenSet, UnmappableOrder
from platforms.momo.adapter import DEFAULT_FILTERS, MomoAdapter, query_bounds, split_windows
from platforms.momo.client import MomoClient
from platforms.registry import adapter_class

TAIPEI = ZoneInfo("Asia/Taipei")


def _fetch(adapter, since, until) -> list[Order]:
    orders = list(adapter.fetch_orders(since, until))
    assert all(isinstance(o, Order) for o in orders), orders
    return orders


def test_registry_and_no_oauth(momo_adapter):
    assert adapter_class("momo") is MomoAdapter
    assert momo_adapter.uses_oauth is False
    tokens = TokenSet(access_token="-")
    assert momo_adapter.refresh(tokens) is tokens
    assert set(MomoAdapter.credential_fields) == {"entpID", "entpCode", "entpPwd", "otpBackNo"}


def test_check_credentials_accepts_the_vendor(momo_adapter, momo_sandbox, momo_shop):
    assert momo_shop["shop_id"] in momo_adapter.check_credentials()
    assert momo_sandbox.calls("/OrderServlet.do") == 1


@pytest.mark.parametrize("field", ["entpPwd", "entpID", "otpBackNo"])
def test_wrong_login_is_credentials_invalid_without_retry(momo_sandbox, momo_shop, field):
    shop = {**momo_shop, "credentials": {**momo_shop["credentials"], field: "999"}}
    adapter = make_adapter(momo_sandbox, shop)
    with pytest.raises(CredentialsInvalid, match="登入失敗") as info:
        adapter.check_credentials()
    assert "999" not in str(info.value) and shop["credentials"]["entpPwd"] not in str(info.value)
    assert momo_sandbox.calls() == 1


def test_incomplete_credentials_are_named(momo_sandbox, momo_shop):
    shop = {**momo_shop, "credentials": {"entpID": "12345678"}}
    with pytest.raises(CredentialsInvalid, match="entpCode, entpPwd"):
        make_adapter(momo_sandbox, shop).check_credentials()
    assert momo_sandbox.calls() == 0


def test_fetch_reads_every_list_and_every_delivery_code(momo_adapter, momo_sandbox, momo_shop):
    """momo has no "all" value for the store chain, the carrier or the temperature: each code is asked."""
    shop = momo_shop["shop_id"]
    start = NOW - timedelta(days=3)
    company = momo_sandbox.generate_orders(shop, 4, start=start, end=NOW, kind="company")
    stores = momo_sandbox.generate_orders(shop, 6, start=start, end=NOW, kind="stores")
    third = momo_sandbox.generate_orders(shop, 5, start=start, end=NOW, kind="third")
    orders = _fetch(momo_adapter, NOW - timedelta(days=4), NOW)
    assert sorted(o.external_id for o in orders) == sorted(company + stores + third)
    assert momo_sandbox.calls() == FETCH_CALLS == 1 + 6 + 12 + 1
    by_id = {o.external_id: o for o in orders}
    assert not by_id[company[0]].shipping_address.masked
    store_order = by_id[stores[0]]
    assert store_order.shipping_address.masked and "*" in store_order.shipping_address.name
    assert "門市" in store_order.shipping_address.line1 and "超商取貨" in store_order.note
    assert "O" in store_order.buyer.name  # momo masks the orderer as 林O筠
    third_order = by_id[third[0]]
    assert third_order.platform_status == "unsendThirdQuery" and "****" in third_order.shipping_address.full
    assert third_order.shipping_address.zip and third_order.shipping_address.masked
    assert all(o.lines and o.total == sum(ln.qty * ln.unit_price for ln in o.lines) for o in orders)


def test_an_order_split_over_two_temperatures_arrives_whole_and_once(momo_adapter, momo_sandbox, momo_shop):
    shop = momo_shop["shop_id"]
    (oid,) = momo_sandbox.generate_orders(shop, 1, start=NOW - timedelta(hours=2), end=NOW, kind="third",
                                          temps=("01", "02"))
    rows = {n: r for n, r in momo_sandbox.rows[shop].items() if n.startswith(oid)}
    if len(rows) == 1:  # one product: add a second one at the other temperature
        pytest.skip("the seeded order has one line")
    (order,) = _fetch(momo_adapter, NOW - timedelta(days=1), NOW)
    assert sorted(ln.external_line_id for ln in order.lines) == sorted(rows)


def test_only_configured_queries_run(momo_sandbox, momo_shop):
    momo_sandbox.generate_orders(momo_shop["shop_id"], 2, start=NOW - timedelta(hours=2), end=NOW, kinds=["company",
                                                                                                         "stores"])
    adapter = make_adapter(momo_sandbox, momo_shop, queries=["unsendCompanyQuery"], stop_query=False)
    assert len(_fetch(adapter, NOW - timedelta(days=1), NOW)) == 1
    assert momo_sandbox.calls() == 1


def test_long_range_is_split_into_windows_the_sandbox_accepts(momo_adapter, momo_sandbox, momo_shop):
    shop = momo_shop["shop_id"]
    since = NOW - timedelta(days=150)
    ids = momo_sandbox.generate_orders(shop, 30, start=since, end=NOW, kinds=["company", "stores", "third"])
    orders = _fetch(momo_adapter, since, NOW)
    assert sorted(o.external_id for o in orders) == sorted(ids)
    assert momo_sandbox.calls() == WINDOW_CALLS * len(split_windows(since, NOW, 59)) + 1 == 58


def test_sandbox_refuses_a_window_over_two_months(momo_sandbox, momo_shop):
    client = MomoClient(momo_sandbox.base_url, momo_shop["credentials"])
    with pytest.raises(PermanentError, match="最大區間2個月"):
        client.query_unsent("unsendCompanyQuery", NOW - timedelta(days=62), NOW)
    assert momo_sandbox.calls() == 1  # a validation error is not retried


@pytest.mark.parametrize(("query", "filters", "problem"), [
    ("unsendStoresQuery", {}, "dely_gb"),
    ("unsendThirdQuery", {"third_delyGb": "62"}, "third_delyTemp"),
    ("unsendThirdQuery", {"third_delyTemp": "01"}, "third_delyGb"),
])
def test_momo_has_no_all_value_for_delivery_codes(momo_sandbox, momo_shop, query, filters, problem):
    client = MomoClient(momo_sandbox.base_url, momo_shop["credentials"])
    with pytest.raises(PermanentError, match=problem):
        client.query_unsent(query, NOW - timedelta(hours=1), NOW, filters)


def test_third_party_query_carries_third_order_gb(momo_sandbox, momo_shop):
    """The field the first version left out: momo answers a third-party query without it with an error."""
    client = MomoClient(momo_sandbox.base_url, momo_shop["credentials"])
    assert client.query_unsent("unsendThirdQuery", NOW - timedelta(hours=1), NOW,
                               {"third_delyGb": "61", "third_delyTemp": "01"}) == []
    old = client._post("unsendThirdQuery", {"sendInfo": {
        "third_fr_dd": "2026/03/15", "third_fr_hh": "11", "third_fr_mm": "00", "third_to_dd": "2026/03/15",
        "third_to_hh": "12", "third_to_mm": "00", "third_receiver": "", "third_goodsCode": "", "third_orderNo": "",
        "third_entpGoodsNo": "", "third_delyGb": "61", "third_delyTemp": "01"}}, check=lambda r: r.json())
    assert "third_orderGb" in old["basicCheckMsgList"][0]


def test_exactly_two_months_is_accepted(momo_sandbox, momo_shop):
    client = MomoClient(momo_sandbox.base_url, momo_shop["credentials"])
    start = datetime(2026, 1, 1, tzinfo=TAIPEI)
    assert client.query_unsent("unsendCompanyQuery", start, datetime(2026, 3, 1, tzinfo=TAIPEI)) == []


@pytest.mark.parametrize("split", [
    datetime(2026, 3, 2, 0, 0, tzinfo=TAIPEI),  # exactly Taipei midnight
    datetime(2026, 3, 1, 23, 59, 59, 500000, tzinfo=TAIPEI),  # between the two orders, not minute-aligned
    datetime(2026, 3, 2, 0, 0, 30, tzinfo=TAIPEI),
])
def test_taipei_midnight_orders_arrive_exactly_once_across_adjacent_windows(momo_adapter, momo_sandbox, momo_shop,
                                                                           split):
    shop = momo_shop["shop_id"]
    late = datetime(2026, 3, 1, 23, 59, 59, tzinfo=TAIPEI)
    early = datetime(2026, 3, 2, 0, 0, 0, tzinfo=TAIPEI)
    (a,) = momo_sandbox.generate_orders(shop, 1, start=late, end=late + timedelta(seconds=1))
    (b,) = momo_sandbox.generate_orders(shop, 1, start=early, end=early + timedelta(seconds=1), kind="third")
    assert (a, b) == ("20260301235959", "20260302000000")
    first = _fetch(momo_adapter, late - timedelta(hours=1), split)
    second = _fetch(momo_adapter, split, early + timedelta(hours=1))
    got = [o.external_id for o in first + second]
    assert sorted(got) == [a, b]
    if split == early:
        assert [o.external_id for o in first] == [a] and [o.external_id for o in second] == [b]
    by_id = {o.external_id: o for o in first + second}
    assert by_id[b].created_at == datetime(2026, 3, 1, 16, 0, tzinfo=UTC)


def test_company_ship_confirms_every_line_and_a_repeat_is_success(momo_adapter, momo_sandbox, momo_shop):
    shop = momo_shop["shop_id"]
    ids = momo_sandbox.generate_orders(shop, 3, start=NOW - timedelta(hours=3), end=NOW)
    orders = {o.external_id: o for o in _fetch(momo_adapter, NOW - timedelta(days=1), NOW)}
    order = orders[ids[0]]
    result = momo_adapter.ship(order, Shipment(tracking_number="HCT123456789", carrier="hct"))
    assert result.tracking_number == "HCT123456789"
    assert result.raw["resultInfo"]["confirmOkCnt"] == str(len(order.lines))
    recorded = momo_sandbox.shipment_of(shop, ids[0])
    assert recorded["tracking_number"] == "HCT123456789" and recorded["carrier"] == "新竹貨運"
    assert recorded["lines"] == sorted(ln.external_line_id for ln in order.lines)
    assert sorted(o.external_id for o in _fetch(momo_adapter, NOW - timedelta(days=1), NOW)) == sorted(ids[1:])
    # the same confirm again (an earlier answer lost): momo lists the rows in confirmRepeatList, which is success
    again = momo_adapter.ship(order, Shipment(tracking_number="HCT123456789", carrier="新竹貨運"))
    assert again.raw["resultInfo"]["confirmRepeatCnt"] == str(len(order.lines))


def test_ship_refusals_are_permanent_and_clear(momo_adapter, momo_sandbox, momo_shop):
    shop = momo_shop["shop_id"]
    momo_sandbox.generate_orders(shop, 1, start=NOW - timedelta(hours=1), end=NOW)
    (company,) = _fetch(momo_adapter, NOW - timedelta(days=1), NOW)
    with pytest.raises(PermanentError, match="not a momo delyGbStr"):
        momo_adapter.ship(company, Shipment(tracking_number="T1", carrier="UFO Express"))
    with pytest.raises(PermanentError, match="not rows of momo order"):
        momo_adapter.ship(company, Shipment(tracking_number="T1", line_ids=("20990101000000-001-001-001",)))
    with pytest.raises(PermanentError, match="tracking number"):
        momo_adapter.ship(company, Shipment(tracking_number=""))
    assert momo_sandbox.calls("/OrderServlet.do") == FETCH_CALLS  # the fetch only: every refusal is decided locally


def test_stop_list_can_be_switched_off(momo_sandbox, momo_shop):
    (oid,) = momo_sandbox.generate_orders(momo_shop["shop_id"], 1, status="cancelled")
    adapter = make_adapter(momo_sandbox, momo_shop, stop_query=False)
    assert _fetch(adapter, NOW - timedelta(days=2), NOW) == [] and adapter.get_orders([oid]) == []
    assert momo_sandbox.calls() == 2 * WINDOW_CALLS


def test_get_orders_rereads_by_order_number(momo_adapter, momo_sandbox, momo_shop):
    shop = momo_shop["shop_id"]
    ids = momo_sandbox.generate_orders(shop, 3, start=NOW - timedelta(days=10), end=NOW, kinds=["company", "third"])
    momo_sandbox.update_order(shop, ids[1], receiver="林*明")
    got = momo_adapter.get_orders([ids[1], ids[2]])
    assert [o.external_id for o in got] == [ids[1], ids[2]]
    assert got[0].shipping_address.name == "林*明"
    assert momo_adapter.get_orders(["20200101000000"]) == []
    assert momo_adapter.api_calls == momo_sandbox.calls()


def test_confirm_failure_lines_are_readable(momo_adapter, momo_sandbox, momo_shop):
    (oid,) = momo_sandbox.generate_orders(momo_shop["shop_id"], 1)
    (order,) = momo_adapter.get_orders([oid])
    momo_sandbox.request_stop(momo_shop["shop_id"], oid)  # momo asks the vendor to stop it meanwhile
    with pytest.raises(PermanentError) as info:
        momo_adapter.ship(order, Shipment(tracking_number="X1"))
    assert f"{order.lines[0].external_line_id}: " in str(info.value) and "攔貨" in str(info.value)
    assert "\t" not in str(info.value)


def test_settings_are_validated_with_clear_messages(momo_sandbox, momo_shop):
    momo_sandbox.generate_orders(momo_shop["shop_id"], 1, kind="third")
    window = (NOW - timedelta(days=1), NOW)
    with pytest.raises(PermanentError, match="unknown momo queries"):
        list(make_adapter(momo_sandbox, momo_shop, queries=["unsendEverything"]).fetch_orders(*window))
    with pytest.raises(PermanentError, match="unsent_status 'waiting'"):
        list(make_adapter(momo_sandbox, momo_shop, unsent_status="waiting").fetch_orders(*window))
    with pytest.raises(PermanentError, match="price_field 'listPrice'"):
        list(make_adapter(momo_sandbox, momo_shop, price_field="listPrice").fetch_orders(*window))
    assert momo_sandbox.calls() == 0
    adapter = make_adapter(momo_sandbox, momo_shop, queries="unsendThirdQuery, unsendCompanyQuery", stop_query=False,
                           unsent_status="paid")
    (order,) = _fetch(adapter, *window)
    assert order.status == "paid" and order.platform_status == "unsendThirdQuery"


def test_query_filters_narrow_the_codes_asked(momo_sandbox, momo_shop):
    shop = momo_shop["shop_id"]
    ids = momo_sandbox.generate_orders(shop, 12, start=NOW - timedelta(hours=6), end=NOW, kind="stores")
    by_chain = {oid: momo_sandbox.rows[shop][f"{oid}-001-001-001"]["_dely_gb"] for oid in ids}
    everything = make_adapter(momo_sandbox, momo_shop, queries=["unsendStoresQuery"], stop_query=False)
    assert sorted(o.external_id for o in _fetch(everything, NOW - timedelta(days=1), NOW)) == sorted(ids)
    assert momo_sandbox.calls() == len(DEFAULT_FILTERS["unsendStoresQuery"]) == 6
    only_711 = make_adapter(momo_sandbox, momo_shop, queries=["unsendStoresQuery"], stop_query=False,
                            query_filters={"unsendStoresQuery": [{"dely_gb": "21"}]})
    got = {o.external_id for o in _fetch(only_711, NOW - timedelta(days=1), NOW)}
    assert got == {oid for oid, chain in by_chain.items() if chain == "21"}
    assert momo_sandbox.calls() == 7
    bad = make_adapter(momo_sandbox, momo_shop, query_filters={"unsendThirdQuery": [{"warehouse": "A"}]})
    with pytest.raises(PermanentError, match="unknown fields \\['warehouse'\\]"):
        list(bad.fetch_orders(NOW - timedelta(days=1), NOW))


def test_get_orders_batches_numbers_into_windows(momo_adapter, momo_sandbox, momo_shop, caplog):
    shop = momo_shop["shop_id"]
    recent = momo_sandbox.generate_orders(shop, 4, start=NOW - timedelta(days=10), end=NOW, kinds=["company", "third"])
    (old,) = momo_sandbox.generate_orders(shop, 1, start=NOW - timedelta(days=100), end=NOW - timedelta(days=99))
    momo_sandbox.update_order(shop, recent[0], status="cancelled")  # a stop request: a request, not a cancellation
    got = momo_adapter.get_orders([*recent, old, "not-a-number", "20200101000000"])
    assert [o.external_id for o in got] == [*recent, old]
    assert got[0].cancel_request is not None and got[0].request_only
    assert all(o.status == "ready_to_ship" and o.cancel_request is None for o in got[1:])
    # three windows (2020, 100 days ago, the last 10 days) x every list variant, then one stop-list call
    assert momo_sandbox.calls() == 3 * WINDOW_CALLS + 1
    assert "'not-a-number' has no timestamp" in caplog.text and "20200101000000 not re-read" in caplog.text


def test_windows_partition_time_by_whole_minutes():
    since = datetime(2026, 1, 1, 0, 0, 30, tzinfo=UTC)
    until = since + timedelta(days=130)
    windows = split_windows(since, until, 59)
    assert windows[0][0] == datetime(2026, 1, 1, 0, 0, tzinfo=UTC) and windows[-1][1] == until.replace(second=0)
    assert all(a[1] == b[0] for a, b in zip(windows, windows[1:], strict=False))
    assert all(stop - start <= timedelta(days=59) for start, stop in windows)
    start, stop = windows[0]
    assert query_bounds(start, stop, to_inclusive=True) == (start, stop - timedelta(minutes=1))
    assert query_bounds(start, stop, to_inclusive=False) == (start, stop)
    assert split_windows(since, since + timedelta(seconds=20), 59) == []  # inside one minute: nothing to ask


@pytest.mark.parametrize("days", [0, -3, 63, "two months", None])
def test_a_bad_max_window_days_is_a_setting_error_not_an_endless_loop(momo_sandbox, momo_shop, days):
    adapter = make_adapter(momo_sandbox, momo_shop, max_window_days=days)
    if days is None:  # null means "not set": the default 59 applies
        assert list(adapter.fetch_orders(NOW - timedelta(days=1), NOW)) == []
        return
    with pytest.raises(PermanentError, match="max_window_days must be a whole number of days from 1 to 62"):
        list(adapter.fetch_orders(NOW - timedelta(days=1), NOW))
    with pytest.raises(PermanentError, match="max_window_days"):
        adapter.get_orders(["20260315123456789"])
    assert momo_sandbox.calls() == 0


def test_stop_query_setting_typed_as_text_false_is_off(momo_sandbox, momo_shop):
    adapter = make_adapter(momo_sandbox, momo_shop, stop_query="false")
    list(adapter.fetch_orders(NOW - timedelta(days=1), NOW))
    assert momo_sandbox.calls() == WINDOW_CALLS == momo_sandbox.calls("/OrderServlet.do")
    assert adapter.api_calls == WINDOW_CALLS  # the unsent lists; "false" did not read as a truthy string


def test_one_bad_row_holds_its_order_and_the_rest_flow(momo_adapter, momo_sandbox, momo_shop):
    shop = momo_shop["shop_id"]
    ids = momo_sandbox.generate_orders(shop, 3, start=NOW - timedelta(hours=3), end=NOW, kinds=["company", "third"])
    momo_sandbox.rows[shop][f"{ids[1]}-001-001-001"]["syslast"] = "two"  # a row momo should never send
    stop = momo_sandbox.generate_orders(shop, 1, start=NOW - timedelta(hours=4), end=NOW - timedelta(hours=3),
                                        status="cancelled")[0]
    momo_sandbox.rows[shop][f"{stop}-001-001-001"]["syslast"] = ""  # a stop row without a readable quantity
    got = {o.external_id: o for o in momo_adapter.fetch_orders(NOW - timedelta(days=1), NOW)}
    held = {k: o for k, o in got.items() if isinstance(o, UnmappableOrder)}
    assert set(held) == {ids[1]} and "syslast" in held[ids[1]].reason
    assert all(isinstance(got[i], Order) for i in (ids[0], ids[2]))
    # the request itself needs only the row numbers: it is still answered
    assert got[stop].cancel_request.reference.startswith(stop) and got[stop].request_only
