"""GetOrder / RefreshToken commands: channel authorize, process run/runs, orders list/show/backfill.

Tables show times in Asia/Taipei (the admins' and merchants' zone); ``--json`` gives UTC ISO 8601.
Every failure an admin can act on is one clear line (exit code 1), never a traceback.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import click
from sqlalchemy import select

from channels.authorization import (
    AuthorizationError,
    authorization_link_validity,
    check_credentials,
    start_authorization,
)
from channels.backfill import backfill_range, run_backfill
from channels.binding import BindingError, load_channel, needs_token_refresh
from channels.cancel_answers import run_cancel_answers
from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from channels.tokens import TAIPEI
from oms_bridge.cli import invoked_at
from oms_bridge.cli.common import (
    channel_option,
    cli_errors,
    deprecated_positional,
    emit_json,
    fail,
    json_option,
    paint,
    pick_channel,
    terminate_as_exit,
)
from oms_bridge.settings import get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order, ProcessRun, utcnow
from oms_bridge.store.orders import OrderNotFound, list_orders, order_detail
from oms_bridge.store.outbox import rearm
from oms_bridge.store.runs import RunStats, effective_outcome
from oms_bridge.vault import Vault
from platforms.base import CANONICAL_STATUSES, PlatformError

__all__ = ["authorize_command", "process_group", "orders_group"]

COUNTS = ("fetched", "new", "changed", "unchanged", "held", "api_calls")
BAD_OUTCOMES = ("failed", "reauth_required", "interrupted")


@contextmanager
def _errors() -> Iterator[None]:
    with cli_errors():
        try:
            yield
        except (BindingError, AuthorizationError, OrderNotFound) as exc:
            fail(str(exc))
        except PlatformError as exc:  # e.g. a channel setting the adapter refuses (auth_model 'bogus')
            fail(f"{exc} (fix it with `oms-bridge channel update ... --settings-json`)")


def _num(value: Any) -> str:
    """A Decimal as an admin reads it: ``1680``, ``590.5`` - the same on SQLite and PostgreSQL.

    PostgreSQL's NUMERIC(…, 6) hands back ``1680.000000``; SQLite what was stored. Never ``1.68E+3``.
    """
    if value is None:
        return "-"
    if not isinstance(value, Decimal):
        return str(value)
    return format(value.quantize(Decimal(1)) if value == value.to_integral_value() else value.normalize(), "f")


def _tone(outcome: str) -> str:
    """The colour of a run outcome: bad ones red, partial ones yellow, the rest green."""
    return "bad" if outcome in BAD_OUTCOMES else "ok" if outcome in ("success", "ok", "completed") else "warn"


def _local(when: datetime | None) -> str:
    return when.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M:%S") if when else "-"


# ------------------------------------------------------------------------------------ authorize
@click.command("authorize")
@click.argument("name", metavar="CHANNEL")
@click.option("--redirect-uri", help="Callback URL the marketplace returns to (default: <base_url>/oauth/callback/"
                                     "<platform>).")
@json_option
def authorize_command(name: str, redirect_uri: str | None, as_json: bool) -> None:
    """Authorize a channel: print the marketplace approval link (OAuth), or check its credentials.

    OAuth: the marketplace sends the merchant back to <base_url>/oauth/callback/<platform>, so the
    bridge must be running (`oms-bridge run`) and reachable at base_url before the link is opened.
    """
    with _errors():
        settings = get_settings()
        with session_scope(settings, readonly=True) as session:
            oauth = needs_token_refresh(load_channel(session, name), session, vault=Vault.from_settings(settings))
        if oauth:
            url = start_authorization(name, redirect_uri, settings=settings)
            validity = authorization_link_validity(name, settings=settings)
            if as_json:
                emit_json({"channel": name, "oauth": True, "url": url, "valid": validity,
                           "returns_to": redirect_uri or settings.base_url})
                return
            click.echo(f"The marketplace returns the merchant to {redirect_uri or settings.base_url}: `oms-bridge "
                       "run` must be running and reachable there, or the approval is lost.", err=True)
            click.echo(f"Have the merchant of channel {name} open this link and approve the app ({validity}):")
            click.echo(url)
            return
        ok, message = check_credentials(name, settings=settings)
    if not ok:
        fail(message)
    if as_json:
        emit_json({"channel": name, "oauth": False, "ok": True, "message": message})
        return
    click.echo(message)


# ---------------------------------------------------------------------------------------- process
@click.group("process")
def process_group() -> None:
    """Run and inspect the GetOrder / RefreshToken processes."""


def _channel_ids(names: tuple[str, ...], all_: bool) -> list[tuple[int, str]]:
    settings = get_settings()
    with session_scope(settings, readonly=True) as session:
        if all_:
            active = Channel.isactive.is_(True)
            rows = session.execute(select(Channel.id, Channel.value).where(active).order_by(Channel.value)).all()
            return [(r[0], r[1]) for r in rows]
        return [(load_channel(session, n).id, n) for n in names]


def _stats_dict(stats: RunStats, channel: str) -> dict[str, Any]:
    return {"run": stats.id, "process": stats.process, "channel": channel, "outcome": stats.outcome,
            "window_from": stats.window_from, "window_to": stats.window_to,
            **{n: getattr(stats, n) for n in COUNTS}, "error": stats.error_text,
            "warnings": stats.details.get("warnings", [])}


def _stats_line(stats: RunStats, channel: str) -> str:
    names = ("api_calls",) if stats.process == "refreshtoken" else COUNTS
    counts = ", ".join(f"{n.replace('_', ' ')} {getattr(stats, n)}" for n in names)
    line = f"{channel}: {stats.process} {stats.outcome} ({counts}; run {stats.id})"
    if stats.error_text:
        line += f"\n  {stats.error_text}"
    for warning in stats.details.get("warnings", []):
        line += f"\n  warning: {warning}"
    return line


@process_group.command("run")
@click.argument("process", type=click.Choice(["getorder", "refreshtoken"]))
@click.option("--channel", "channels", metavar="CHANNEL", multiple=True, help="Channel name (repeatable).")
@click.option("--all", "all_", is_flag=True, help="Every active channel.")
@click.option("--force", is_flag=True, help="refreshtoken: refresh even when the token is not due yet.")
@json_option
def process_run(process: str, channels: tuple[str, ...], all_: bool, force: bool, as_json: bool) -> None:
    """Run GetOrder or RefreshToken now for one channel, several, or all."""
    if not channels and not all_:
        fail("name a channel with --channel NAME, or use --all")
    if channels and all_:
        fail("use either --channel or --all, not both")
    with _errors(), terminate_as_exit():
        settings = get_settings()
        results = []
        for channel_id, name in _channel_ids(channels, all_):
            if process == "getorder":
                stats = run_getorder(channel_id, settings=settings)
            else:
                stats = run_refreshtoken(channel_id, settings=settings, force=force,
                                         requested_at=invoked_at())
            results.append((stats, name))
    if as_json:
        emit_json([_stats_dict(s, n) for s, n in results])
    else:
        if not results:
            click.echo("no active channels")
        for stats, name in results:
            click.echo(_stats_line(stats, name))
    if any(s.outcome in BAD_OUTCOMES for s, _ in results):
        raise SystemExit(1)


@process_group.command("runs")
@click.option("--channel", metavar="CHANNEL", help="Only this channel.")
@click.option("--process", "process", help="Only this process (getorder, refreshtoken, backfill, ...).")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 10000))
@json_option
def process_runs(channel: str | None, process: str | None, limit: int, as_json: bool) -> None:
    """Recent runs, newest first: outcome, counts and the error an admin must read."""
    with _errors():
        settings, now = get_settings(), utcnow()
        with session_scope(settings, readonly=True) as session:
            stmt = (select(ProcessRun, Channel.value).outerjoin(Channel, Channel.id == ProcessRun.oms_channel_id)
                    .order_by(ProcessRun.id.desc()).limit(limit))
            if channel:
                stmt = stmt.where(ProcessRun.oms_channel_id == load_channel(session, channel).id)
            if process:
                stmt = stmt.where(ProcessRun.process == process)
            rows = session.execute(stmt).all()
    data = [{"run": r.id, "process": r.process, "channel": chan, "started": r.started, "ended": r.ended,
             "outcome": effective_outcome(r, settings, now), "window_from": r.window_from, "window_to": r.window_to,
             **{n: getattr(r, n) for n in COUNTS}, "error": r.error_text,
             "warnings": json.loads(r.details_json or "{}").get("warnings", [])} for r, chan in rows]
    if as_json:
        emit_json(data)
        return
    if not data:
        click.echo("no runs yet")
        return
    width = max(12, *(len(d["process"]) for d in data))  # logistics_delivery is longer than getorder
    click.echo(f"{'run':>6}  {'process':<{width}} {'channel':<16} {'started (Taipei)':<19}  {'outcome':<15} "
               f"{'fetched':>7} {'new':>5} {'chg':>5} {'same':>5} {'held':>4} {'calls':>5}")
    for d in data:
        outcome = paint(f"{d['outcome']:<15}", _tone(d["outcome"]))
        click.echo(f"{d['run']:>6}  {d['process']:<{width}} {(d['channel'] or '-'):<16} {_local(d['started']):<19}  "
                   f"{outcome} {d['fetched']:>7} {d['new']:>5} {d['changed']:>5} {d['unchanged']:>5} "
                   f"{d['held']:>4} {d['api_calls']:>5}")
        if d["error"]:
            click.echo(f"{'':>8}{d['error']}")
        for warning in d["warnings"]:
            click.echo(f"{'':>8}warning: {warning}")


# ----------------------------------------------------------------------------------------- orders
@click.group("orders")
def orders_group() -> None:
    """Orders in the bridge's store."""


