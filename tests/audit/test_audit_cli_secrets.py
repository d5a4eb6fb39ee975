"""Audit: what an admin sees in the CLI (text and --json, with -v debug logging) shows no secret.

Real sandboxes over HTTP: a momo channel (vendor password) and a Shopline channel (static API token, app with a
client secret) are added with their secrets on stdin, checked, run (GetOrder and RefreshToken), then given wrong
secrets and run again so the failures are stored and shown; every list/show/runs output is collected.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

from click.testing import CliRunner

from oms_bridge.cli.main import cli
from sandboxes.momo import MomoSandbox
from sandboxes.server import SandboxClock
from sandboxes.shopline import ShoplineSandbox

WRONG = "Wr0ng-Secret-audit-cli"


def test_audit_cli_outputs_show_no_secret(home, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    runner = CliRunner()
    outputs: list[str] = []

    def run(*args: str, stdin: str | None = None) -> str:
        result = runner.invoke(cli, list(args), input=stdin)
        text = result.output  # click's runner mixes stderr (where -v logs go) into the output
        outputs.append(text + (repr(result.exception) if result.exception else ""))
        return text

    assert "Traceback" not in run("init")
    now = datetime.now(UTC)
    momo = MomoSandbox(clock=SandboxClock(now)).start()
    shopline = ShoplineSandbox(clock=SandboxClock(now)).start()
    try:
        m_shop = momo.add_shop()
        s_fields = shopline.platform_fields()
        s_shop = shopline.add_shop()
        secrets = {m_shop["credentials"]["entpPwd"], s_fields["app_secret"], s_shop["credentials"]["access_token"],
                   WRONG}
        run("platform", "add", "momo", "--type", "momo", "--host", momo.base_url)
        run("platform", "add", "shopline", "--type", "shopline", "--host", s_fields["host"], "--app-id",
            s_fields["app_id"], "--settings-json", json.dumps(s_fields["settings"]), "--secret-stdin",
            stdin=s_fields["app_secret"] + "\n")
        run("channel", "add", "m1", "--platform", "momo", "--shop-id", m_shop["shop_id"], "--credentials-json-stdin",
            stdin=json.dumps(m_shop["credentials"]))
        run("channel", "add", "s1", "--platform", "shopline", "--shop-id", s_shop["shop_id"],
            "--settings-json", json.dumps(s_shop["settings"]), "--credentials-json-stdin",
            stdin=json.dumps(s_shop["credentials"]))
        momo.generate_orders(m_shop["shop_id"], 2, start=now - timedelta(hours=5), end=now - timedelta(hours=1))
        shopline.generate_orders(s_shop["shop_id"], 2, start=now - timedelta(hours=5), end=now - timedelta(hours=1))
        for channel in ("m1", "s1"):
            run("-v", "channel", "authorize", channel)
            run("-v", "process", "run", "getorder", "--channel", channel)
            run("-v", "process", "run", "refreshtoken", "--channel", channel, "--force")
        run("platform", "update", "shopline", "--secret-stdin", stdin=WRONG + "\n")
        run("channel", "update", "m1", "--credentials-json-stdin",
            stdin=json.dumps({**m_shop["credentials"], "entpPwd": WRONG}))
        run("channel", "update", "s1", "--credentials-json-stdin", stdin=json.dumps({"access_token": WRONG}))
        for channel in ("m1", "s1"):
            run("-v", "process", "run", "getorder", "--channel", channel)
            run("-v", "channel", "authorize", channel)
        for args in (("platform", "list"), ("platform", "show", "shopline"), ("channel", "list"),
                     ("channel", "show", "m1"), ("channel", "show", "s1"), ("process", "runs")):
            run(*args)
            run(*args, "--json")
    finally:
        momo.stop()
        shopline.stop()
    haystack = "\n".join([*outputs, caplog.text])
    assert "getorder" in haystack and ("failed" in haystack or "rejected" in haystack)
    leaked = sorted(s for s in secrets if s in haystack)
    assert not leaked, [line for line in haystack.splitlines() if any(s in line for s in leaked)][:5]
