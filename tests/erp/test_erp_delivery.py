"""ERP delivery against the iDempiere sandbox: every delivery state, over real SOAP (zeep)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from click.testing import CliRunner
from erp_helpers import XSD_PATH, ErpEnv, assert_bodies_valid

from oms_bridge.cli.main import cli
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import ProcessRun, utcnow


def test_erp_completed_order_arrives_once_with_id_and_document_no(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order(shipping_fee="60", discount="50")
    stats = run_erp_delivery(settings=erp_env.settings)
    assert (stats.sent, stats.held, stats.failed) == (1, 0, 0)

    [erp] = erp_env.erp_orders(ext)
    assert erp["DocStatus"] == "CO"
    assert erp["C_OrderSource_ID"] == 1000001 and erp["M_PriceList_ID"] == 101
    # 16:30 UTC on 22 Nov is 00:30 on 23 Nov in Taipei (the ERP's local zone by default).
    assert erp["DateOrdered"] == "2026-11-23 00:30:00"
    # 2 x 480 + 299 + shipping 60 - discount 50
    assert erp["GrandTotal"] == "1269"
    assert [ln["PriceActual"] for ln in erp["lines"]] == ["480", "299", "60", "-50"]
    bp = erp_env.sandbox.records("C_BPartner", C_BPartner_ID=erp["C_BPartner_ID"])[0]
    assert bp["Value"] == "buyer@example.com" and bp["Name"] == "陳怡君"

    row = erp_env.delivery(ext)
    assert row.state == "sent" and row.erp_record_id == erp["C_Order_ID"]
    assert row.erp_document_no == erp["DocumentNo"]

    # nothing due any more: a second run sends nothing and creates nothing
    again = run_erp_delivery(settings=erp_env.settings)
    assert again.fetched == 0 and len(erp_env.erp_orders(ext)) == 1
    with session_scope(erp_env.settings) as s:
        runs = s.query(ProcessRun).filter(ProcessRun.process == "erp_delivery").all()
        assert [r.sent for r in runs] == [1, 0]


def test_erp_batch_uses_one_composite_and_requests_validate_against_xsd(erp_env: ErpEnv) -> None:
    refs = [erp_env.add_order() for _ in range(5)]
    stats = run_erp_delivery(settings=erp_env.settings, batch_size=5)
    assert stats.sent == 5
    # pre-check + product lookup + one compositeOperation for the whole batch
    assert erp_env.sandbox.calls("compositeInterface") == 1
    assert erp_env.sandbox.calls("ModelADService") == 2
    assert stats.api_calls == 3
    assert all(len(erp_env.erp_orders(r)) == 1 for r in refs)
    # the same buyer → one business partner
    assert len(erp_env.sandbox.records("C_BPartner", Value="buyer@example.com")) == 1
    assert assert_bodies_valid(erp_env.sandbox) == 3


def test_erp_crash_after_erp_commit_still_one_order(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order()
    erp_env.sandbox.drop_responses_after_commit(1)  # the composite commits, then the answer is lost
    first = run_erp_delivery(settings=erp_env.settings)
    assert first.failed == 1 and erp_env.delivery(ext).state == "retry"
    assert len(erp_env.erp_orders(ext)) == 1

    second = run_erp_delivery(settings=erp_env.settings, now=utcnow() + timedelta(hours=2))
    assert second.sent == 1
    [erp] = erp_env.erp_orders(ext)
    row = erp_env.delivery(ext)
    assert row.state == "sent" and row.erp_record_id == erp["C_Order_ID"] and row.erp_document_no == erp["DocumentNo"]
    assert erp_env.sandbox.calls("compositeInterface") == 1  # never sent twice


def test_erp_bridge_commit_lost_after_erp_commit_converges(erp_env: ErpEnv) -> None:
    """Our own store commit never happened (crash): the row is still pending, the ERP has the order."""
    ext = erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    [erp] = erp_env.erp_orders(ext)
    with session_scope(erp_env.settings) as s:  # roll our record back to "never recorded"
        row = s.merge(erp_env.delivery(ext))
        row.state, row.erp_record_id, row.erp_document_no = "pending", None, None
    stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.sent == 1 and len(erp_env.erp_orders(ext)) == 1
    assert erp_env.delivery(ext).erp_record_id == erp["C_Order_ID"]


def test_erp_password_never_reaches_logs(erp_env: ErpEnv, caplog) -> None:
    import logging

    realm = erp_env.sandbox.realm.users
    realm["WebService"] = ("s3cret-Pa55word", realm["WebService"][1])
    erp_env.update_connection(password="s3cret-Pa55word")
    ext = erp_env.add_order()
    with caplog.at_level(logging.DEBUG):
        stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.sent == 1 and len(erp_env.erp_orders(ext)) == 1
    assert "ADLoginRequest" in caplog.text  # zeep did log the envelopes ...
    assert "s3cret-Pa55word" not in caplog.text  # ... with the password masked


def test_erp_save_connection_helper_wires_a_sandbox(sqlite_settings, erp_sandbox) -> None:
    from oms_bridge.erp.connections import save_connection
    from oms_bridge.vault import Vault

    with session_scope(sqlite_settings) as s:
        conn = save_connection(s, Vault.from_settings(sqlite_settings), "demo", **erp_sandbox.connection_fields(),
                               settings={"cancel_doc_action": "CL"})
        assert conn.password_enc and "WebService" not in conn.password_enc
        assert '"cancel_doc_action": "CL"' in conn.settings_json


def test_erp_store_is_free_during_erp_calls_and_a_rearm_meanwhile_wins(erp_env: ErpEnv) -> None:
    """GetOrder writes the same order while the composite is in flight: no lock wait, and the newer
    version is not overwritten by the older outcome; the next run records the ERP order (pre-check)."""
    ext = erp_env.add_order()

    def marketplace_changes_order(service: str) -> None:
        if service == "compositeInterface":
            erp_env.change_status(ext, "shipped")  # a store write while the delivery run waits for the ERP

    erp_env.sandbox.on_request = marketplace_changes_order
    first = run_erp_delivery(settings=erp_env.settings)
    erp_env.sandbox.on_request = None
    assert first.details["superseded"] == 1
    row = erp_env.delivery(ext)
    assert row.state == "pending" and row.order_version == 2
    second = run_erp_delivery(settings=erp_env.settings)
    assert second.sent == 1 and erp_env.sandbox.calls("compositeInterface") == 1
    [erp] = erp_env.erp_orders(ext)
    assert erp_env.delivery(ext).erp_record_id == erp["C_Order_ID"]


@pytest.mark.parametrize("variant", ["current-schema", "cached"])
def test_erp_client_works_with_the_real_servers_wsdl(erp_env: ErpEnv, variant: str) -> None:
    """The client loads whatever WSDL the server publishes: with the upstream CXF WSDLs (whose address
    is https://localhost:8443) it still reaches the server at the connection URL and delivers."""
    folder = XSD_PATH.parent
    if not folder.exists():
        pytest.skip(f"upstream WSDLs not available at {folder}")
    suffix = ".current-schema.wsdl" if variant == "current-schema" else ".wsdl"
    for service in ("ModelADService", "compositeInterface"):
        erp_env.sandbox.wsdl_override[service] = (folder / f"{service}{suffix}").read_text(encoding="utf-8")
    ext = erp_env.add_order(shipping_fee="60")
    stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.sent == 1, erp_env.delivery(ext).last_error
    [erp] = erp_env.erp_orders(ext)
    assert erp["DocStatus"] == "CO" and erp_env.delivery(ext).erp_document_no == erp["DocumentNo"]
    erp_env.cancel(ext)
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext)[0]["DocStatus"] == "VO"
    check = CliRunner().invoke(cli, ["erp", "check"])
    assert check.exit_code == 0 and "Everything the bridge needs is configured." in check.output


