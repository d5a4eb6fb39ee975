"""``oms-bridge deliveries problems``: held, dead and retrying ERP/OMS deliveries grouped by cause.

The same grouping as the web's held page (:mod:`oms_bridge.store.problems`): one line per cause with how many
orders wait, e.g. ``erp  held  839  SKU SAUCE-CHILI has no ERP product``; never one line per order.
"""

from __future__ import annotations

import click

from oms_bridge.cli.common import cli_errors, emit_json, json_option
from oms_bridge.settings import get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.problems import PROBLEM_STATES, ProblemFilter, problem_groups, unreadable_orders

__all__ = ["deliveries_group"]


@click.group("deliveries")
def deliveries_group() -> None:
    """Deliveries to the ERP, the OMS and the marketplaces."""


@deliveries_group.command("problems")
@click.option("--state", type=click.Choice(sorted(PROBLEM_STATES)), default=None,
              help="Only held, dead or retrying deliveries (default: all three).")
@click.option("--destination", default=None, help="Only this destination (erp, oms, logistics, cancel_answer).")
@click.option("--channel", default=None, metavar="CHANNEL", help="Only the orders of this channel.")
@json_option
def problems_command(state: str | None, destination: str | None, channel: str | None, as_json: bool) -> None:
    """Held, dead and retrying deliveries grouped by cause, biggest group first.

    \b
    Examples:
      oms-bridge deliveries problems
      oms-bridge deliveries problems --state held --destination erp
      oms-bridge deliveries problems --json
    """
    where = ProblemFilter(state=state or "", destination=destination or "", channel=channel or "")
    with cli_errors(), session_scope(get_settings(), readonly=True) as session:
        groups = problem_groups(session, where)
        unreadable, _rows = unreadable_orders(session, channel=channel or "", limit=0)
    if as_json:
        emit_json({"groups": [{k: g[k] for k in ("destination", "state", "cause", "subject", "label", "orders",
                                                   "since", "attempts")} for g in groups],
                   "orders": sum(g["orders"] for g in groups), "unreadable_orders": unreadable})
        return
    if not groups:
        click.echo("no held, dead or retrying deliveries" + (f" ({_scope(where)})" if _scope(where) else ""))
    else:
        click.echo(f"{'DEST':<13} {'STATE':<9} {'ORDERS':>6}  CAUSE")
        for g in groups:
            click.echo(f"{g['destination']:<13} {g['state']:<9} {g['orders']:>6}  {g['label']}")
        click.echo(f"{sum(g['orders'] for g in groups)} delivery(ies) in {len(groups)} group(s); fix them on "
                   "/admin/held, or: oms-bridge erp retry / oms-bridge sku map")
    if unreadable:
        click.echo(f"(also {unreadable} order(s) could not be read at intake: oms-bridge orders list --held)")


def _scope(where: ProblemFilter) -> str:
    return ", ".join(f"{k} {v}" for k, v in (("state", where.state), ("destination", where.destination),
                                              ("channel", where.channel)) if v)
