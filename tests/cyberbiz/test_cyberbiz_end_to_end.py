"""A Cyberbiz shop with a pasted API token, end to end, as an admin does it: all through ``oms-bridge``.

channel add (``--auth-model token --token-stdin``) → channel authorize (a credential check, no OAuth) →
GetOrder from the Cyberbiz sandbox over HTTP → ERP delivery against the iDempiere SOAP sandbox. Combo
products reach the ERP as their real SKUs; nothing is held; no RefreshToken job is planned.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "erp"))
from erp_helpers import erp_orders_by_number  # noqa: E402

from oms_bridge.cli.main import cli  # noqa: E402
from oms_bridge.settings import Settings  # noqa: E402
from sandboxes.cyberbiz import CyberbizSandbox  # noqa: E402
from sandboxes.data import PRODUCTS  # noqa: E402
from sandboxes.idempiere.server import ErpSandbox  # noqa: E402
from scheduler.config import ScheduleConfig  # noqa: E402
from scheduler.sync import desired_jobs  # noqa: E402


def oms(*args: str, input: str | None = None, env: dict | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, env=env)


def ok(*args: str, input: str | None = None, env: dict | None = None) -> str:
    result = oms(*args, input=input, env=env)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def erp() -> ErpSandbox:
    sandbox = ErpSandbox().start()
    yield sandbox
    sandbox.stop()


@pytest.fixture
def cyberbiz() -> CyberbizSandbox:
    with CyberbizSandbox(seed=31) as sandbox:  # real time: the CLI's GetOrder reads "now"
        yield sandbox


def _erp_connection(erp: ErpSandbox) -> list[str]:
    f = erp.connection_fields()
    ok("erp", "connection", "add", "gw", "--url", f["url"], "--user", f["username"], "--client-id",
       str(f["client_id"]), "--role-id", str(f["role_id"]), "--org-id", str(f["org_id"]), "--warehouse-id",
       str(f["warehouse_id"]), "--stage", "0", "--password-stdin", input=f["password"] + "\n")
    mapping = ["--erp-connection", "gw"]
    for key, value in erp.channel_mapping().items():
        mapping += ["--" + key.replace("_", "-"), str(value)]
    return mapping


def test_cyberbiz_token_shop_flows_to_the_erp_with_no_oauth(sqlite_settings: Settings, cyberbiz: CyberbizSandbox,
                                                             erp: ErpSandbox) -> None:
    ok("platform", "add", "cbz", "--type", "cyberbiz", "--host", cyberbiz.base_url)  # no app id/secret needed
    shop = cyberbiz.add_shop(auth_model="token")
    token = shop["credentials"]["access_token"]
    added = ok("channel", "add", "cbz-a", "--platform", "cbz", "--shop-id", shop["shop_id"], "--auth-model", "token",
               "--token-stdin", *_erp_connection(erp), input=token + "\n")
    assert token not in added
    shown = json.loads(ok("channel", "show", "cbz-a", "--json"))
    assert shown["settings"] == {"auth_model": "token"} and shown["credentials_missing"] == []
    assert list(shown["credentials"]) == ["access_token"] and shown["credentials"]["access_token"].startswith("****")

    checked = ok("channel", "authorize", "cbz-a")
    assert "API token accepted" in checked and "oauth" not in checked.lower()
    assert json.loads(ok("channel", "show", "cbz-a", "--json"))["auth_state"] == "active"
    jobs = desired_jobs(sqlite_settings, ScheduleConfig.from_settings(sqlite_settings))
    assert any(j.startswith("getorder:") for j in jobs) and not any(j.startswith("refreshtoken:") for j in jobs)
    assert "does not use OAuth" in ok("process", "run", "refreshtoken", "--channel", "cbz-a")

    end = datetime.now(UTC) - timedelta(minutes=10)
    combos = cyberbiz.generate_orders(shop["shop_id"], 4, start=end - timedelta(hours=2), end=end, status="paid",
                                      combo=True)
    plain = cyberbiz.generate_orders(shop["shop_id"], 3, start=end - timedelta(hours=2), end=end, status="paid")
    assert "getorder success" in ok("process", "run", "getorder", "--channel", "cbz-a")
    assert cyberbiz.calls("/oauth") == 0

    delivered = ok("erp", "deliver")
    assert "held" not in ok("erp", "status"), delivered
    by_ref = erp_orders_by_number(erp)
    assert sorted(by_ref) == sorted(combos + plain)  # every order once
    product_value = {p["M_Product_ID"]: p["Value"] for p in erp.records("M_Product")}
    for ext in combos:
        raw = cyberbiz.order(shop["shop_id"], ext)
        erp_order = by_ref[ext]
        assert erp_order["DocStatus"] == "CO"
        children = {c["sku"] for c in raw["line_items"][0]["related_items"][0]["items"]}
        skus = {product_value[line["M_Product_ID"]] for line in erp_order["lines"] if line.get("M_Product_ID")}
        assert children <= skus <= {p.sku for p in PRODUCTS}  # the combo's real SKUs, no placeholder
        assert Decimal(str(erp_order["GrandTotal"])) == Decimal(str(raw["prices"]["total_price"]))


def test_cyberbiz_channel_cli_catches_auth_model_typos_and_lists_credentials_per_model(
        sqlite_settings: Settings, cyberbiz: CyberbizSandbox) -> None:
    ok("platform", "add", "cbz", "--type", "cyberbiz", "--host", cyberbiz.base_url)
    typo = oms("channel", "add", "cbz-x", "--platform", "cbz", "--shop-id", "x.cyberbiz.co", "--auth-model", "tokne")
    assert typo.exit_code == 1 and "auth_model 'tokne' must be one of: 'token'" in typo.output
    assert "nothing was saved" in typo.output and "cbz-x" not in ok("channel", "list")

    ok("channel", "add", "cbz-v2", "--platform", "cbz", "--shop-id", "v2.cyberbiz.co", "--auth-model", "v2")
    assert json.loads(ok("channel", "show", "cbz-v2", "--json"))["credentials_missing"] == []  # OAuth: none
    ok("channel", "add", "cbz-v1", "--platform", "cbz", "--shop-id", "v1.cyberbiz.co", "--auth-model", "v1")
    assert json.loads(ok("channel", "show", "cbz-v1", "--json"))["credentials_missing"] == ["username", "secret"]

    # switching a channel to the token model: the hint names the token; the token from an env variable
    ok("channel", "update", "cbz-v2", "--auth-model", "token")
    shown = json.loads(ok("channel", "show", "cbz-v2", "--json"))
    assert shown["settings"] == {"auth_model": "token"} and shown["credentials_missing"] == ["access_token"]
    bad = oms("channel", "update", "cbz-v2", "--settings-json", '{"auth_model": "V3"}')
    assert bad.exit_code == 1 and "auth_model 'v3'" in bad.output and "nothing was saved" in bad.output
    assert json.loads(ok("channel", "show", "cbz-v2", "--json"))["settings"] == {"auth_model": "token"}
    shop = cyberbiz.add_shop(auth_model="token", domain="v2.cyberbiz.co")
    ok("channel", "update", "cbz-v2", "--token-env", "CBZ_TOKEN",
       env={"CBZ_TOKEN": shop["credentials"]["access_token"]})
    assert json.loads(ok("channel", "show", "cbz-v2", "--json"))["credentials_missing"] == []
    assert "API token accepted" in ok("channel", "authorize", "cbz-v2")
    both = oms("channel", "update", "cbz-v2", "--token-stdin", "--credentials-json-stdin", input="x\n")
    assert both.exit_code == 1 and "stdin can carry one thing" in both.output
    twice = oms("channel", "update", "cbz-v2", "--token-stdin", "--token-env", "CBZ_TOKEN")
    assert twice.exit_code == 1 and "one way only" in twice.output
