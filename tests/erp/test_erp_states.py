"""Every ERP delivery state against the sandbox: held (with actionable reasons), retry, dead, cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from erp_helpers import ErpEnv, assert_bodies_valid
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, utcnow


def later(hours: float = 2):
    return utcnow() + timedelta(hours=hours)


def test_erp_batch_with_one_bad_order_commits_the_others(erp_env: ErpEnv) -> None:
    erp_env.sandbox.db.add_product("NO-PRICE-1", "Unpriced thing", None, product_id=5000)
    good1 = erp_env.add_order()
    bad = erp_env.add_order(lines=[("TEA-BLACK-100", 1, "360"), ("NO-PRICE-1", 1, "10")])
    good2 = erp_env.add_order()
    stats = run_erp_delivery(settings=erp_env.settings, batch_size=10)
    assert (stats.sent, stats.held) == (2, 1)
    assert erp_env.sandbox.calls("compositeInterface") == 1
    assert len(erp_env.erp_orders(good1)) == 1 and len(erp_env.erp_orders(good2)) == 1
    assert erp_env.erp_orders(bad) == []  # its group was rolled back
    row = erp_env.delivery(bad)
    assert row.state == "held"
    assert row.last_error.startswith("SKU NO-PRICE-1 (M_Product_ID 5000) has no usable price on the price list of "
                                     "channel shop-a (iDempiere: Cannot save record in C_OrderLine: Product is not on "
                                     "PriceList -> Line No:20, Product: NO-PRICE-1 - Unpriced thing, Price List: "
                                     "Standard")
    assert row.hold_code == "price_list:NO-PRICE-1@shop-a"
    assert_bodies_valid(erp_env.sandbox)


def test_erp_missing_sku_held_then_auto_retried_after_sku_map(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order(lines=[("ABC-1", 2, "100")])
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.state == "held" and row.hold_code == "missing_sku:ABC-1"
    assert row.last_error == "SKU ABC-1 has no ERP product (map it: oms-bridge sku map ABC-1 --product <M_Product_ID>)"
    assert erp_env.sandbox.calls("compositeInterface") == 0

    runner = CliRunner()
    unmapped = runner.invoke(cli, ["sku", "unmapped"])
    assert unmapped.exit_code == 0 and "ABC-1\t1 order(s)" in unmapped.output
    result = runner.invoke(cli, ["sku", "map", "ABC-1", "--product", "128"])
    assert result.exit_code == 0, result.output
    assert "1 held order(s) re-armed" in result.output
    assert erp_env.delivery(ext).state == "pending"

    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    [erp] = erp_env.erp_orders(ext)
    assert erp["lines"][0]["M_Product_ID"] == 128


def test_erp_channel_specific_sku_map_wins_and_value_mapping_resolves(erp_env: ErpEnv) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["sku", "map", "X-1", "--product", "129"]).exit_code == 0
    assert runner.invoke(cli, ["sku", "map", "X-1", "--value", "Oak Tree", "--channel", "shop-a"]).exit_code == 0
    ext = erp_env.add_order(lines=[("X-1", 1, "61.75")])
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext)[0]["lines"][0]["M_Product_ID"] == 130


@pytest.mark.parametrize("change, text", [
    ({"password": "wrong"}, "Error login - User invalid"),
    ({"erp_client_id": 12}, "Error logging in - tenant not allowed for this user"),
    ({"erp_role_id": 102}, "Error logging in - role not allowed for this user"),
    ({"erp_org_id": 50}, "Error logging in - org not allowed for this role"),
    ({"erp_warehouse_id": 104}, "Error logging in - warehouse not allowed for this org"),
])
def test_erp_refused_login_stops_the_run_and_orders_stay_due(erp_env: ErpEnv, change: dict, text: str) -> None:
    erp_env.update_connection(**change)
    refs = [erp_env.add_order(), erp_env.add_order()]
    stats = run_erp_delivery(settings=erp_env.settings)
    assert erp_env.sandbox.calls() == 1 and erp_env.sandbox.orders() == []  # one login, refused
    assert stats.outcome == "failed" and stats.held == 0 and stats.sent == 0
    assert f"ERP connection gw: iDempiere refused the login: {text}" in stats.error_text
    assert "oms-bridge erp connection update gw" in stats.error_text and "2 order(s) wait for it" in stats.error_text
    assert "wrong" not in stats.error_text
    for ref in refs:
        row = erp_env.delivery(ref)
        assert row.state == "pending" and row.attempts == 0 and row.leased_until is None


def test_erp_wrong_password_is_tried_once_not_once_per_batch(erp_env: ErpEnv) -> None:
    """1,820 due orders gave 182 failed logins in one run (one per batch), which can lock the ERP user
    (Login.java counts failures, USER_LOCKING_MAX_LOGIN_ATTEMPT). One refusal stops the connection's run, later
    runs do not log in again until the connection is edited, and the orders wait, due."""
    erp_env.update_connection(password="wrong")
    refs = [erp_env.add_order() for _ in range(30)]
    first = run_erp_delivery(settings=erp_env.settings, batch_size=3)
    assert erp_env.sandbox.calls() == 1  # 10 batches' worth of orders, one login attempt
    assert first.fetched == 0 and "30 order(s) wait for it" in first.error_text
    again = run_erp_delivery(settings=erp_env.settings, batch_size=3)
    assert erp_env.sandbox.calls() == 1 and again.fetched == 0  # the refusal stands: no new login
    assert "its login was refused: Error login - User invalid (since" in again.error_text
    status = CliRunner().invoke(cli, ["erp", "status"])
    assert "ERP connection gw: login refused: Error login - User invalid" in status.output
    assert "pending 30" in status.output

    result = CliRunner().invoke(cli, ["erp", "connection", "update", "gw", "--password-stdin"], input="WebService\n")
    assert result.exit_code == 0 and "the next delivery logs in again" in result.output
    assert run_erp_delivery(settings=erp_env.settings).sent == 30
    assert all(len(erp_env.erp_orders(ref)) == 1 for ref in refs)


def test_erp_login_fixed_inside_idempiere_is_picked_up_by_erp_check(erp_env: ErpEnv) -> None:
    erp_env.sandbox.realm.users["WebService"][1][11][50004].clear()  # the role lost its organizations
    ext = erp_env.add_order()
    stats = run_erp_delivery(settings=erp_env.settings)
    assert "Error logging in - no organizations for this role" in stats.error_text
    erp_env.sandbox.realm.users["WebService"][1][11][50004][11] = {103}  # fixed in iDempiere
    assert run_erp_delivery(settings=erp_env.settings).fetched == 0  # still no login: the bridge cannot know
    check = CliRunner().invoke(cli, ["erp", "check"])
    assert check.exit_code == 0, check.output
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.delivery(ext).state == "sent"


def test_erp_role_access_hold_names_role_and_service_type(erp_env: ErpEnv) -> None:
    erp_env.sandbox.service_types["OmsCreateOrderLine"].roles.clear()
    ext = erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.state == "held"
    assert row.last_error.startswith("role 50004 may not use service type OmsCreateOrderLine")
    assert row.hold_code == "erp_config:access:OmsCreateOrderLine"
    assert erp_env.erp_orders(ext) == []


def test_erp_input_column_not_allowed_hold(erp_env: ErpEnv) -> None:
    del erp_env.sandbox.service_types["OmsCreateOrder"].inputs["C_OrderSource_ID"]
    ext = erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.last_error.startswith("service type OmsCreateOrder may not set column C_OrderSource_ID")


@pytest.mark.parametrize("fault", ["500", "error_envelope", "malformed_json"])
def test_erp_transient_failure_retries_then_sends(erp_env: ErpEnv, fault: str) -> None:
    ext = erp_env.add_order()
    erp_env.sandbox.faults.inject(fault, path="compositeInterface")
    first = run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert first.failed == 1 and row.state == "retry" and row.attempts == 1 and row.next_attempt_at is not None
    assert erp_env.erp_orders(ext) == []
    # not due yet: nothing happens
    assert run_erp_delivery(settings=erp_env.settings).fetched == 0
    assert run_erp_delivery(settings=erp_env.settings, now=later()).sent == 1
    assert len(erp_env.erp_orders(ext)) == 1


def test_erp_slow_answer_times_out_and_is_retried(sqlite_settings, erp_sandbox) -> None:
    from erp_helpers import make_env

    env = make_env(sqlite_settings, erp_sandbox, timeout=0.3)
    ext = env.add_order()
    erp_sandbox.faults.inject("timeout", path="ModelADService", delay=0.8)
    stats = run_erp_delivery(settings=env.settings)
    assert stats.failed == 1 and "timed out" in env.delivery(ext).last_error


def test_erp_dead_after_max_attempts(erp_env: ErpEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    ext = erp_env.add_order()
    erp_env.sandbox.faults.inject("503", count=10)
    max_attempts = erp_env.settings.delivery_max_attempts
    when = utcnow()
    for _ in range(max_attempts):
        run_erp_delivery(settings=erp_env.settings, now=when)
        when += timedelta(days=1)
    row = erp_env.delivery(ext)
    assert row.state == "dead" and row.attempts == max_attempts
    assert row.last_error.startswith(f"gave up after {max_attempts} attempts")
    erp_env.sandbox.faults.clear()
    result = CliRunner().invoke(cli, ["erp", "retry", "--order", ext])
    assert result.exit_code == 0 and "1 ERP delivery re-armed" in result.output
    assert run_erp_delivery(settings=erp_env.settings).sent == 1


@pytest.mark.parametrize("doc_action, status", [("VO", "VO"), ("CL", "CL")])
def test_erp_cancellation_of_sent_order(erp_env: ErpEnv, doc_action: str, status: str) -> None:
    erp_env.update_connection(settings_json=f'{{"cancel_doc_action": "{doc_action}"}}')
    ext = erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    erp_env.cancel(ext)
    stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.sent == 1
    [erp] = erp_env.erp_orders(ext)
    assert erp["DocStatus"] == status
    assert erp_env.delivery(ext).state == "sent"
    assert_bodies_valid(erp_env.sandbox)


def test_erp_cancel_before_reaching_erp_creates_nothing(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order()
    erp_env.cancel(ext)
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext) == []
    assert erp_env.delivery(ext).external_ref == "cancelled before reaching the ERP"


def test_erp_shipping_fee_without_charge_is_held_with_config_code(erp_env: ErpEnv) -> None:
    with session_scope(erp_env.settings) as s:
        s.get(Channel, erp_env.channel_id).erp_shipping_charge_id = None
    ext = erp_env.add_order(shipping_fee="60")
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.state == "held" and row.hold_code == "config:shop-a"
    assert "shipping fee of 60" in row.last_error
    assert "oms-bridge channel update shop-a --erp-shipping-charge-id <C_Charge_ID>" in row.last_error
    # the admin fixes the channel (any way: CLI, web, SQL); the next run re-arms and sends the order
    result = CliRunner().invoke(cli, ["channel", "update", "shop-a", "--erp-shipping-charge-id", "1000010"])
    assert result.exit_code == 0, result.output
    stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.details["rearmed"] == 1 and stats.sent == 1
    assert erp_env.erp_orders(ext)[0]["GrandTotal"] == "1319"


def test_erp_default_partner_when_buyer_has_no_email(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order(email=None)
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext)[0]["C_BPartner_ID"] == 117


def test_erp_unpaid_order_waits_then_goes_when_paid(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order(status="unpaid")
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.state == "waiting" and row.hold_code == "awaiting:unpaid"
    assert erp_env.sandbox.calls() == 0 and erp_env.erp_orders(ext) == []
    erp_env.change_status(ext, "paid")
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext)[0]["DocStatus"] == "CO"


def test_erp_cancelled_after_unrecorded_send_is_voided(erp_env: ErpEnv) -> None:
    """The ERP got the order but we never recorded it; then the marketplace cancels (re-armed as create)."""
    ext = erp_env.add_order()
    erp_env.sandbox.drop_responses_after_commit(1)
    run_erp_delivery(settings=erp_env.settings)
    assert erp_env.delivery(ext).state == "retry"
    erp_env.cancel(ext, action="create")
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    [erp] = erp_env.erp_orders(ext)
    assert erp["DocStatus"] == "VO"
    assert erp_env.delivery(ext).erp_record_id == erp["C_Order_ID"]


def test_erp_create_statuses_setting(erp_env: ErpEnv) -> None:
    erp_env.update_connection(settings_json='{"create_statuses": ["unpaid", "paid"]}')
    ext = erp_env.add_order(status="unpaid")
    assert run_erp_delivery(settings=erp_env.settings).sent == 1 and erp_env.erp_orders(ext)


def test_erp_value_mapping_to_unknown_product_says_so(erp_env: ErpEnv) -> None:
    # saved unchecked (`sku map` refuses a product the ERP does not have, as it may have been removed since)
    assert CliRunner().invoke(cli, ["sku", "map", "Y-1", "--value", "No Such Product", "--no-check"]).exit_code == 0
    ext = erp_env.add_order(lines=[("Y-1", 1, "10")])
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.hold_code == "missing_sku:Y-1"
    assert row.last_error.startswith("SKU Y-1 is mapped to product value 'No Such Product', which iDempiere does not")


def test_erp_two_channels_with_different_channel_mappings(erp_env: ErpEnv) -> None:
    with session_scope(erp_env.settings) as s:
        first = s.get(Channel, erp_env.channel_id)
        other = Channel(value="shop-b", name="Shop B", oms_platform_id=first.oms_platform_id, shop_id="2002",
                        oms_erp_connection_id=first.oms_erp_connection_id,
                        **erp_env.sandbox.channel_mapping())
        s.add(other)
        s.flush()
        other_id = other.id
    runner = CliRunner()
    assert runner.invoke(cli, ["sku", "map", "Z-1", "--product", "128", "--channel", "shop-a"]).exit_code == 0
    assert runner.invoke(cli, ["sku", "map", "Z-1", "--value", "Oak Tree", "--channel", "shop-b"]).exit_code == 0
    a = erp_env.add_order(lines=[("Z-1", 1, "1")])
    b = erp_env.add_order(lines=[("Z-1", 1, "1")], channel_id=other_id)
    assert run_erp_delivery(settings=erp_env.settings).sent == 2
    assert erp_env.erp_orders(a)[0]["lines"][0]["M_Product_ID"] == 128
    assert erp_env.erp_orders(b, "shop-b")[0]["lines"][0]["M_Product_ID"] == 130


def test_erp_cancel_of_order_already_voided_in_erp(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    record = erp_env.delivery(ext).erp_record_id
    erp_env.sandbox.db.doc_action("C_Order", record, "VO")  # someone voided it in iDempiere already
    erp_env.cancel(ext)
    stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.sent == 1 and erp_env.sandbox.calls("compositeInterface") == 1
    assert erp_env.delivery(ext).state == "sent"


def test_erp_fix_made_inside_idempiere_is_picked_up_by_the_hourly_recheck(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order(lines=[("NEW-IN-ERP", 1, "100")])
    run_erp_delivery(settings=erp_env.settings)
    assert erp_env.delivery(ext).hold_code == "missing_sku:NEW-IN-ERP"
    # within the hour nothing is retried
    assert run_erp_delivery(settings=erp_env.settings).details["rechecked"] == 0
    erp_env.sandbox.db.add_product("NEW-IN-ERP", "created in iDempiere", "100")  # the ERP admin adds the product
    stats = run_erp_delivery(settings=erp_env.settings, now=later(1.5))
    assert stats.details["rechecked"] == 1 and stats.sent == 1
    assert erp_env.erp_orders(ext)[0]["DocStatus"] == "CO"


def test_erp_draft_with_same_po_reference_is_completed_not_duplicated(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order()
    erp_env.sandbox.service_types["OmsCompleteOrder"].roles.clear()  # the first attempt leaves... nothing
    run_erp_delivery(settings=erp_env.settings)
    assert erp_env.erp_orders(ext) == []  # the group was rolled back as a whole
    # someone entered the order by hand as a draft meanwhile, with the order's reference
    with erp_env.sandbox.db.lock:
        erp_env.sandbox.db.save("C_Order", {"C_BPartner_ID": 117, "POReference": f"{erp_env.channel_id}-{ext}",
                                            "Description": f"{ext} (shop-a) entered by hand"}, {
            "AD_Client_ID": 11, "AD_Org_ID": 11, "M_Warehouse_ID": 103})
        draft = erp_env.sandbox.orders()[0]["C_Order_ID"]
        erp_env.sandbox.db.save("C_OrderLine", {"C_Order_ID": draft, "M_Product_ID": 128}, {
            "AD_Client_ID": 11, "AD_Org_ID": 11, "M_Warehouse_ID": 103})
    erp_env.sandbox.service_types["OmsCompleteOrder"].roles.add(50004)
    assert CliRunner().invoke(cli, ["erp", "retry", "--order", ext]).exit_code == 0
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    [erp] = erp_env.erp_orders(ext)
    assert erp["C_Order_ID"] == draft and erp["DocStatus"] == "CO"
    row = erp_env.delivery(ext)
    assert row.erp_record_id == draft and row.erp_document_no == erp["DocumentNo"]
    assert row.external_ref == "draft found by POReference, completed"


def test_erp_same_order_number_in_two_channels_makes_two_sales_orders(erp_env: ErpEnv) -> None:
    """Order numbers are unique per shop only (Cyberbiz #1101 exists in every shop): the POReference
    pre-check must not take channel A's C_Order for channel B's order, in one batch or in two."""
    other_id = _second_channel(erp_env)
    erp_env.add_order("1101")
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    erp_env.add_order("1101", channel_id=other_id)
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    erp = erp_env.erp_orders("1101") + erp_env.erp_orders("1101", "shop-b")
    assert len(erp) == 2 and {o["DocStatus"] for o in erp} == {"CO"}
    assert {o["POReference"] for o in erp} == {f"{erp_env.channel_id}-1101", f"{other_id}-1101"}
    with session_scope(erp_env.settings) as s:
        records = s.scalars(select(Delivery.erp_record_id).join(Order, Order.id == Delivery.oms_order_id)
                            .where(Order.external_id == "1101", Delivery.destination == "erp")).all()
    assert sorted(records) == sorted(o["C_Order_ID"] for o in erp)
    # A re-run (e.g. after a crash) still finds each channel's own C_Order and creates nothing more.
    with session_scope(erp_env.settings) as s:
        for row in s.scalars(select(Delivery).where(Delivery.destination == "erp")):
            row.state = "pending"
    run_erp_delivery(settings=erp_env.settings)
    assert len(erp_env.sandbox.orders()) == 2


def _second_channel(erp_env: ErpEnv, value: str = "shop-b") -> int:
    """Another shop of the same marketplace with the same ERP mapping, order source included."""
    with session_scope(erp_env.settings) as s:
        first = s.get(Channel, erp_env.channel_id)
        other = Channel(value=value, name="Shop B", oms_platform_id=first.oms_platform_id, shop_id="2002",
                        oms_erp_connection_id=first.oms_erp_connection_id, **erp_env.sandbox.channel_mapping())
        s.add(other)
        s.flush()
        return other.id


def test_erp_two_shops_same_numbers_same_source_after_a_lost_answer(erp_env: ErpEnv) -> None:
    """Two shops with the same order numbers and the same order source; the ERP commits a batch holding both
    shops' orders but the answer is lost. The next run must link each store order to the C_Order made from it:
    no C_Order owned twice, none linked to the other shop's order, none created twice."""
    other_id = _second_channel(erp_env)
    numbers = [f"11{n:02d}" for n in range(10)]
    for number in numbers:  # different prices per shop: each C_Order's total says which shop's order it is
        erp_env.add_order(number, lines=[("TEA-OOLONG-150", 1, "100")])
        erp_env.add_order(number, lines=[("TEA-OOLONG-150", 1, "200")], channel_id=other_id)
    erp_env.sandbox.drop_responses_after_commit(1)
    first = run_erp_delivery(settings=erp_env.settings, batch_size=20)
    assert first.sent == 0 and len(erp_env.sandbox.orders()) == 20  # the ERP has them all; the bridge does not know
    second = run_erp_delivery(settings=erp_env.settings, now=later(2), batch_size=20)
    assert second.sent == 20
    assert erp_env.sandbox.calls("compositeInterface") == 1  # nothing was created again
    by_id = {o["C_Order_ID"]: o for o in erp_env.sandbox.orders()}
    assert len(by_id) == 20
    with session_scope(erp_env.settings) as s:
        rows = s.execute(select(Order.oms_channel_id, Order.external_id, Delivery.erp_record_id)
                         .join(Delivery, Delivery.oms_order_id == Order.id)
                         .where(Delivery.destination == "erp")).all()
    assert len({record for _c, _n, record in rows}) == 20  # no C_Order owned twice
    for channel_id, number, record in rows:
        total = "100" if channel_id == erp_env.channel_id else "200"
        assert by_id[record]["GrandTotal"] == total, (channel_id, number)
        channel = "shop-a" if channel_id == erp_env.channel_id else "shop-b"
        assert by_id[record]["Description"].startswith(f"{number} ({channel}) ")


def test_erp_product_id_that_does_not_exist_names_the_sku_and_a_new_mapping_rearms(erp_env: ErpEnv) -> None:
    """iDempiere answers "Foreign ID 999999 not found in M_Product_ID" (PO.validForeignKeys): the hold names the SKU
    of the failing line, whatever the text, and remapping the SKU (CLI or any other edit) re-arms it."""
    runner = CliRunner()
    # saved unchecked (`sku map` refuses a product the ERP does not have, as it may have been deleted since)
    assert runner.invoke(cli, ["sku", "map", "X-1", "--product", "999999", "--no-check"]).exit_code == 0
    ext = erp_env.add_order(lines=[("TEA-BLACK-100", 1, "360"), ("X-1", 1, "61.75")])
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.state == "held" and row.hold_code == "missing_sku:X-1"
    assert row.last_error.startswith("SKU X-1 is mapped to M_Product_ID 999999, which iDempiere does not have (line 2")
    assert "oms-bridge sku map X-1 --product" in row.last_error
    result = runner.invoke(cli, ["sku", "map", "X-1", "--product", "130"])
    assert "1 held order(s) re-armed" in result.output
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext)[0]["lines"][1]["M_Product_ID"] == 130