@orders_group.command("list")
@click.option("--channel", metavar="CHANNEL", help="Only this channel.")
@click.option("--status", type=click.Choice(CANONICAL_STATUSES), help="Only this canonical status.")
@click.option("--held/--not-held", default=None, help="Only held (unmappable) orders, or only the others.")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100000))
@json_option
def orders_list(channel: str | None, status: str | None, held: bool | None, limit: int, as_json: bool) -> None:
    """Newest orders first."""
    with _errors():
        with session_scope(get_settings(), readonly=True) as session:
            if channel:
                load_channel(session, channel)  # a clear error for a wrong name
            rows = list_orders(session, channel=channel, status=status, held=held, limit=limit)
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no orders")
        return
    click.echo(f"{'number':<26} {'channel':<16} {'status':<14} {'created (Taipei)':<19}  {'total':>12} {'v':>3}  held")
    for r in rows:
        total = f"{_num(r['total'])} {r['currency'] or ''}".strip() if r["total"] is not None else "-"
        flag = "HELD: " + (r["held_reason"] or "") if r["held"] else ("CANCEL REQUESTED" if r["cancel_request"] else "")
        click.echo(f"{r['number']:<26} {r['channel']:<16} {(r['status'] or '-'):<14} {_local(r['created']):<19}  "
                   f"{total:>12} {r['version']:>3}  {flag}")


