"""The whole ``oms-bridge`` command tree keeps its conventions (docs/cli-admin.md "Conventions"):

- ``--version`` from the package metadata;
- every command's ``--help`` works and ends with examples that parse with that command's own options;
- one name for the channel: ``CHANNEL`` as the ``channel`` group's argument, ``--channel CHANNEL`` elsewhere;
  the old positional of ``orders backfill`` still works, with a warning on stderr;
- ``--json`` on every command that prints data, valid JSON, secrets masked.
"""

from __future__ import annotations

import json
import shlex
from importlib.metadata import version
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oms_bridge.cli.examples import EXAMPLES, leaf_commands
from oms_bridge.cli.main import cli

LEAVES = leaf_commands(cli)
#: Commands without --json, and why: what they print is not data for a script.
PLAIN_OUTPUT = {
    "run": "a long-running service; it logs to stderr",
    "db sql": "prints DDL for a DBA (the SQL is the output)",
    "admin set-password": "prints one confirmation line; the password is never echoed",
}

APP_SECRET = "shopee-partner-key-SECRET-0123456789"
CYB_SECRET = "cyberbiz-hmac-secret-SECRET-9999"
ERP_PASSWORD = "erp-password-SECRET-7777"
ALERT_TOKEN = "alerttokenSECRET4242"


def _run(*args: str, input: str | None = None) -> click.testing.Result:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    assert result.exit_code == 0, (args, result.output)
    return result


def test_version_comes_from_the_package_metadata() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"oms-bridge {version('oms-bridge')}"


@pytest.mark.parametrize("path", sorted(LEAVES))
def test_every_command_has_help_with_examples_that_parse(path: str) -> None:
    result = CliRunner().invoke(cli, [*path.split(), "--help"])
    assert result.exit_code == 0, result.output
    assert "Examples:" in result.output, f"`oms-bridge {path} --help` shows no example"
    assert EXAMPLES.get(path), path
    for example in EXAMPLES[path]:
        assert f"oms-bridge {example}" in result.output
        words = shlex.split(example.split(" > ")[0])
        assert words[:len(path.split())] == path.split(), f"example {example!r} is not for `{path}`"
        # Unknown options or too many arguments fail the parse before --help is honoured.
        parsed = CliRunner().invoke(cli, [*words, "--help"])
        assert parsed.exit_code == 0, (example, parsed.output)


def test_every_group_shows_examples_too() -> None:
    def groups(group: click.Group, prefix: tuple[str, ...] = ()):
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield (*prefix, name)
                yield from groups(command, (*prefix, name))

    for path in [(), *groups(cli)]:
        result = CliRunner().invoke(cli, [*path, "--help"])
        assert result.exit_code == 0 and "Examples:" in result.output, path
        assert f"  oms-bridge {' '.join(path)}".rstrip() in result.output.split("Examples:")[1], path


def test_the_channel_is_named_one_way() -> None:
    for path, command in LEAVES.items():
        for param in command.params:
            if isinstance(param, click.Argument):
                if "channel" in param.name and param.name != "legacy_channel":
                    pytest.fail(f"{path}: a channel argument outside the channel group")
                if path.startswith("channel "):
                    if param.name in ("value", "name"):
                        assert param.metavar == "CHANNEL", path
            elif any(opt.startswith(("--channel", "--chan")) for opt in param.opts):
                assert param.opts == ["--channel"] and param.metavar == "CHANNEL", (path, param.opts)
    for path in ("channel show", "channel update", "channel authorize", "channel remove"):
        usage = CliRunner().invoke(cli, [*path.split(), "--help"]).output.splitlines()[0]
        assert usage.endswith("[OPTIONS] CHANNEL"), usage


def test_backfill_keeps_its_old_positional_with_a_warning(sqlite_settings) -> None:
    usage = CliRunner().invoke(cli, ["orders", "backfill", "--help"]).output
    assert "--channel CHANNEL" in usage and "LEGACY" not in usage.upper()
    old = CliRunner().invoke(cli, ["orders", "backfill", "shop-x", "--since", "2026-03-01"])
    assert "warning: `orders backfill CHANNEL` is deprecated; use `orders backfill --channel CHANNEL`" in old.stderr
    assert "no channel 'shop-x'" in old.output  # the old spelling reached the command
    new = CliRunner().invoke(cli, ["orders", "backfill", "--channel", "shop-x", "--since", "2026-03-01"])
    assert "deprecated" not in new.stderr and "no channel 'shop-x'" in new.output
    missing = CliRunner().invoke(cli, ["orders", "backfill", "--since", "2026-03-01"])
    assert missing.exit_code == 2 and "--channel" in missing.output


def test_every_command_that_prints_data_takes_json() -> None:
    without = {path for path, command in LEAVES.items() if not any(p.name == "as_json" for p in command.params)}
    assert without == set(PLAIN_OUTPUT)


