"""``oms-bridge alerts``: targets added from stdin or the environment (never argv), masked in every output,
encrypted at rest; "send test" reaches real receivers; check / list / history tell an admin what is on."""

from __future__ import annotations

import json

from alerts_kit import channel, order, set_delivery
from click.testing import CliRunner, Result
from receivers import SmtpReceiver, WebhookReceiver, free_port
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import AlertTarget

SECRET = "s3cr3t-hook-key"


def oms(*args: str, input: str | None = None, env: dict | None = None) -> Result:
    return CliRunner().invoke(cli, list(args), input=input, env=env)


def ok(*args: str, input: str | None = None, env: dict | None = None) -> str:
    result = oms(*args, input=input, env=env)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def test_targets_are_secret_everywhere_and_send_test_reaches_them(sqlite_settings: Settings, webhook: WebhookReceiver,
                                                                   smtp: SmtpReceiver) -> None:
    hook_url = f"json://ops:pw-{SECRET}@127.0.0.1:{webhook.port}/hook/{SECRET}"
    added = ok("alerts", "target", "add", "ops-hook", "--url-stdin", "--description", "on-call webhook",
               input=hook_url + "\n")
    assert f"json://127.0.0.1:{webhook.port}/****" in added
    ok("alerts", "target", "add", "ops-mail", "--url-env", "OPS_MAIL", env={"OPS_MAIL": smtp.url()})
    listed = ok("alerts", "target", "list")
    shown = json.loads(ok("alerts", "target", "list", "--json"))
    assert [t["url"] for t in shown] == [f"json://127.0.0.1:{webhook.port}/****", f"mailto://127.0.0.1:{smtp.port}/****"]
    for output in (added, listed, json.dumps(shown)):
        assert SECRET not in output and "pw-" not in output and "ops@example.com" not in output
    with session_scope(sqlite_settings) as s:
        stored = " ".join(t.url_enc for t in s.scalars(select(AlertTarget)))
    assert SECRET not in stored and "127.0.0.1" not in stored

    tested = ok("alerts", "target", "test")
    assert "ops-hook: sent" in tested and "ops-mail: sent" in tested
    assert webhook.titles() == ["[oms-bridge] test notification"] and len(smtp.messages) == 1
    assert smtp.subjects() == ["[oms-bridge] test notification"]
    assert "test of the alert target 'ops-mail'" in smtp.text(0)
    assert webhook.paths == [f"/hook/{SECRET}"]  # the URL's path reached the receiver, decrypted

    history = ok("alerts", "history")
    assert history.count("test      sent    [oms-bridge] test notification") == 2

    # a target that does not answer: a clear failure, exit code 1, still no secret
    dead_url = f"json://127.0.0.1:{free_port()}/hook/{SECRET}"
    ok("alerts", "target", "add", "dead-hook", "--url-stdin", input=dead_url + "\n")
    failed = oms("alerts", "target", "test", "dead-hook")
    assert failed.exit_code == 1 and "dead-hook: FAILED" in failed.output and SECRET not in failed.output
    relisted = ok("alerts", "target", "list")
    assert "last error:" in relisted and SECRET not in relisted
    assert "removed" in ok("alerts", "target", "remove", "dead-hook")
    assert "dead-hook" not in ok("alerts", "target", "list")


def test_bad_targets_are_refused_clearly(sqlite_settings: Settings) -> None:
    unknown = oms("alerts", "target", "add", "x", "--url-stdin", input=f"bogus://{SECRET}@host/path\n")
    assert unknown.exit_code == 1 and "apprise cannot use this bogus:// URL" in unknown.output
    assert SECRET not in unknown.output
    plain = oms("alerts", "target", "add", "x", "--url-stdin", input="not a url\n")
    assert plain.exit_code == 1 and "an alert target is an apprise URL" in plain.output
    ok("alerts", "target", "add", "x", "--url-stdin", input="json://127.0.0.1:9/x\n")
    twice = oms("alerts", "target", "add", "x", "--url-stdin", input="json://127.0.0.1:9/y\n")
    assert twice.exit_code == 1 and "exists already" in twice.output
    argv = oms("alerts", "target", "add", "y", "json://127.0.0.1:9/x")
    assert argv.exit_code != 0  # a URL on the command line is not accepted (it would sit in the shell history)
    missing = oms("alerts", "target", "remove", "nope")
    assert missing.exit_code == 1 and "no alert target named 'nope'" in missing.output
    none = oms("alerts", "target", "test", "nope")
    assert none.exit_code == 1 and "no alert target named 'nope'" in none.output


def test_check_list_and_history_tell_what_is_wrong(sqlite_settings: Settings, webhook: WebhookReceiver) -> None:
    ok("alerts", "target", "add", "ops-hook", "--url-stdin", input=webhook.url() + "\n")
    assert "no alerts: nothing is wrong" in ok("alerts", "list")
    assert json.loads(ok("alerts", "check", "--json"))["firing"] == []
    set_delivery(sqlite_settings, order(sqlite_settings, channel(sqlite_settings, auth_state="new"), "2604010001"),
                 state="dead", last_error="gave up after 8 attempts: connection refused")
    checked = oms("alerts", "check")
    assert checked.exit_code == 1 and "1 alert(s) firing: dead:erp" in checked.output
    assert "fired: dead:erp" in checked.output
    assert webhook.wait_for(1) and len(webhook.posts) == 1
    listed = ok("alerts", "list")
    assert "FIRING    1 delivery(ies) to the ERP (iDempiere) gave up" in listed
    assert "what to do: fix the cause named in the error" in listed
    data = json.loads(ok("alerts", "list", "--json"))
    assert data[0]["key"] == "dead:erp" and data[0]["state"] == "firing" and data[0]["since"].endswith("+00:00")
    assert "PROBLEM: 1 delivery(ies)" in ok("alerts", "history")
    set_delivery(sqlite_settings, 1, state="sent", last_error=None)
    assert "resolved: dead:erp" in ok("alerts", "check")
    assert "RESOLVED" in ok("alerts", "list", "--all")
    assert [n["kind"] for n in json.loads(ok("alerts", "history", "--json"))] == ["recovered", "fired"]