def test_erp_unknown_default_partner_is_a_channel_hold_that_a_channel_fix_rearms(erp_env: ErpEnv) -> None:
    with session_scope(erp_env.settings) as s:
        s.get(Channel, erp_env.channel_id).erp_bpartner_id = 4711
    ext = erp_env.add_order(email=None)  # no e-mail: the channel's default partner
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.state == "held" and row.hold_code == "config:shop-a"
    assert row.last_error.startswith("channel shop-a sends C_BPartner_ID 4711, which iDempiere does not have")
    assert "oms-bridge channel update shop-a --erp-bpartner-id" in row.last_error
    with session_scope(erp_env.settings) as s:
        s.get(Channel, erp_env.channel_id).erp_bpartner_id = 117
    assert run_erp_delivery(settings=erp_env.settings).sent == 1


def test_erp_price_list_hold_is_rearmed_by_a_mapping_or_channel_edit(erp_env: ErpEnv) -> None:
    erp_env.sandbox.db.add_product("NO-PRICE-1", "Unpriced thing", None, product_id=5000)
    first, second = (erp_env.add_order(lines=[("NO-PRICE-1", 1, "10")]) for _ in range(2))
    run_erp_delivery(settings=erp_env.settings)
    assert {erp_env.delivery(e).hold_code for e in (first, second)} == {"price_list:NO-PRICE-1@shop-a"}
    result = CliRunner().invoke(cli, ["sku", "map", "NO-PRICE-1", "--product", "128"])  # a priced product
    assert result.exit_code == 0
    assert run_erp_delivery(settings=erp_env.settings).sent == 2

    erp_env.sandbox.db.add_product("NO-PRICE-2", "Unpriced too", None, product_id=5001)
    third = erp_env.add_order(lines=[("NO-PRICE-2", 1, "10")])
    run_erp_delivery(settings=erp_env.settings)
    assert erp_env.delivery(third).hold_code == "price_list:NO-PRICE-2@shop-a"
    erp_env.sandbox.db.conn.execute("INSERT INTO M_PriceList (M_PriceList_ID, AD_Client_ID, Name, IsSOPriceList) "
                                    "VALUES (102, 11, 'Marketplace', 'Y')")
    erp_env.sandbox.db.conn.execute("INSERT INTO M_ProductPrice VALUES (102, 5001, '10', '10', '0')")
    with session_scope(erp_env.settings) as s:
        s.get(Channel, erp_env.channel_id).erp_pricelist_id = 102
    assert run_erp_delivery(settings=erp_env.settings).sent == 1


def test_erp_doc_action_failure_is_held_with_the_reason(erp_env: ErpEnv) -> None:
    """An order whose completion fails (MOrder.prepareIt: "@NoLines@"; here an order of only a zero discount)
    is held with iDempiere's reason, not with the untranslated @token@."""
    ext = erp_env.add_order(lines=[])
    run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(ext)
    assert row.state == "held" and row.hold_code == "erp_docaction@shop-a"
    assert row.last_error.startswith("iDempiere could not complete the order: NoLines")