def _seed(tmp_path: Path) -> None:
    """A store with every kind of secret: a platform app secret, channel credentials, an ERP password, an alert URL."""
    _run("init")
    _run("platform", "add", "shopee-tw", "--type", "shopee", "--host", "https://partner.shopeemobile.com",
         "--app-id", "2001234", "--secret-stdin", input=APP_SECRET + "\n")
    _run("platform", "add", "cyb", "--type", "cyberbiz", "--host", "https://app-store-api.cyberbiz.io")
    _run("channel", "add", "cyb-a", "--platform", "cyb", "--shop-id", "shop-a.cyberbiz.co", "--credentials-json-stdin",
         "--settings-json", '{"auth_model": "v1"}', input=json.dumps({"username": "u-1", "secret": CYB_SECRET}))
    _run("erp", "connection", "add", "gw", "--url", "http://127.0.0.1:9/ADInterface/services", "--user", "WebService",
         "--client-id", "11", "--role-id", "50004", "--org-id", "11", "--warehouse-id", "103", "--password-stdin",
         input=ERP_PASSWORD + "\n")
    _run("alerts", "target", "add", "ops", "--url-stdin", input=f"json://127.0.0.1:9/hook?token={ALERT_TOKEN}\n")
    _run("sku", "map", "ABC-1", "--value", "ABC-1-ERP", "--no-check")  # the ERP above is not reachable
    _run("oms", "products", "map", "ABC-1", "5123")
    _run("oms", "carriers", "set", "shopee", "Yurtici Kargo", "30001")
    (tmp_path / "skus.csv").write_text("sku,m_product_value\nABC-2,ABC-2-ERP\n", encoding="utf-8")
    (tmp_path / "products.csv").write_text("sku,omnitron_product_id\nABC-2,5124\n", encoding="utf-8")


#: Every command run with --json on the seeded store (the ones that need a marketplace, an ERP or an OMS
#: are run with --json by their own tests: erp check/deliver, process run, orders backfill, reconcile, ...).
JSON_RUNS: dict[str, list[str]] = {
    "init": ["init"], "db current": ["db", "current"], "db history": ["db", "history"],
    "db upgrade": ["db", "upgrade"], "keys status": ["keys", "status"], "keys generate": ["keys", "generate"],
    "platform list": ["platform", "list"], "platform show": ["platform", "show", "shopee-tw"],
    "platform update": ["platform", "update", "shopee-tw", "--name", "Shopee"],
    "channel list": ["channel", "list"], "channel show": ["channel", "show", "cyb-a"],
    "channel update": ["channel", "update", "cyb-a", "--getorder-interval", "15"],
    "channel disable": ["channel", "disable", "cyb-a"], "channel enable": ["channel", "enable", "cyb-a"],
    "process runs": ["process", "runs"], "orders list": ["orders", "list"],
    "orders retry-answers": ["orders", "retry-answers"],
    "erp connection list": ["erp", "connection", "list"], "erp connection show": ["erp", "connection", "show", "gw"],
    "erp connection update": ["erp", "connection", "update", "gw", "--lang", "zh_TW"],
    "erp status": ["erp", "status"], "erp retry": ["erp", "retry", "--all-held"],
    "sku list": ["sku", "list"], "sku unmapped": ["sku", "unmapped"],
    "sku map": ["sku", "map", "X-1", "--product", "7", "--no-check"],
    "sku unmap": ["sku", "unmap", "X-1"], "sku import": ["sku", "import", "{tmp}/skus.csv", "--no-check"],
    "oms carriers list": ["oms", "carriers", "list"], "oms shipments": ["oms", "shipments"],
    "oms packages": ["oms", "packages"], "oms products list": ["oms", "products", "list"],
    "oms products import": ["oms", "products", "import", "{tmp}/products.csv"],
    "oms deliveries": ["oms", "deliveries"], "oms retry-orders": ["oms", "retry-orders"],
    "oms retry-shipments": ["oms", "retry-shipments"],
    "alerts target list": ["alerts", "target", "list"], "alerts list": ["alerts", "list", "--all"],
    "alerts history": ["alerts", "history"],
}
READ_VERBS = ("list", "show", "status", "current", "history", "runs", "unmapped", "shipments", "packages",
              "deliveries")


def test_json_output_is_valid_and_masks_secrets(sqlite_settings, tmp_path: Path) -> None:
    _seed(tmp_path)
    reads = {p for p in LEAVES if p.split()[-1] in READ_VERBS and p not in ("orders show",)}
    assert reads <= set(JSON_RUNS), f"read commands not run with --json here: {sorted(reads - set(JSON_RUNS))}"
    for path, args in JSON_RUNS.items():
        result = CliRunner().invoke(cli, [a.replace("{tmp}", str(tmp_path)) for a in args] + ["--json"])
        assert result.exit_code == 0, (path, result.output)
        data = json.loads(result.stdout)
        assert data is not None, path
        for secret in (APP_SECRET, CYB_SECRET, ERP_PASSWORD, ALERT_TOKEN):
            assert secret not in result.output, (path, secret)
    shown = json.loads(CliRunner().invoke(cli, ["erp", "connection", "show", "gw", "--json"]).stdout)
    assert shown["password"] == "****"
    platform = json.loads(CliRunner().invoke(cli, ["platform", "show", "shopee-tw", "--json"]).stdout)
    assert platform["app_secret"] and platform["app_secret"] != APP_SECRET