@orders_group.command("show")
@click.argument("number")
@click.option("--channel", metavar="CHANNEL", help="The channel, when the number exists in several.")
@json_option
def orders_show(number: str, channel: str | None, as_json: bool) -> None:
    """One order: lines, status history, delivery states, and why it is held."""
    with _errors():
        with session_scope(get_settings(), readonly=True) as session:
            d = order_detail(session, number, channel=channel)
    if as_json:
        emit_json(d)
        return
    click.echo(f"Order {d['number']} ({d['channel']}), version {d['version']}")
    if d["held"]:
        click.echo(f"  HELD: {d['held_reason']}")
    click.echo(f"  status:   {d['status']} ({d['platform_status']})")
    click.echo(f"  created:  {_local(d['created'])} Taipei   updated: {_local(d['updated'])} Taipei")
    click.echo(f"  total:    {_num(d['total'])} {d['currency'] or ''}  "
               f"shipping {_num(d['shipping_fee'])}  discount {_num(d['discount'])}")
    click.echo(f"  buyer:    {d['buyer'] or '-'}")
    ship = d["ship_to"]
    click.echo(f"  ship to:  {ship['name'] or '-'} {ship['phone'] or ''} "
               f"{ship['zip'] or ''} {ship['city'] or ''}{ship['district'] or ''} {ship['address1'] or ''}".rstrip())
    click.echo("  lines:")
    for ln in d["lines"]:
        click.echo(f"    {ln['line']:>4} {ln['sku'] or '-':<20} {ln['name'] or '':<30} "
                   f"{_num(ln['qty'])} x {_num(ln['unit_price'])}")
    click.echo("  status history:")
    for h in d["history"]:
        click.echo(f"    {_local(h['at'])}  {h['status']} ({h['platform_status']})")
    for rq in d["cancel_requests"]:
        _echo_cancel_request(rq)
    click.echo("  deliveries:")
    if not d["deliveries"]:
        click.echo("    none")
    for dl in d["deliveries"]:
        extra = f"  {dl['last_error']}" if dl["last_error"] else ""
        click.echo(f"    {dl['destination']:<10} {dl['state']:<8} {dl['action'] or '':<7} "
                   f"version {dl['version']} (delivered {dl['delivered_version'] or '-'}){extra}")


