"""Acceptance QA: an ERP admin's journey through the CLI, and regressions for what that journey found.

Everything an admin types goes through ``oms-bridge`` (click's CliRunner) against real sandboxes on
127.0.0.1: the Shopee sandbox (OAuth consent, orders over HTTP) and the iDempiere SOAP sandbox.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from channels.authorization import complete_authorization, start_authorization
from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings
from sandboxes.idempiere.server import ErpSandbox
from sandboxes.shopee import ShopeeSandbox

RENAMED = "TEA-BLACK-100"  # the ERP knows this SKU under another search key, so its orders are held


def oms(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = oms(*args, input=input)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def shopee() -> ShopeeSandbox:
    sandbox = ShopeeSandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def erp() -> ErpSandbox:
    sandbox = ErpSandbox().start()
    with sandbox.db.lock:
        sandbox.db.conn.execute("UPDATE M_Product SET Value = ? WHERE Value = ?", (RENAMED + "-ERP", RENAMED))
    yield sandbox
    sandbox.stop()


def _configure(settings: Settings, shopee: ShopeeSandbox, erp: ErpSandbox) -> None:
    """platform add, channel add, OAuth consent, erp connection add, channel ERP mapping: all by CLI."""
    pf = shopee.platform_fields()
    ok("platform", "add", "shp", "--type", "shopee", "--host", pf["host"], "--app-id", pf["app_id"],
       "--secret-stdin", input=pf["app_secret"] + "\n")
    shop = shopee.add_shop()
    ok("channel", "add", "shop-a", "--platform", "shp", "--shop-id", shop["shop_id"])
    params = shopee.consent(start_authorization("shop-a", settings=settings), shop_id=shop["shop_id"])
    complete_authorization("shopee", params, settings=settings)  # what the /oauth/callback route runs
    f = erp.connection_fields()
    ok("erp", "connection", "add", "gw", "--url", f["url"], "--user", f["username"], "--client-id",
       str(f["client_id"]), "--role-id", str(f["role_id"]), "--org-id", str(f["org_id"]), "--warehouse-id",
       str(f["warehouse_id"]), "--stage", "0", "--password-stdin", input=f["password"] + "\n")
    mapping = ["--erp-connection", "gw"]
    for key, value in erp.channel_mapping().items():
        mapping += ["--" + key.replace("_", "-"), str(value)]
    ok("channel", "update", "shop-a", *mapping)
    end = datetime.now(UTC) - timedelta(minutes=5)
    shopee.generate_orders(shop["shop_id"], 12, start=end - timedelta(hours=3), end=end, status="paid")


def test_qa_admin_journey_shopee_to_erp_with_a_held_sku(sqlite_settings: Settings, shopee: ShopeeSandbox,
                                                        erp: ErpSandbox) -> None:
    _configure(sqlite_settings, shopee, erp)
    assert "getorder success" in ok("process", "run", "getorder", "--channel", "shop-a")
    stored = json.loads(ok("orders", "list", "--channel", "shop-a", "--json"))
    assert len(stored) == 12

    lines = {o["number"]: json.loads(ok("orders", "show", o["number"], "--json"))["lines"] for o in stored}
    with_renamed = {number for number, rows in lines.items() if any(ln["sku"] == RENAMED for ln in rows)}
    assert with_renamed and len(with_renamed) < len(stored)  # the seeded generator mixes SKUs

    first = ok("erp", "deliver")
    assert first.startswith("ERP delivery partial") and f"held {len(with_renamed)}" in first
    assert "why orders are held or failed: oms-bridge erp status" in first
    assert set(_erp_numbers(erp)) == {o["number"] for o in stored} - with_renamed
    assert f"{len(with_renamed):>5}  SKU {RENAMED} has no ERP product" in ok("erp", "status")
    assert f"{RENAMED}\t{len(with_renamed)} order(s)" in ok("sku", "unmapped")
    assert f"{len(with_renamed)} held order(s) re-armed" in ok("sku", "map", RENAMED, "--value", RENAMED + "-ERP")
    assert f"sent {len(with_renamed)}" in ok("erp", "deliver")
    assert "held" not in ok("erp", "status")
    numbers = [o["number"] for o in stored]
    assert sorted(_erp_numbers(erp)) == sorted(numbers)  # every order exactly once, none lost, none doubled
    assert len({o["POReference"] for o in erp.orders()}) == len(numbers)
    assert all(o["DocStatus"] == "CO" for o in erp.orders())
    # a second delivery run and a re-read change nothing
    ok("erp", "deliver")
    ok("process", "run", "getorder", "--channel", "shop-a")
    assert sorted(_erp_numbers(erp)) == sorted(numbers)


def _erp_numbers(erp: ErpSandbox) -> list[str]:
    """The marketplace order number of each C_Order, from the Description the bridge writes ("<number> (<channel>)
    ship to ..."; the POReference is the channel's reference, see docs/erp.md)."""
    return [o["Description"].split(" (shop-a) ", 1)[0] for o in erp.orders()]


def test_qa_sku_import_of_a_big5_file_is_a_clear_error(sqlite_settings: Settings, tmp_path: Path) -> None:
    csv_file = tmp_path / "skus.csv"
    csv_file.write_bytes("sku,m_product_value\n茶-1,TEA-1\n".encode("big5"))
    result = oms("sku", "import", str(csv_file))
    assert result.exit_code == 1
    assert "is not UTF-8 text" in result.output and "CSV UTF-8" in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "no SKU mappings" in ok("sku", "list")
    csv_file.write_text("sku,m_product_value\n茶-1,TEA-1\n", encoding="utf-8")
    assert "1 mapping(s) imported" in ok("sku", "import", str(csv_file), "--no-check")  # no ERP connection here


def _add_connection(name: str, url: str) -> Result:
    return oms("erp", "connection", "add", name, "--url", url, "--user", "WebService", "--client-id", "11",
               "--role-id", "50004", "--org-id", "11", "--warehouse-id", "103", "--password-stdin", input="pw\n")


def test_qa_erp_connection_url_must_be_http(sqlite_settings: Settings) -> None:
    bad = _add_connection("gw", "ftp://erp.example.com/ADInterface/services")
    assert bad.exit_code == 1 and "is not an http(s) URL" in bad.output
    assert "no ERP connections" in ok("erp", "connection", "list")
    assert _add_connection("gw", "https://erp.example.com:8443/ADInterface/services/").exit_code == 0
    bad = oms("erp", "connection", "update", "gw", "--url", "erp.example.com")
    assert bad.exit_code == 1 and "is not an http(s) URL" in bad.output
    shown = json.loads(ok("erp", "connection", "show", "gw", "--json"))
    assert shown["url"] == "https://erp.example.com:8443/ADInterface/services"


def test_qa_erp_connection_remove_refuses_while_a_channel_uses_it(sqlite_settings: Settings) -> None:
    assert _add_connection("gw", "https://erp.example.com/ADInterface/services").exit_code == 0
    assert _add_connection("typo", "https://erp.example.com/ADInterface/services").exit_code == 0
    ok("platform", "add", "momo", "--type", "momo", "--host", "https://scmapi.momoshop.com.tw")
    ok("channel", "add", "m1", "--platform", "momo", "--shop-id", "1", "--erp-connection", "gw")
    refused = oms("erp", "connection", "remove", "gw")
    assert refused.exit_code == 1 and "used by channel(s) m1" in refused.output
    assert "removed" in ok("erp", "connection", "remove", "typo")
    listed = ok("erp", "connection", "list")
    assert "gw" in listed and "typo" not in listed
    missing = oms("erp", "connection", "remove", "typo")
    assert missing.exit_code == 1 and "no ERP connection named 'typo'" in missing.output


def test_qa_platform_add_note_only_after_success(sqlite_settings: Settings) -> None:
    bad = oms("platform", "add", "x", "--type", "lazada", "--host", "https://x.example")
    assert bad.exit_code == 1 and "unknown platform type 'lazada'" in bad.output
    assert "note:" not in bad.output
    good = oms("platform", "add", "momo", "--type", "momo", "--host", "https://scmapi.momoshop.com.tw")
    assert good.exit_code == 0 and "note: no app secret stored" in good.output


def test_qa_orders_list_refuses_an_unknown_status(sqlite_settings: Settings) -> None:
    result = oms("orders", "list", "--status", "payed")
    assert result.exit_code == 2 and "'payed' is not one of" in result.output and "ready_to_ship" in result.output
    assert "no orders" in ok("orders", "list", "--status", "paid")


def test_qa_erp_status_groups_holds_by_cause_and_caps_them(sqlite_settings: Settings) -> None:
    """25 orders held for one channel setting were 25 lines (the reason names the order): one cause is one line."""
    from oms_bridge.store import outbox
    from oms_bridge.store.db import session_scope
    from oms_bridge.store.models import Delivery, Order

    ok("platform", "add", "momo", "--type", "momo", "--host", "https://scmapi.momoshop.com.tw")
    ok("channel", "add", "m1", "--platform", "momo", "--shop-id", "1")
    with session_scope(sqlite_settings) as s:
        from oms_bridge.store.models import Channel
        channel_id = s.query(Channel.id).scalar()
        for n in range(32):
            order = Order(oms_channel_id=channel_id, external_id=f"N{n}", status="paid", currency="TWD")
            s.add(order)
            s.flush()
            row = Delivery(oms_order_id=order.id, destination="erp")
            s.add(row)
            if n < 25:
                outbox.mark_held(row, f"order N{n} has no buyer email", code="config:m1")
            else:
                outbox.mark_held(row, f"SKU SKU-{n} has no ERP product", code=f"missing_sku:SKU-{n}")
        waiting = Order(oms_channel_id=channel_id, external_id="UNPAID-1", status="unpaid", currency="TWD")
        s.add(waiting)
        s.flush()
        s.add(Delivery(oms_order_id=waiting.id, destination="erp", state="waiting"))
    text = ok("erp", "status", "--limit", "5")
    assert "waiting 1" in text and "(waiting: not paid yet on the marketplace" in text
    assert "held 32" in text and "N1" not in text
    assert "   25  channel m1: the ERP mapping names a record iDempiere does not have" in text
    assert "    1  SKU SKU-25 has no ERP product" in text
    assert "... and 3 more reason(s) for 3 order(s)" in text
    reasons = json.loads(ok("erp", "status", "--json"))["held_reasons"]
    assert len(reasons) == 8 and reasons[0]["orders"] == 25 and reasons[0]["cause"] == "channel_config"


def test_qa_erp_down_shows_why_orders_wait(sqlite_settings: Settings, shopee: ShopeeSandbox, erp: ErpSandbox) -> None:
    _configure(sqlite_settings, shopee, erp)
    ok("process", "run", "getorder", "--channel", "shop-a")
    erp.stop()  # the iDempiere server is down
    down = oms("erp", "deliver")
    assert down.exit_code == 1 and "ERP delivery failed" in down.output and "failed 12" in down.output
    assert "oms-bridge erp status" in down.output
    status = ok("erp", "status")
    assert "retry 12" in status and "retrying after: " in status and "Connection refused" in status
    assert json.loads(ok("erp", "status", "--json"))["retry_reasons"][0]["orders"] == 12


def test_qa_empty_oms_lists_say_so(sqlite_settings: Settings) -> None:
    assert "no shipments yet" in ok("oms", "shipments")
    assert "no held or dead shipments" in ok("oms", "shipments", "--held")
    assert "no packages reported by the OMS yet" in ok("oms", "packages")
    assert "no webhook events that need a look" in ok("oms", "packages", "--problems")


def test_qa_a_channel_setting_the_adapter_refuses_is_one_line_and_does_not_stop_all(sqlite_settings: Settings,
                                                                                      shopee: ShopeeSandbox) -> None:
    ok("platform", "add", "sl", "--type", "shopline", "--host", "http://127.0.0.1:9", "--app-id", "a",
       "--secret-stdin", input="s\n")
    refused = oms("channel", "add", "bad", "--platform", "sl", "--shop-id", "1", "--settings-json",
                  '{"auth_model": "bogus"}')
    assert refused.exit_code == 1 and "auth_model 'bogus'" in refused.output and "nothing was saved" in refused.output
    assert "bad" not in ok("channel", "list")
    ok("channel", "add", "bad", "--platform", "sl", "--shop-id", "1", "--settings-json", '{"auth_model": "token"}')
    again = oms("channel", "update", "bad", "--settings-json", '{"auth_model": "bogus"}')
    assert again.exit_code == 1 and "nothing was saved" in again.output
    # a value stored before this check existed (or written by another tool): commands still fail cleanly
    from oms_bridge.store.db import session_scope
    from oms_bridge.store.models import Channel
    with session_scope(sqlite_settings) as s:
        s.query(Channel).filter(Channel.value == "bad").update({"settings_json": '{"auth_model": "bogus"}'})
    pf = shopee.platform_fields()
    ok("platform", "add", "shp", "--type", "shopee", "--host", pf["host"], "--app-id", pf["app_id"],
       "--secret-stdin", input=pf["app_secret"] + "\n")
    ok("channel", "add", "zz-good", "--platform", "shp", "--shop-id", shopee.add_shop()["shop_id"])
    authorize = oms("channel", "authorize", "bad")
    assert authorize.exit_code == 1 and "auth_model 'bogus'" in authorize.output
    assert not isinstance(authorize.exception, Exception) or isinstance(authorize.exception, SystemExit)
    everything = oms("process", "run", "refreshtoken", "--all")
    assert everything.exit_code == 1, everything.output
    assert "bad: refreshtoken failed" in everything.output and "channel bad cannot be used" in everything.output
    assert "zz-good: refreshtoken failed" in everything.output  # the next channel still ran (not authorized yet)


def test_qa_erp_check_on_a_wrong_password_or_url_says_fix_the_connection(sqlite_settings: Settings,
                                                                           erp: ErpSandbox) -> None:
    f = erp.connection_fields()
    ok("erp", "connection", "add", "gw", "--url", f["url"], "--user", f["username"], "--client-id",
       str(f["client_id"]), "--role-id", str(f["role_id"]), "--org-id", str(f["org_id"]), "--warehouse-id",
       str(f["warehouse_id"]), "--password-stdin", input="wrong-password\n")
    login = oms("erp", "check")
    assert login.exit_code == 1 and "[MISSING] login as WebService" in login.output
    assert "To do before anything in iDempiere can be checked:" in login.output
    assert "Web Service Type" not in login.output and "oms-bridge erp connection update gw" in login.output
    assert "wrong-password" not in login.output
    ok("erp", "connection", "update", "gw", "--password-stdin", input=f["password"] + "\n")
    ok("erp", "connection", "update", "gw", "--url", "http://127.0.0.1:9/ADInterface/services")
    down = oms("erp", "check")
    assert down.exit_code == 1 and "Check the URL and the server" in down.output
    assert "oms-bridge erp connection update gw --url URL" in down.output
    ok("erp", "connection", "update", "gw", "--url", f["url"])
    assert "Everything the bridge needs is configured." in ok("erp", "check")


def test_qa_rejected_refresh_token_is_said_once_and_getorder_reports_it(sqlite_settings: Settings,
                                                                        shopee: ShopeeSandbox) -> None:
    pf = shopee.platform_fields()
    ok("platform", "add", "shp", "--type", "shopee", "--host", pf["host"], "--app-id", pf["app_id"],
       "--secret-stdin", input=pf["app_secret"] + "\n")
    shop = shopee.add_shop()
    ok("channel", "add", "shop-a", "--platform", "shp", "--shop-id", shop["shop_id"])
    params = shopee.consent(start_authorization("shop-a", settings=sqlite_settings), shop_id=shop["shop_id"])
    complete_authorization("shopee", params, settings=sqlite_settings)
    shopee.deauthorize(shop["shop_id"])  # the merchant revoked the app in Shopee's seller centre
    refresh = oms("process", "run", "refreshtoken", "--channel", "shop-a", "--force")
    assert refresh.exit_code == 1 and "refreshtoken reauth_required" in refresh.output
    assert refresh.output.count("Shopee refused the refresh token for channel shop-a") == 1
    assert "oms-bridge channel authorize shop-a" in refresh.output
    pull = oms("process", "run", "getorder", "--channel", "shop-a")
    assert pull.exit_code == 1 and "getorder reauth_required" in pull.output and "api calls 0" in pull.output
    assert "reauth_required" in ok("channel", "list")


def test_qa_rejected_credentials_during_getorder_show_on_the_channel(sqlite_settings: Settings) -> None:
    from sandboxes.momo import MomoSandbox

    momo = MomoSandbox().start()
    try:
        ok("platform", "add", "momo", "--type", "momo", "--host", momo.platform_fields()["host"])
        shop = momo.add_shop()
        ok("channel", "add", "m1", "--platform", "momo", "--shop-id", shop["shop_id"], "--credentials-json-stdin",
           input=json.dumps(shop["credentials"]))
        assert "credentials work" in ok("channel", "authorize", "m1")
        ok("process", "run", "getorder", "--channel", "m1")
        # the vendor changed the momo password; the bridge still has the old one
        ok("channel", "update", "m1", "--credentials-json-stdin", input='{"entpPwd": "changed-elsewhere"}')
        failed = oms("process", "run", "getorder", "--channel", "m1")
        assert failed.exit_code == 1 and "getorder failed" in failed.output and "login rejected" in failed.output
        view = json.loads(ok("channel", "show", "m1", "--json"))
        assert view["auth_state"] == "error"
        assert "rejected the credentials of channel m1" in view["auth_message"]
        assert "oms-bridge channel authorize m1" in view["auth_message"]
        assert "changed-elsewhere" not in failed.output + json.dumps(view)
        ok("channel", "update", "m1", "--credentials-json-stdin", input=json.dumps(shop["credentials"]))
        assert "getorder success" in ok("process", "run", "getorder", "--channel", "m1")
        view = json.loads(ok("channel", "show", "m1", "--json"))
        assert view["auth_state"] == "active" and view["auth_message"] is None
    finally:
        momo.stop()