def test_erp_shopline_id_longer_than_po_reference_is_found_after_a_lost_answer(erp_env: ErpEnv) -> None:
    """A Shopline order id has 24 characters; iDempiere keeps 20 of a POReference and cuts the rest silently. The
    reference must fit, so the pre-check finds the C_Order after a lost answer instead of creating a second one."""
    ext = erp_env.add_order("5f8d0d55b54764421b7156c3")
    erp_env.sandbox.drop_responses_after_commit(1)
    assert run_erp_delivery(settings=erp_env.settings).failed == 1
    assert run_erp_delivery(settings=erp_env.settings, now=utcnow() + timedelta(hours=2)).sent == 1
    assert erp_env.sandbox.calls("compositeInterface") == 1 and len(erp_env.sandbox.orders()) == 1
    [erp] = erp_env.erp_orders(ext)
    assert len(erp["POReference"]) == 20 and erp_env.delivery(ext).erp_record_id == erp["C_Order_ID"]


def _old_bridge_order(erp_env: ErpEnv, ext: str, *, source: int = 1000001) -> int:
    """A C_Order as a bridge before per-channel references left it: POReference = the bare number (cut to 20)."""
    with erp_env.sandbox.db.lock:
        row = erp_env.sandbox.db.save("C_Order", {"C_BPartner_ID": 117, "POReference": ext, "C_OrderSource_ID": source,
                                                  "Description": f"{ext} ship to someone"},
                                      {"AD_Client_ID": 11, "AD_Org_ID": 11, "M_Warehouse_ID": 103})
        erp_env.sandbox.db.save("C_OrderLine", {"C_Order_ID": row["C_Order_ID"], "M_Product_ID": 128},
                                {"AD_Client_ID": 11, "AD_Org_ID": 11, "M_Warehouse_ID": 103})
        erp_env.sandbox.db.doc_action("C_Order", row["C_Order_ID"], "CO")
    return row["C_Order_ID"]


