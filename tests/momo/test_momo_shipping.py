"""Every momo delivery type is confirmed as shipped, over real HTTP against MomoSandbox, and every confirm's
answer is read by the one result interpreter: undo and "in no list" are not done (sent again), a repeat is done,
a refusal holds with momo's reason. A lost answer is never sent again blindly: shipment_state reads momo back."""

from __future__ import annotations

from datetime import timedelta

import pytest
from momo_kit import FETCH_CALLS, NOW, make_adapter

from platforms.base import OutcomeUnknown, PermanentError, Shipment, TransientError
from platforms.momo.adapter import MomoAdapter

WINDOW = (NOW - timedelta(days=1), NOW)


def _orders(adapter: MomoAdapter) -> dict[str, object]:
    return {o.platform_status: o for o in adapter.fetch_orders(*WINDOW)}


@pytest.fixture
def three(momo_sandbox, momo_shop):
    """One order of each delivery type: company (廠商配送), store pickup, third-party logistics."""
    ids = momo_sandbox.generate_orders(momo_shop["shop_id"], 3, start=NOW - timedelta(hours=3), end=NOW,
                                       kinds=["company", "stores", "third"])
    return dict(zip(("unsendCompanyQuery", "unsendStoresQuery", "unsendThirdQuery"), ids, strict=True))


def test_every_delivery_type_is_confirmed_as_shipped(momo_adapter, momo_sandbox, momo_shop, three):
    shop = momo_shop["shop_id"]
    orders = _orders(momo_adapter)
    company = momo_adapter.ship(orders["unsendCompanyQuery"], Shipment(tracking_number="HCT-1", carrier="hct"))
    assert company.tracking_number == "HCT-1"
    assert momo_sandbox.shipment_of(shop, three["unsendCompanyQuery"])["tracking_number"] == "HCT-1"
    for query, action in (("unsendStoresQuery", "unsendStoresFinish"), ("unsendThirdQuery", "unsendThirdFinish")):
        order = orders[query]
        result = momo_adapter.ship(order, Shipment(tracking_number="OMS-TRACKING"))
        recorded = momo_sandbox.shipment_of(shop, three[query])
        # momo prints the label and assigns the slip: that is the tracking number the bridge records
        assert recorded["tracking_number"].startswith("M") and result.tracking_number == recorded["tracking_number"]
        assert recorded["lines"] == sorted(ln.external_line_id for ln in order.lines)
        assert recorded["packaging"] == {"shipTypeStr": "紙箱", "packTypeStr": "標準", "packUnit": "1"}
        assert action in momo_sandbox.actions
    assert {o.external_id for o in momo_adapter.fetch_orders(*WINDOW)} == set()  # all left the unsent lists


def test_a_store_finish_answered_as_a_list_and_repeated_is_success(momo_adapter, momo_sandbox, three):
    order = _orders(momo_adapter)["unsendStoresQuery"]
    first = momo_adapter.ship(order, Shipment(tracking_number=""))
    assert isinstance(first.raw["resultInfo"], list | dict)
    again = momo_adapter.ship(order, Shipment(tracking_number=""))
    assert again.tracking_number == first.tracking_number  # read back from sendingStoresQuery
    infos = again.raw["resultInfo"]
    info = infos[0] if isinstance(infos, list) else infos
    assert info["confirmRepeatCnt"] == str(len(order.lines)) and info["confirmOkCnt"] == "0"


def test_packaging_is_a_setting_and_an_unusable_one_is_refused_before_any_call(momo_sandbox, momo_shop, three):
    adapter = make_adapter(momo_sandbox, momo_shop, packaging={"shipTypeStr": "袋子", "packTypeStr": "小",
                                                               "packUnit": "2"})
    order = _orders(adapter)["unsendThirdQuery"]
    adapter.ship(order, Shipment(tracking_number=""))
    assert momo_sandbox.shipment_of(momo_shop["shop_id"], three["unsendThirdQuery"])["packaging"]["packUnit"] == "2"
    bad = make_adapter(momo_sandbox, momo_shop, packaging={"shipTypeStr": "紙箱"})
    store = _orders(bad)["unsendStoresQuery"]
    before = momo_sandbox.calls()
    with pytest.raises(PermanentError, match="packaging must give shipTypeStr, packTypeStr, packUnit"):
        bad.ship(store, Shipment(tracking_number=""))
    assert momo_sandbox.calls() == before


