"""ERP delivery against the iDempiere sandbox: every delivery state, over real SOAP (zeep)."""

from __future__ import annotations

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