def test_erp_order_left_by_an_older_bridge_is_recognised_not_duplicated(erp_env: ErpEnv) -> None:
    """Upgrade: an answer lost under the old scheme left a C_Order with the bare number; the row waits to retry."""
    ext = erp_env.add_order("5f8d0d55b54764421b7156c3")
    old = _old_bridge_order(erp_env, ext)
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    row = erp_env.delivery(ext)
    assert row.erp_record_id == old and len(erp_env.sandbox.orders()) == 1


def test_erp_old_style_order_two_shops_could_own_is_held_not_guessed(erp_env: ErpEnv) -> None:
    from test_erp_states import _second_channel

    other = _second_channel(erp_env)
    a, b = erp_env.add_order("1101"), erp_env.add_order("1101", channel_id=other)
    old = _old_bridge_order(erp_env, "1101")
    run_erp_delivery(settings=erp_env.settings)
    for ext, channel_id in ((a, erp_env.channel_id), (b, other)):
        row = erp_env.delivery(ext, channel_id)
        assert row.state == "held" and row.hold_code == "erp_ambiguous"
        assert f"C_Order(s) {old}" in row.last_error and f"'{channel_id}-1101'" in row.last_error
    assert len(erp_env.sandbox.orders()) == 1
    # the admin gives the old C_Order shop-a's reference and retries: each shop ends with exactly its own
    erp_env.sandbox.db.conn.execute("UPDATE C_Order SET POReference = ? WHERE C_Order_ID = ?",
                                    (f"{erp_env.channel_id}-1101", old))
    assert CliRunner().invoke(cli, ["erp", "retry", "--order", "1101"]).exit_code == 0
    assert run_erp_delivery(settings=erp_env.settings).sent == 2
    assert erp_env.delivery(a).erp_record_id == old
    assert len(erp_env.sandbox.orders()) == 2 and len(erp_env.erp_orders(b, "shop-b")) == 1


def test_erp_query_type_without_output_columns_holds_instead_of_duplicating(erp_env: ErpEnv) -> None:
    """queryData returns only WS_WebServiceFieldOutput columns: a pre-check that cannot see POReference would find
    nothing and create a second C_Order. It is a configuration hold instead, and erp check names the columns."""
    ext = erp_env.add_order()
    erp_env.sandbox.drop_responses_after_commit(1)
    run_erp_delivery(settings=erp_env.settings)
    erp_env.sandbox.service_types["OmsQueryOrder"].outputs = ["C_Order_ID"]
    run_erp_delivery(settings=erp_env.settings, now=utcnow() + timedelta(hours=2))
    row = erp_env.delivery(ext)
    assert row.state == "held" and row.hold_code == "erp_config:output:OmsQueryOrder"
    assert "does not return column DocStatus, DocumentNo, POReference" in row.last_error
    assert len(erp_env.sandbox.orders()) == 1
    check = CliRunner().invoke(cli, ["erp", "check"])
    assert check.exit_code == 1
    assert ('Web Service Type "OmsQueryOrder" > tab Output (WS_WebServiceFieldOutput): add column(s) DocStatus, '
            "DocumentNo, POReference") in check.output


def test_erp_connection_batch_size_is_used_and_products_are_looked_up_once_per_run(erp_env: ErpEnv) -> None:
    """The connection's batch_size setting decides the orders per compositeOperation (it used to be ignored), and
    a search key found in one batch is not asked for again in the next."""
    import json

    erp_env.update_connection(settings_json=json.dumps({"timeout_seconds": 5, "batch_size": 4}))
    refs = [erp_env.add_order() for _ in range(10)]
    stats = run_erp_delivery(settings=erp_env.settings)
    assert stats.sent == 10 and all(len(erp_env.erp_orders(r)) == 1 for r in refs)
    assert erp_env.sandbox.calls("compositeInterface") == 3  # 4 + 4 + 2
    assert erp_env.sandbox.calls("ModelADService") == 3 + 1  # a pre-check per batch, one product lookup
    assert stats.api_calls == 7


