"""``oms-bridge erp ...`` and ``oms-bridge sku ...`` against the sandbox (CliRunner, real SOAP)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from erp_helpers import ErpEnv

from oms_bridge.cli.main import cli
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.settings import Settings
from sandboxes.idempiere.server import ErpSandbox


def test_erp_connection_add_show_list_masks_password(sqlite_settings: Settings, erp_sandbox: ErpSandbox) -> None:
    f = erp_sandbox.connection_fields()
    runner = CliRunner()
    result = runner.invoke(cli, ["erp", "connection", "add", "gw", "--url", f["url"], "--user", f["username"],
                                 "--client-id", "11", "--role-id", "50004", "--org-id", "11", "--warehouse-id", "103",
                                 "--stage", "0", "--password-stdin", "--settings", '{"cancel_doc_action": "CL"}'],
                           input="WebService-secret\n")
    assert result.exit_code == 0, result.output
    assert "WebService-secret" not in result.output
    shown = runner.invoke(cli, ["erp", "connection", "show", "gw", "--json"])
    data = json.loads(shown.output)
    assert data["password"] == "****" and data["settings"]["cancel_doc_action"] == "CL"
    listed = runner.invoke(cli, ["erp", "connection", "list"])
    assert "gw" in listed.output and "secret" not in listed.output
    bad = runner.invoke(cli, ["erp", "connection", "update", "gw", "--settings", '{"cancel_doc_action": "XX"}'])
    assert bad.exit_code == 1 and "cancel_doc_action must be VO or CL" in bad.output
    unknown = runner.invoke(cli, ["erp", "connection", "update", "gw", "--settings", '{"colour": 1}'])
    assert unknown.exit_code == 1 and "unknown ERP setting(s) colour" in unknown.output


def test_erp_check_all_configured(erp_env: ErpEnv) -> None:
    result = CliRunner().invoke(cli, ["erp", "check"])
    assert result.exit_code == 0, result.output
    assert "[MISSING]" not in result.output
    assert "Everything the bridge needs is configured." in result.output
    assert erp_env.sandbox.orders() == []  # the probe never saves anything
    assert len(erp_env.sandbox.records("C_BPartner")) == 1


def test_erp_check_prints_checklist_of_missing_setup_then_rearms(erp_env: ErpEnv) -> None:
    types = erp_env.sandbox.service_types
    types["OmsCreateOrderLine"].roles.clear()
    del types["OmsCreateOrder"].inputs["POReference"]
    del types["OmsCreateOrder"].inputs["C_OrderSource_ID"]
    del types["OmsCompleteOrder"]
    del types["OmsQueryProduct"].params["Filter"]
    ext = erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    assert erp_env.delivery(ext).state == "held"

    result = CliRunner().invoke(cli, ["erp", "check", "--connection", "gw"])
    assert result.exit_code == 1
    out = result.output
    assert '[MISSING] OmsCreateOrderLine' in out
    assert 'Web Service Type "OmsCreateOrderLine" > tab Web Service Type Access: add role 50004' in out
    assert 'Web Service Type "OmsCreateOrder" > tab Input (WS_WebServiceFieldInput): add column POReference.' in out
    assert 'add column C_OrderSource_ID.' in out
    assert 'create Web Service Type "OmsCompleteOrder"' in out
    assert 'Web Service Type "OmsQueryProduct" > tab Web Service Parameters (WS_WebService_Para)' in out
    assert "[ok]      OmsCreateBPartner" in out
    assert erp_env.sandbox.orders() == []

    # the admin fixes it: the check passes and re-arms the held order
    fresh = ErpSandbox().service_types
    for name in ("OmsCreateOrderLine", "OmsCreateOrder", "OmsCompleteOrder", "OmsQueryProduct"):
        types[name] = fresh[name]
    again = CliRunner().invoke(cli, ["erp", "check"])
    assert again.exit_code == 0, again.output
    assert "1 held order(s) re-armed" in again.output
    assert run_erp_delivery(settings=erp_env.settings).sent == 1


def test_erp_check_reports_login_failure(erp_env: ErpEnv) -> None:
    erp_env.update_connection(password="nope")
    erp_env.add_order()
    result = CliRunner().invoke(cli, ["erp", "check"])
    assert result.exit_code == 1
    assert "Error login - User invalid" in result.output and "nope" not in result.output
    # the refusal is remembered: the next delivery does not log in with the same data again
    assert run_erp_delivery(settings=erp_env.settings).fetched == 0 and erp_env.sandbox.calls() == 1


def test_erp_sku_import_reports_bad_rows_and_imports_good_ones(erp_env: ErpEnv, tmp_path: Path) -> None:
    ext = erp_env.add_order(lines=[("NEW-1", 1, "23.75")])
    run_erp_delivery(settings=erp_env.settings)
    assert erp_env.delivery(ext).hold_code == "missing_sku:NEW-1"
    csv_file = tmp_path / "map.csv"
    csv_file.write_text("sku,m_product_id,m_product_value,channel\n"
                        "NEW-1,128,,\n"
                        ",129,,\n"
                        "BAD-2,abc,,\n"
                        "BAD-3,,,\n"
                        "BAD-4,128,Oak Tree,\n"
                        "BAD-5,128,,no-such-shop\n"
                        "OK-6,,Oak Tree,shop-a\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["sku", "import", str(csv_file)])
    assert result.exit_code == 1
    out = result.output
    assert "line 3: sku is empty" in out
    assert "line 4: SKU BAD-2: m_product_id 'abc' is not a positive whole number" in out
    assert "line 5: SKU BAD-3: no m_product_id or m_product_value" in out
    assert "line 6: SKU BAD-4: give m_product_id or m_product_value, not both" in out
    assert "line 7: SKU BAD-5: unknown channel 'no-such-shop'" in out
    assert "2 mapping(s) imported, 5 row(s) skipped; products checked in the ERP; 1 held order(s) re-armed" in out
    listed = CliRunner().invoke(cli, ["sku", "list", "--json"])
    assert {r["sku"] for r in json.loads(listed.output)} == {"NEW-1", "OK-6"}
    assert run_erp_delivery(settings=erp_env.settings).sent == 1


def test_erp_sku_import_bad_header(erp_env: ErpEnv, tmp_path: Path) -> None:
    csv_file = tmp_path / "map.csv"
    csv_file.write_text("code,product\nA,1\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["sku", "import", str(csv_file)])
    assert result.exit_code == 1 and "header must be sku,m_product_id or sku,m_product_value" in result.output


def test_erp_status_and_retry_channel(erp_env: ErpEnv) -> None:
    erp_env.add_order(lines=[("ZZZ", 1, "1")])
    erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    status = CliRunner().invoke(cli, ["erp", "status", "--json"])
    data = json.loads(status.output)
    assert data["states"] == {"held": 1, "sent": 1}
    assert data["held_reasons"][0]["reason"].startswith("SKU ZZZ has no ERP product")
    retry = CliRunner().invoke(cli, ["erp", "retry", "--channel", "shop-a"])
    assert "1 ERP delivery re-armed" in retry.output
    none = CliRunner().invoke(cli, ["erp", "retry"])
    assert none.exit_code == 1 and "exactly one of" in none.output


def test_erp_check_setup_guide_uses_connection_names(erp_env: ErpEnv) -> None:
    erp_env.update_connection(settings_json='{"service_types": {"order": "MyCreateOrder"}}')
    result = CliRunner().invoke(cli, ["erp", "check", "--setup-guide"])
    assert result.exit_code == 0, result.output
    assert 'Web Service Type "MyCreateOrder": web service ModelADService, method createData, table C_Order' in \
        result.output
    assert "Web Service Type Access: role 50004, Read Write." in result.output
    assert "Input columns (WS_WebServiceFieldInput): Value (Is Identifier = Y), Name, IsCustomer." in result.output
    assert erp_env.sandbox.calls() == 0  # the guide never contacts the server


def test_erp_connection_password_from_env_and_prompt(sqlite_settings: Settings, erp_sandbox: ErpSandbox,
                                                     monkeypatch) -> None:
    f = erp_sandbox.connection_fields()
    base = ["--url", f["url"], "--user", "WebService", "--client-id", "11", "--role-id", "50004", "--org-id", "11",
            "--warehouse-id", "103", "--stage", "0"]
    runner = CliRunner()
    monkeypatch.setenv("OMS_BRIDGE_ERP_PASSWORD", "WebService")
    assert runner.invoke(cli, ["erp", "connection", "add", "env", *base]).exit_code == 0
    monkeypatch.delenv("OMS_BRIDGE_ERP_PASSWORD")
    prompted = runner.invoke(cli, ["erp", "connection", "add", "prompt", *base], input="WebService\n")
    assert prompted.exit_code == 0 and "WebService\n" not in prompted.output.split("password", 1)[-1]
    for name in ("env", "prompt"):
        result = runner.invoke(cli, ["erp", "check", "--connection", name])
        assert result.exit_code == 0, result.output
    missing = runner.invoke(cli, ["erp", "connection", "add", "x", "--url", f["url"]])
    assert missing.exit_code == 1 and "missing --user, --client-id" in missing.output


def test_erp_check_unreachable_server(erp_env: ErpEnv) -> None:
    erp_env.update_connection(url="http://127.0.0.1:9/ADInterface/services", settings_json='{"timeout_seconds": 1}')
    result = CliRunner().invoke(cli, ["erp", "check"])
    assert result.exit_code == 1
    assert "[MISSING] reach http://127.0.0.1:9/ADInterface/services" in result.output
    assert "cannot load WSDL" in result.output and "Check the URL and the server." in result.output


def test_erp_connection_update_password_lifts_a_refused_login(erp_env: ErpEnv) -> None:
    erp_env.update_connection(password="old-wrong")
    ext = erp_env.add_order()
    run_erp_delivery(settings=erp_env.settings)
    assert erp_env.delivery(ext).state == "pending"
    result = CliRunner().invoke(cli, ["erp", "connection", "update", "gw", "--password-stdin"], input="WebService\n")
    assert result.exit_code == 0 and "Its refused login is lifted" in result.output
    assert "WebService" not in result.output
    assert run_erp_delivery(settings=erp_env.settings).sent == 1


def test_erp_check_compares_po_reference_length_with_the_erp(erp_env: ErpEnv) -> None:
    """erp check reads AD_Column.FieldLength of C_Order.POReference (20 in iDempiere) and compares the setting."""
    runner = CliRunner()
    ok = runner.invoke(cli, ["erp", "check"])
    assert ok.exit_code == 0 and "[ok]      C_Order.POReference length: 20 characters" in ok.output

    erp_env.update_connection(settings_json=json.dumps({"timeout_seconds": 5, "po_reference_length": 30}))
    too_long = runner.invoke(cli, ["erp", "check"])
    assert too_long.exit_code == 1
    assert "[MISSING] C_Order.POReference length -- iDempiere keeps 20 characters but po_reference_length is 30" \
        in too_long.output
    assert """--settings '{"po_reference_length": 20}'""" in too_long.output

    erp_env.sandbox.db.set_field_length("C_Order", "POReference", 40)  # an installation that widened the column
    wider = runner.invoke(cli, ["erp", "check"])
    assert wider.exit_code == 0 and "C_Order.POReference length: 40 characters (po_reference_length 30" in wider.output
    erp_env.update_connection(settings_json=json.dumps({"timeout_seconds": 5, "po_reference_length": 40}))
    ext = erp_env.add_order("5f8d0d55b54764421b7156c3")
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext)[0]["POReference"] == f"{erp_env.channel_id}-5f8d0d55b54764421b7156c3"

    del erp_env.sandbox.service_types["OmsQueryColumn"]  # a role that may not read the dictionary
    unknown = runner.invoke(cli, ["erp", "check"])
    assert unknown.exit_code == 0, unknown.output
    assert "[?]       C_Order.POReference length -- not read from iDempiere (Service type OmsQueryColumn not " \
           "configured); the bridge assumes po_reference_length = 40" in unknown.output


def _skus() -> set[str]:
    return {r["sku"] for r in json.loads(CliRunner().invoke(cli, ["sku", "list", "--json"]).output)}


def test_erp_sku_map_checks_the_product_in_the_erp_before_saving(erp_env: ErpEnv) -> None:
    """`sku map` looks the product up as the web admin does (erp.sku_maps.verify): a typo is refused before it
    re-queues the held orders; a product the ERP has is saved with its name and re-arms them."""
    ext = erp_env.add_order(lines=[("NEW-1", 1, "23.75")])
    run_erp_delivery(settings=erp_env.settings)
    held = erp_env.delivery(ext)
    assert held.hold_code == "missing_sku:NEW-1"
    runner = CliRunner()

    typo = runner.invoke(cli, ["sku", "map", "NEW-1", "--product", "1300"])
    assert typo.exit_code == 1
    assert "SKU NEW-1: iDempiere (gw) has no product 1300; check the id or search key (nothing was saved, no " \
           "order was re-queued)" in typo.output
    assert "--no-check" not in typo.output  # the ERP answered: mapping it anyway would only hold the orders again
    as_json = runner.invoke(cli, ["sku", "map", "NEW-1", "--value", "Elm Tre", "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["saved"] is False and data["checked"] is True and data["cause"] == "not_found"
    assert data["problem"].startswith("SKU NEW-1: iDempiere (gw) has no product value Elm Tre;")
    assert (data["sku"], data["m_product_value"], data["rearmed"]) == ("NEW-1", "Elm Tre", 0)
    assert _skus() == set()
    assert erp_env.delivery(ext).state == "held" and erp_env.delivery(ext).attempts == held.attempts

    found = runner.invoke(cli, ["sku", "map", "NEW-1", "--product", "128"])
    assert found.exit_code == 0, found.output
    assert found.output.strip() == ("SKU NEW-1 → product 128; iDempiere has product 128 (Azalea Bush: Azalea Bush); "
                                    "1 held order(s) re-armed")
    assert erp_env.delivery(ext).state == "pending"
    by_value = runner.invoke(cli, ["sku", "map", "OAK-1", "--value", "Oak Tree", "--channel", "shop-a", "--json"])
    assert by_value.exit_code == 0, by_value.output
    data = json.loads(by_value.stdout)
    assert data["saved"] is True and data["checked"] is True and data["rearmed"] == 0
    assert data["erp_product"] == {"m_product_id": 130, "value": "Oak Tree", "name": "Oak Tree"}
    assert _skus() == {"NEW-1", "OAK-1"}
    assert run_erp_delivery(settings=erp_env.settings).sent == 1
    assert erp_env.erp_orders(ext)[0]["lines"][0]["M_Product_ID"] == 128


def test_erp_sku_map_refuses_when_the_erp_cannot_be_asked_and_no_check_saves_unchecked(erp_env: ErpEnv) -> None:
    ext = erp_env.add_order(lines=[("NEW-1", 1, "23.75")])
    run_erp_delivery(settings=erp_env.settings)
    erp_env.update_connection(url="http://127.0.0.1:9/ADInterface/services", settings_json='{"timeout_seconds": 1}')
    runner = CliRunner()

    down = runner.invoke(cli, ["sku", "map", "NEW-1", "--product", "128", "--channel", "shop-a"])
    assert down.exit_code == 1
    assert "Error: SKU NEW-1: ERP connection gw could not be asked: cannot load WSDL http://127.0.0.1:9/" \
        in down.output and "Connection refused" in down.output and "nothing was saved" in down.output
    assert "to map it anyway, unchecked: oms-bridge sku map NEW-1 --product 128 --channel shop-a --no-check" \
        in down.output
    as_json = runner.invoke(cli, ["sku", "map", "NEW-1", "--value", "Azalea Bush", "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert data["saved"] is False and data["cause"] == "unreachable"
    assert data["problem"].endswith("oms-bridge sku map NEW-1 --value 'Azalea Bush' --no-check")
    assert _skus() == set() and erp_env.delivery(ext).state == "held"

    unchecked = runner.invoke(cli, ["sku", "map", "NEW-1", "--product", "128", "--no-check"])
    assert unchecked.exit_code == 0, unchecked.output
    assert unchecked.output.strip() == ("SKU NEW-1 → product 128; not checked in the ERP (--no-check); "
                                        "1 held order(s) re-armed")
    assert erp_env.delivery(ext).state == "pending"
    again = runner.invoke(cli, ["sku", "map", "NEW-1", "--product", "129", "--no-check", "--json"])
    data = json.loads(again.stdout)
    assert again.exit_code == 0 and data["saved"] is True and data["checked"] is False
    assert data["erp_product"] is None and data["m_product_id"] == 129
    assert _skus() == {"NEW-1"}


def test_erp_sku_map_without_an_erp_connection_says_how_to_map_anyway(sqlite_settings: Settings) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    refused = runner.invoke(cli, ["sku", "map", "ABC-1", "--value", "ABC-1-ERP"])
    assert refused.exit_code == 1
    assert "SKU ABC-1: no ERP connection to check the product against" in refused.output
    assert "oms-bridge sku map ABC-1 --value ABC-1-ERP --no-check" in refused.output
    assert _skus() == set()
    saved = runner.invoke(cli, ["sku", "map", "ABC-1", "--value", "ABC-1-ERP", "--no-check"])
    assert saved.exit_code == 0 and "not checked in the ERP" in saved.output
    assert _skus() == {"ABC-1"}
    zero = runner.invoke(cli, ["sku", "map", "ABC-2", "--product", "0", "--no-check"])
    assert zero.exit_code == 2 and "--product" in zero.output  # a product id is a positive whole number


def _product_queries(sandbox: ErpSandbox) -> int:
    """The SOAP requests sent (POSTs to ModelADService: each one queryData; the WSDL fetches are GETs)."""
    return sum(1 for method, path in sandbox.request_log if method == "POST" and path.endswith("/ModelADService"))


def test_erp_sku_import_checks_every_product_and_saves_only_the_rows_the_erp_has(erp_env: ErpEnv,
                                                                                 tmp_path: Path) -> None:
    """`sku import` checks as `sku map` and the web import (erp.sku_maps.verify): rows whose product iDempiere
    does not have are named with their line and skipped, the others are saved and re-arm their held orders."""
    found_ext = erp_env.add_order(lines=[("NEW-1", 1, "23.75")])
    typo_ext = erp_env.add_order(lines=[("NEW-2", 1, "50")])
    run_erp_delivery(settings=erp_env.settings)
    typo_attempts = erp_env.delivery(typo_ext).attempts
    csv_file = tmp_path / "skus.csv"
    csv_file.write_text("sku,m_product_id,m_product_value,channel\n"
                        "NEW-1,128,,\n"
                        "NEW-2,1300,,\n"
                        "ELM-1,,Elm Tree,shop-a\n"
                        "ELM-2,,Elm Tre,\n", encoding="utf-8")
    runner = CliRunner()
    result = runner.invoke(cli, ["sku", "import", str(csv_file)])
    assert result.exit_code == 1
    assert "line 3: SKU NEW-2: iDempiere (gw) has no product 1300; check the id or search key (nothing was saved, " \
           "no order was re-queued)" in result.stderr
    assert "line 5: SKU ELM-2: iDempiere (gw) has no product value Elm Tre;" in result.stderr
    assert "--no-check" not in result.output  # the ERP answered: importing them anyway would only hold orders again
    assert result.stdout.strip() == "2 mapping(s) imported, 2 row(s) skipped; products checked in the ERP; " \
                                    "1 held order(s) re-armed"
    assert _skus() == {"NEW-1", "ELM-1"}
    assert erp_env.delivery(found_ext).state == "pending"
    assert erp_env.delivery(typo_ext).state == "held" and erp_env.delivery(typo_ext).attempts == typo_attempts

    as_json = runner.invoke(cli, ["sku", "import", str(csv_file), "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert (data["checked"], data["imported"], data["skipped"], data["rearmed"]) == (True, 2, 2, 0)
    assert data["problems"][0].startswith("line 3: SKU NEW-2: iDempiere (gw) has no product 1300;")
    rows = {r["sku"]: r for r in data["rows"]}
    assert rows["NEW-1"] == {"line": 2, "sku": "NEW-1", "m_product_id": 128, "m_product_value": None, "channel": None,
                             "saved": True, "rearmed": 0,
                             "erp_product": {"m_product_id": 128, "value": "Azalea Bush", "name": "Azalea Bush"}}
    assert rows["ELM-1"]["channel"] == "shop-a" and rows["ELM-1"]["erp_product"]["m_product_id"] == 129
    assert (rows["NEW-2"]["line"], rows["NEW-2"]["saved"], rows["NEW-2"]["cause"]) == (3, False, "not_found")
    assert rows["NEW-2"]["problem"].startswith("SKU NEW-2: iDempiere (gw) has no product 1300;")
    assert rows["ELM-2"]["cause"] == "not_found" and "erp_product" not in rows["ELM-2"]

    csv_file.write_text("sku,m_product_id,m_product_value\nNEW-2,129,\n", encoding="utf-8")  # corrected
    fixed = runner.invoke(cli, ["sku", "import", str(csv_file)])
    assert fixed.exit_code == 0, fixed.output
    assert fixed.output.strip() == "1 mapping(s) imported, 0 row(s) skipped; products checked in the ERP; " \
                                   "1 held order(s) re-armed"
    assert run_erp_delivery(settings=erp_env.settings).sent == 2


def test_erp_sku_import_asks_for_a_product_shared_by_many_rows_once(erp_env: ErpEnv, tmp_path: Path) -> None:
    """verify sends one queryData per connection for every id and one for every search key of the file."""
    csv_file = tmp_path / "skus.csv"
    csv_file.write_text("sku,m_product_id,m_product_value,channel\n" +
                        "".join(f"AZ-{i},128,,\n" for i in range(40)) +
                        "".join(f"OAK-{i},,Oak Tree,shop-a\n" for i in range(20)) +
                        "ELM-1,129,,shop-a\n", encoding="utf-8")
    erp_env.sandbox.reset_calls()
    result = CliRunner().invoke(cli, ["sku", "import", str(csv_file), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["imported"] == 61 and data["skipped"] == 0
    assert {r["erp_product"]["m_product_id"] for r in data["rows"]} == {128, 129, 130}
    assert _product_queries(erp_env.sandbox) == 2  # 128 and 129 in one query, Oak Tree in the other
    assert len(_skus()) == 61


def test_erp_sku_import_refuses_when_the_erp_cannot_be_asked_and_no_check_imports_unchecked(
        erp_env: ErpEnv, tmp_path: Path) -> None:
    ext = erp_env.add_order(lines=[("NEW-1", 1, "23.75")])
    run_erp_delivery(settings=erp_env.settings)
    erp_env.update_connection(url="http://127.0.0.1:9/ADInterface/services", settings_json='{"timeout_seconds": 1}')
    csv_file = tmp_path / "skus.csv"
    csv_file.write_text("sku,m_product_id,m_product_value,channel\n"
                        "NEW-1,128,,\n"
                        "OAK-1,,Oak Tree,shop-a\n"
                        ",129,,\n", encoding="utf-8")
    runner = CliRunner()

    down = runner.invoke(cli, ["sku", "import", str(csv_file)])
    assert down.exit_code == 1
    assert "line 4: sku is empty" in down.stderr
    message = down.stderr.strip().splitlines()[-1]
    assert message.startswith(f"Error: {csv_file}: ERP connection gw could not be asked: cannot load WSDL "
                              "http://127.0.0.1:9/")
    assert "Connection refused" in message and "nothing was saved (2 of 2 row(s) could not be checked)" in message
    assert message.endswith(f"; to import it anyway, unchecked: oms-bridge sku import {csv_file} --no-check")
    as_json = runner.invoke(cli, ["sku", "import", str(csv_file), "--json"])
    assert as_json.exit_code == 1
    data = json.loads(as_json.stdout)
    assert (data["checked"], data["imported"], data["skipped"], data["cause"]) == (True, 0, 3, "unreachable")
    assert data["problem"].endswith(f"oms-bridge sku import {csv_file} --no-check")
    assert [(r["sku"], r["saved"], r["cause"]) for r in data["rows"]] == [("NEW-1", False, "unreachable"),
                                                                         ("OAK-1", False, "unreachable")]
    assert _skus() == set() and erp_env.delivery(ext).state == "held"

    unchecked = runner.invoke(cli, ["sku", "import", str(csv_file), "--no-check"])
    assert unchecked.exit_code == 1  # the row without a SKU is still skipped
    assert unchecked.stdout.strip() == ("2 mapping(s) imported, 1 row(s) skipped; not checked in the ERP "
                                        "(--no-check); 1 held order(s) re-armed")
    assert _skus() == {"NEW-1", "OAK-1"} and erp_env.delivery(ext).state == "pending"
    csv_file.write_text("sku,m_product_id\nNEW-1,129\n", encoding="utf-8")
    again = runner.invoke(cli, ["sku", "import", str(csv_file), "--no-check", "--json"])
    assert again.exit_code == 0, again.output
    data = json.loads(again.stdout)
    assert (data["checked"], data["imported"], data["skipped"]) == (False, 1, 0)
    assert data["rows"][0]["saved"] is True and data["rows"][0]["erp_product"] is None
    assert "cause" not in data


def test_erp_sku_import_without_an_erp_connection_says_how_to_import_anyway(sqlite_settings: Settings,
                                                                             tmp_path: Path) -> None:
    runner = CliRunner()
    assert runner.invoke(cli, ["init"]).exit_code == 0
    csv_file = tmp_path / "my skus.csv"
    csv_file.write_text("sku,m_product_value\nABC-1,ABC-1-ERP\n", encoding="utf-8")
    refused = runner.invoke(cli, ["sku", "import", str(csv_file)])
    assert refused.exit_code == 1
    assert "no ERP connection to check the product against" in refused.output
    assert refused.output.strip().endswith(f"oms-bridge sku import '{csv_file}' --no-check")
    assert _skus() == set()
    saved = runner.invoke(cli, ["sku", "import", str(csv_file), "--no-check"])
    assert saved.exit_code == 0 and "not checked in the ERP" in saved.output
    assert _skus() == {"ABC-1"}