def _echo_cancel_request(rq: dict[str, Any]) -> None:
    """One cancellation request of ``orders show``: state, reason, decision and answer (times in Taipei)."""
    allowed = {True: "yes", False: "NO (the marketplace does not allow an answer yet)", None: "not said"}[rq["allowed"]]
    click.echo(f"  cancellation request: {rq['state'].upper()} (seen {_local(rq['seen_at'])} Taipei)")
    click.echo(f"    reason:   {rq['reason'] or '-'}   answer allowed: {allowed}")
    if rq["decision"]:
        click.echo(f"    decision: {rq['decision']} at {_local(rq['decided_at'])} Taipei: {rq['decision_note'] or ''}")
    if rq["answer_unknown"]:
        click.echo("    the last answer's reply was lost: the next attempt reads the marketplace before answering")
    if rq["answered_at"] or rq["outcome"]:
        at = _local(rq["answered_at"] or rq["closed_at"])
        click.echo(f"    outcome:  {rq['outcome'] or '-'} at {at} Taipei: {rq['outcome_note'] or ''}")


@orders_group.command("answer-requests")
@json_option
def orders_answer_requests(as_json: bool) -> None:
    """Answer due cancellation / stop-shipping requests now (one cancel-answers run)."""
    with _errors():
        stats = run_cancel_answers()
    summary = {"run": stats.id, "outcome": stats.outcome, "due": stats.fetched, "answered": stats.sent,
               "held": stats.held, "retry": stats.failed, "api_calls": stats.api_calls}
    if as_json:
        emit_json(summary)
    else:
        click.echo("  ".join(f"{k}={v}" for k, v in summary.items()))
        if stats.held:
            click.echo("held answers: see `oms-bridge orders list` and `oms-bridge orders show <number>`")
    if stats.outcome in BAD_OUTCOMES:
        raise SystemExit(1)


@orders_group.command("retry-answers")
@click.argument("numbers", nargs=-1)
@json_option
def orders_retry_answers(numbers: tuple[str, ...], as_json: bool) -> None:
    """Re-arm held, retrying and dead cancellation answers (all, or these order numbers) after fixing the cause."""
    with _errors():
        with session_scope(get_settings()) as session:
            ids = list(session.scalars(select(Order.id).where(Order.external_id.in_(numbers)))) if numbers else None
            count = rearm(session, "cancel_answer", order_ids=ids)
    if as_json:
        emit_json({"rearmed": count})
        return
    click.echo(f"{count} cancellation answer(s) re-armed; they are sent on the next cancel-answers run")


@orders_group.command("backfill")
@channel_option
@deprecated_positional("legacy_channel")
@click.option("--since", required=True, type=click.DateTime(["%Y-%m-%d"]), help="First day (Asia/Taipei).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Last day, inclusive (Asia/Taipei; default now).")
@click.option("--window-days", default=1, show_default=True, type=click.IntRange(1, 60),
              help="Checkpoint every this many days.")
@json_option
def orders_backfill(channel: str | None, legacy_channel: str | None, since: datetime, until: datetime | None,
                    window_days: int, as_json: bool) -> None:
    """Read past orders of a channel; resumable (run the same command again after an interruption)."""
    channel = pick_channel(channel, legacy_channel, "orders backfill CHANNEL", "orders backfill --channel CHANNEL")
    if until is not None and until < since:
        fail("--until is before --since")
    with _errors():
        settings = get_settings()
        with session_scope(settings) as session:
            channel_id = load_channel(session, channel).id
        start, end = backfill_range(since.date(), until.date() if until else None, utcnow())
        if start >= end:
            fail("nothing to backfill: the range starts in the future")
        with terminate_as_exit(), click.progressbar(length=1, label=f"backfill {channel}", show_pos=True,
                                                    file=sys.stderr) as bar:
            def progress(done: int, total: int) -> None:
                bar.length = total
                bar.update(done - bar.pos)

            stats = run_backfill(channel_id, start, end, settings=settings, window=timedelta(days=window_days),
                                 progress=progress)
    if as_json:
        emit_json(_stats_dict(stats, channel))
    else:
        click.echo(_stats_line(stats, channel))
        if stats.details.get("resumed_from"):
            click.echo(f"  resumed from {_local(datetime.fromisoformat(stats.details['resumed_from']))} Taipei")
    if stats.outcome in BAD_OUTCOMES:
        raise SystemExit(1)