def test_undo_list_is_not_done_and_is_sent_again(momo_adapter, momo_sandbox, momo_shop, three):
    """The first version read only the fail list: an undo row counted as shipped though momo did nothing."""
    order = _orders(momo_adapter)["unsendCompanyQuery"]
    momo_sandbox.undo_next = 1
    with pytest.raises(TransientError, match="did not execute unsendCompanyConfirm"):
        momo_adapter.ship(order, Shipment(tracking_number="T-1", carrier="其他"))
    assert momo_sandbox.shipment_of(momo_shop["shop_id"], three["unsendCompanyQuery"]) is None \
        or len(order.lines) > 1  # an order of one line is certainly not shipped; several: the others are
    assert momo_adapter.ship(order, Shipment(tracking_number="T-1", carrier="其他")).tracking_number == "T-1"
    recorded = momo_sandbox.shipment_of(momo_shop["shop_id"], three["unsendCompanyQuery"])
    assert recorded["lines"] == sorted(ln.external_line_id for ln in order.lines)


def test_a_row_in_no_list_is_not_done_and_the_resend_meets_a_repeat(momo_adapter, momo_sandbox, three):
    order = _orders(momo_adapter)["unsendThirdQuery"]
    momo_sandbox.silent_next = len(order.lines)  # momo applies them but reports them in no list
    with pytest.raises(TransientError, match="no result"):
        momo_adapter.ship(order, Shipment(tracking_number=""))
    again = momo_adapter.ship(order, Shipment(tracking_number=""))
    assert again.tracking_number and again.raw["resultInfo"]["confirmRepeatCnt"] == str(len(order.lines))


def test_a_refused_row_is_permanent_with_momo_reason(momo_adapter, momo_sandbox, momo_shop, three):
    order = _orders(momo_adapter)["unsendStoresQuery"]
    momo_sandbox.update_order(momo_shop["shop_id"], three["unsendStoresQuery"], status="cancelled")
    with pytest.raises(PermanentError, match="訂單不在未出貨清單") as info:
        momo_adapter.ship(order, Shipment(tracking_number=""))
    assert info.value.code == "confirmFail"


@pytest.mark.parametrize("query", ["unsendCompanyQuery", "unsendStoresQuery", "unsendThirdQuery"])
def test_a_lost_confirm_answer_is_not_resent_and_momo_is_read_back(momo_sandbox, momo_shop, three, query):
    adapter = make_adapter(momo_sandbox, momo_shop)
    order = _orders(adapter)[query]
    assert adapter.shipment_state(order) is None  # still unsent: shipping it is safe
    momo_sandbox.faults.inject("lost_answer")
    with pytest.raises(OutcomeUnknown):
        adapter.ship(order, Shipment(tracking_number="T-9", carrier="其他"))
    sent = [a for a in momo_sandbox.actions if a.startswith("unsend") and not a.endswith("Query")]
    assert len(sent) == 1  # sent exactly once (and applied by momo: the connection dropped after)
    state = adapter.shipment_state(order)
    recorded = momo_sandbox.shipment_of(momo_shop["shop_id"], three[query])
    assert state is not None and recorded is not None
    if query == "unsendCompanyQuery":
        assert state.tracking_number is None  # gone from the unsent list: shipped, with the vendor's own slip
    else:
        assert state.tracking_number == recorded["tracking_number"]  # momo's slip from the in-delivery list


def test_shipment_state_of_a_stop_requested_order_is_not_shipped(momo_adapter, momo_sandbox, momo_shop, three):
    order = _orders(momo_adapter)["unsendCompanyQuery"]
    momo_sandbox.request_stop(momo_shop["shop_id"], three["unsendCompanyQuery"])
    assert momo_adapter.shipment_state(order) is None


def test_list_orders_names_every_unsent_order_without_mapping(momo_adapter, momo_sandbox, three):
    refs = list(momo_adapter.list_orders(*WINDOW))
    assert {r.external_id: r.platform_status for r in refs} == {v: k for k, v in three.items()}
    assert all(r.created_at is not None for r in refs)
    assert momo_sandbox.calls() == FETCH_CALLS - 1  # the lists only: no stop list, nothing else


def test_a_5xx_to_a_confirm_is_unknown_after_one_request(momo_sandbox, momo_shop, three):
    adapter = make_adapter(momo_sandbox, momo_shop)  # a policy of three attempts: still one request
    order = _orders(adapter)["unsendCompanyQuery"]
    momo_sandbox.faults.inject("503", count=3)
    before = len(momo_sandbox.actions)
    with pytest.raises(OutcomeUnknown):
        adapter.ship(order, Shipment(tracking_number="T-5", carrier="其他"))
    assert momo_sandbox.calls() - FETCH_CALLS == 1 and len(momo_sandbox.actions) == before