def test_erp_starts_no_call_once_its_lease_is_over(erp_env: ErpEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    """A lease shorter than the work: no ERP call starts for the rows (another worker may own them by now);
    they fall due when the lease ends and the next run sends them once."""
    from oms_bridge.erp import delivery

    ext = erp_env.add_order()
    with monkeypatch.context() as patched:
        patched.setattr(delivery, "_lease_seconds", lambda session, sizes, limit: 0.001)
        short = run_erp_delivery(settings=erp_env.settings)
    assert short.details["lease_ran_out"] == 1 and erp_env.sandbox.calls() == 0
    assert run_erp_delivery(settings=erp_env.settings, now=utcnow() + timedelta(seconds=5)).sent == 1
    assert len(erp_env.erp_orders(ext)) == 1


def test_erp_batch_records_each_order_on_its_own_row_and_drops_only_the_superseded_one(erp_env: ErpEnv) -> None:
    """The outcomes of a batch are recorded together (one read of the leased rows): each row still gets its own
    C_Order, a bad order is held on its own row, and an order re-armed during the composite keeps its new version."""
    erp_env.sandbox.db.add_product("NO-PRICE-1", "Unpriced thing", None, product_id=5000)
    good1, changed, good2 = erp_env.add_order(), erp_env.add_order(), erp_env.add_order()
    bad = erp_env.add_order(lines=[("TEA-BLACK-100", 1, "360"), ("NO-PRICE-1", 1, "10")])

    def marketplace_changes_order(service: str) -> None:
        if service == "compositeInterface":
            erp_env.change_status(changed, "shipped")

    erp_env.sandbox.on_request = marketplace_changes_order
    stats = run_erp_delivery(settings=erp_env.settings, batch_size=10)
    erp_env.sandbox.on_request = None
    assert erp_env.sandbox.calls("compositeInterface") == 1
    assert (stats.sent, stats.held, stats.details["superseded"]) == (3, 1, 1)  # the superseded one was sent too
    for ext in (good1, good2):
        [erp] = erp_env.erp_orders(ext)
        row = erp_env.delivery(ext)
        assert row.state == "sent" and (row.erp_record_id, row.erp_document_no) == (erp["C_Order_ID"],
                                                                                    erp["DocumentNo"])
    assert erp_env.delivery(bad).state == "held" and erp_env.delivery(bad).hold_code == "price_list:NO-PRICE-1@shop-a"
    row = erp_env.delivery(changed)
    assert row.state == "pending" and row.order_version == 2 and row.erp_record_id is None
    # the next run finds the superseded order's C_Order by its reference instead of creating a second one
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    [erp] = erp_env.erp_orders(changed)
    assert erp_env.delivery(changed).erp_record_id == erp["C_Order_ID"]
    assert erp_env.sandbox.calls("compositeInterface") == 1


def test_erp_lost_answer_to_a_batch_is_resolved_by_reading_the_erp(erp_env: ErpEnv) -> None:
    """The ERP commits a whole batch and the answer is lost: nothing is sent again; the next run's pre-check reads
    the ERP and records every order's own C_Order."""
    refs = [erp_env.add_order() for _ in range(4)]
    erp_env.sandbox.drop_responses_after_commit(1)
    first = run_erp_delivery(settings=erp_env.settings, batch_size=4)
    assert first.failed == 4 and {erp_env.delivery(r).state for r in refs} == {"retry"}
    second = run_erp_delivery(settings=erp_env.settings, batch_size=4, now=utcnow() + timedelta(hours=2))
    assert second.sent == 4 and erp_env.sandbox.calls("compositeInterface") == 1
    for ext in refs:
        [erp] = erp_env.erp_orders(ext)
        row = erp_env.delivery(ext)
        assert row.state == "sent" and row.erp_record_id == erp["C_Order_ID"]
        assert row.external_ref == "already in the ERP (found by POReference)"


def test_erp_answer_that_does_not_fit_the_wsdl_is_a_lost_answer_not_a_result(erp_env: ErpEnv,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Answers are read with lxml after validation against the server's WSDL schema: a RecordID that is no xsd:int
    is never taken as a result; the orders wait as after a lost answer and the pre-check reads the ERP."""
    import sandboxes.idempiere.server as sandbox_module

    real_envelope = sandbox_module._envelope
    monkeypatch.setattr(sandbox_module, "_envelope",
                        lambda payload: real_envelope(payload).replace(b'RecordID="', b'RecordID="x'))
    refs = [erp_env.add_order() for _ in range(2)]
    first = run_erp_delivery(settings=erp_env.settings)
    row = erp_env.delivery(refs[0])
    assert first.failed == 2 and row.state == "retry" and row.erp_record_id is None
    assert "does not fit the server's WSDL" in row.last_error and "RecordID" in row.last_error
    assert all(len(erp_env.erp_orders(r)) == 1 for r in refs)  # the ERP did commit them
    monkeypatch.setattr(sandbox_module, "_envelope", real_envelope)
    assert run_erp_delivery(settings=erp_env.settings, now=utcnow() + timedelta(hours=2)).sent == 2
    assert erp_env.sandbox.calls("compositeInterface") == 1
    assert [erp_env.delivery(r).erp_record_id for r in refs] == [erp_env.erp_orders(r)[0]["C_Order_ID"] for r in refs]


@pytest.mark.parametrize(("lease_batches", "leases"), [(1, 4), (3, 2)])
def test_erp_one_lease_covers_erp_lease_batches_composites(erp_env: ErpEnv, monkeypatch: pytest.MonkeyPatch,
                                                            lease_batches: int, leases: int) -> None:
    """The rows of ``erp_lease_batches`` composites are leased, loaded and recorded together (the last lease
    finds nothing); every composite still carries ``batch_size`` orders."""
    from oms_bridge.erp import delivery
    from oms_bridge.store import outbox

    calls: list[int] = []
    lease_due = outbox.lease_due

    def counting_lease_due(*args, **kwargs):
        found = lease_due(*args, **kwargs)
        calls.append(len(found))
        return found

    monkeypatch.setattr(delivery.outbox, "lease_due", counting_lease_due)
    settings = replace(erp_env.settings, erp_lease_batches=lease_batches)
    refs = [erp_env.add_order() for _ in range(6)]
    stats = run_erp_delivery(settings=settings, batch_size=2)
    assert stats.sent == 6 and erp_env.sandbox.calls("compositeInterface") == 3
    assert len(calls) == leases and calls[-1] == 0
    assert all(erp_env.delivery(r).erp_record_id == erp_env.erp_orders(r)[0]["C_Order_ID"] for r in refs)


def test_erp_lost_answer_in_the_middle_of_a_lease_keeps_the_earlier_outcomes(erp_env: ErpEnv) -> None:
    """One lease, three composites; the second one's answer is lost after the ERP committed. The first composite's
    orders are recorded as sent, the second's wait for a retry, the third's were not tried (the connection stops
    for the run). The next run reads the ERP first: nothing is created twice."""
    settings = replace(erp_env.settings, erp_lease_batches=3)
    refs = [erp_env.add_order() for _ in range(6)]
    composites = 0

    def lose_the_second_answer(service: str) -> None:
        nonlocal composites
        if service == "compositeInterface":
            composites += 1
            if composites == 2:
                erp_env.sandbox.drop_responses_after_commit(1)

    erp_env.sandbox.on_request = lose_the_second_answer
    first = run_erp_delivery(settings=settings, batch_size=2)
    erp_env.sandbox.on_request = None
    assert (first.sent, first.failed, first.details["not_tried"]) == (2, 2, 2)
    assert [erp_env.delivery(r).state for r in refs] == ["sent", "sent", "retry", "retry", "pending", "pending"]
    second = run_erp_delivery(settings=settings, batch_size=2, now=utcnow() + timedelta(hours=2))
    assert second.sent == 4 and erp_env.sandbox.calls("compositeInterface") == 3
    for ext in refs:
        [erp] = erp_env.erp_orders(ext)
        assert erp_env.delivery(ext).erp_record_id == erp["C_Order_ID"]


def test_erp_text_xml_cannot_hold_is_dropped_not_a_batch_that_never_goes(erp_env: ErpEnv) -> None:
    """A control character in a buyer's address (pasted from a spreadsheet, say) cannot be written in XML 1.0.
    It used to fail the whole batch on every attempt until it went dead; now the character is left out."""
    from sqlalchemy import update

    from oms_bridge.store.models import Order
    plain = erp_env.add_order()
    odd = erp_env.add_order()
    with session_scope(erp_env.settings) as s:
        s.execute(update(Order).where(Order.external_id == odd).values(
            ship_address1="復興南路12號\x0b3樓\x01", buyer_name="陳\x00怡君"))
    stats = run_erp_delivery(settings=erp_env.settings, batch_size=5)
    assert (stats.sent, stats.failed) == (2, 0)
    assert len(erp_env.erp_orders(plain)) == 1 and len(erp_env.erp_orders(odd)) == 1
    assert erp_env.sandbox.records("C_Location", Address1="復興南路12號3樓")
    assert assert_bodies_valid(erp_env.sandbox) >= 1
