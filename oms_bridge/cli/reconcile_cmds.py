"""``oms-bridge reconcile``: did every marketplace order of these days reach the store, the ERP and the OMS?

Days are Asia/Taipei calendar days (``--until`` inclusive, default today). The output is one line per
day (listed / stored / in the ERP / taken by the OMS) and every difference by order number, where it
is missing and why. Exit code 0 when the counts match or every difference is explained (held,
waiting, not yet due, cancelled), 1 when an order is missing or the reconciliation failed.
"""

from __future__ import annotations

import sys
from datetime import datetime

import click

from channels.binding import BindingError
from oms_bridge.cli.common import cli_errors, emit_json, fail, json_option, terminate_as_exit
from oms_bridge.reconcile.run import ReconcileError, reconcile_channel
from oms_bridge.settings import get_settings

__all__ = ["reconcile_command"]


def _n(value: int | None) -> str:
    return "-" if value is None else str(value)


@click.command("reconcile")
@click.option("--channel", metavar="CHANNEL", required=True, help="The channel to reconcile.")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (Asia/Taipei).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day, inclusive (Asia/Taipei; default today).")
@json_option
def reconcile_command(channel: str, since: datetime, until: datetime | None, as_json: bool) -> None:
    """Compare the marketplace's listing, the store, the ERP and the OMS per day; name every difference."""
    if until is not None and until < since:
        fail("--until is before --since")
    with cli_errors(), terminate_as_exit():
        try:
            outcome = reconcile_channel(channel, since.date(), until.date() if until else None, settings=get_settings())
        except (ReconcileError, BindingError) as exc:
            fail(str(exc))
    if outcome.report is None:
        fail(f"reconciliation of channel {channel} failed: {outcome.error}")
    report = outcome.report
    if as_json:
        emit_json({"reconciliation": outcome.id, **report.as_dict()})
    else:
        click.echo(f"channel {report.channel}, {report.first_day} to {report.last_day} (Asia/Taipei): "
                   f"{report.outcome}")
        click.echo(f"  {'day':<10}  {'listed':>6} {'stored':>6} {'in ERP':>6} {'OMS took':>8}  differences")
        for day in report.days:
            reasons = ", ".join(f"{k} {v}" for k, v in sorted(day.reasons.items())) or "-"
            click.echo(f"  {day.day.isoformat():<10}  {_n(day.listed):>6} {day.stored:>6} {_n(day.in_erp):>6} "
                       f"{_n(day.oms_taken):>8}  {reasons}")
        click.echo(f"  {'total':<10}  {_n(report.listed):>6} {report.stored:>6} {_n(report.in_erp):>6} "
                   f"{_n(report.oms_taken):>8}")
        for diff in report.differences:
            click.echo(f"  {diff.order:<24} {diff.where:<11} {diff.reason:<12} {diff.detail}")
        for note in report.notes:
            click.echo(f"  note: {note}")
        click.echo(f"  API calls: marketplace {report.api_calls_marketplace}, ERP {report.api_calls_erp} "
                   f"(reconciliation {outcome.id})")
    if report.missing:
        sys.exit(1)
