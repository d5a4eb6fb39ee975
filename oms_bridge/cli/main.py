"""Root ``oms-bridge`` command: assembles the command groups of each area (plain imports)."""

from __future__ import annotations

import logging
import sys

import click

from oms_bridge.cli import begin_invocation
from oms_bridge.cli.admin_cmds import channel_group, db_group, init_command, keys_group, platform_group
from oms_bridge.cli.alert_cmds import alerts_group
from oms_bridge.cli.delivery_cmds import deliveries_group
from oms_bridge.cli.erp_cmds import erp_group, sku_group
from oms_bridge.cli.examples import attach_examples
from oms_bridge.cli.oms_cmds import oms_group
from oms_bridge.cli.process_cmds import authorize_command, orders_group, process_group
from oms_bridge.cli.reconcile_cmds import reconcile_command
from oms_bridge.cli.run_cmds import admin_group, demo_command, run_command
from oms_bridge.logsafe import install_log_safety
from oms_bridge.settings import SettingsError

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]},
             epilog="\b\nExamples:\n  oms-bridge --version\n  oms-bridge channel list --json\n"
                    "  NO_COLOR=1 oms-bridge erp status")
@click.version_option(package_name="oms-bridge", prog_name="oms-bridge", message="%(prog)s %(version)s")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr (secrets stay masked).")
def cli(verbose: bool) -> None:
    """oms-bridge: marketplace orders into iDempiere and an OMS, exactly once."""
    begin_invocation()
    logging.basicConfig(level=logging.DEBUG if verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    install_log_safety()  # no forged log lines from request values, no personal data from database errors


for command in (init_command, db_group, keys_group, platform_group, channel_group, process_group,
                orders_group, deliveries_group, erp_group, sku_group, oms_group, alerts_group, reconcile_command,
                run_command, demo_command, admin_group):
    cli.add_command(command)
channel_group.add_command(authorize_command)
attach_examples(cli)


def main() -> None:
    """The console script; a settings error met outside a command's own handling is one line, exit 2."""
    try:
        cli(prog_name="oms-bridge")
    except SettingsError as exc:
        click.echo(f"Error: {exc}", err=True)
        sys.exit(2)
