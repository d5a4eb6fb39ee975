"""ERP destination commands: erp connection/check/retry/deliver/status, sku map/unmap/list/import/unmapped.

Passwords are read from a hidden prompt, ``--password-stdin`` or ``OMS_BRIDGE_ERP_PASSWORD``, stored
encrypted (vault) and only ever shown masked. A fix re-arms exactly the held orders it cures:
``sku map`` → ``missing_sku:<SKU>`` (once the ERP has the product: :func:`oms_bridge.erp.sku_maps.verify`, as in
the web admin; ``--no-check`` skips it); ``erp connection add/update`` → ``erp_login:<NAME>`` and
``no_erp_connection``; a clean ``erp check`` → ``erp_config:*`` and ``erp_login:<NAME>``.
``erp deliver`` runs one delivery now (the scheduler does it every minute), so an admin working
from the CLI alone sees the effect of a fix without ``oms-bridge run``; it takes the scheduler's
ERP run lock (:func:`scheduler.locks.process_lock` ``"erp"``), so it never runs beside another
delivery. ``erp retry`` never touches an order a running delivery holds (its lease): it says how
many it left to that delivery. ``sku import`` reads
UTF-8 only and says so (Taiwanese Excel saves Big5 by default), and checks every row's product as ``sku map``
does (one lookup for the whole file; rows the ERP lacks are skipped, the others saved, as in the web import).
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from pathlib import Path
from typing import Any

import click
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from oms_bridge.cli.common import cli_errors, emit_json, fail, json_option, paint, read_secret, terminate_as_exit
from oms_bridge.erp.check import format_report, run_check
from oms_bridge.erp.check import setup_guide as guide
from oms_bridge.erp.check_mapping import DEFAULT_CURRENCY, MappingToCheck, check_mappings
from oms_bridge.erp.config import ChannelMapping, ErpConfigError, ErpOptions
from oms_bridge.erp.connections import (
    ErpConnectionError,
    check_url,
    clear_login_refusal,
    login_refusal,
    record_login_refusal,
    remove_connection,
    save_connection,
)
from oms_bridge.erp.delivery import client_for, resolve_connection, run_erp_delivery
from oms_bridge.erp.sku_maps import CSV_HEADER_HELP, NOT_FOUND, Checked, Mapping, parse_csv, save_mapping, verify
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, ErpConnection, Order, OrderLine, SkuMap, utcnow
from oms_bridge.store.problems import ProblemFilter, problem_groups
from oms_bridge.vault import Vault, mask
from scheduler.locks import process_lock

PASSWORD_ENV = "OMS_BRIDGE_ERP_PASSWORD"
_MARK_TONES = {"[ok]": "ok", "[?]": "warn", "[MISSING]": "bad", "[MAPPING]": "bad"}


@click.group("erp")
def erp_group() -> None:
    """The iDempiere destination."""


@click.group("sku")
def sku_group() -> None:
    """Marketplace SKU → iDempiere product mappings."""


# -- erp connection -------------------------------------------------------------------------------
@erp_group.group("connection")
def connection_group() -> None:
    """iDempiere login data (ADLoginRequest) per ERP server."""


def _read_password(password_stdin: bool, prompt: bool) -> str | None:
    """--password-stdin, else $OMS_BRIDGE_ERP_PASSWORD when set, else the hidden prompt."""
    from_env = not password_stdin and bool(os.environ.get(PASSWORD_ENV))
    return read_secret("iDempiere password", from_stdin=password_stdin, env_name=PASSWORD_ENV if from_env else None,
                       prompt=prompt and not password_stdin and not from_env)


def _parse_settings(settings_json: str | None, base: str | None = None) -> str | None:
    if settings_json is None:
        return base
    try:
        merged = {**(json.loads(base) if base else {}), **json.loads(settings_json)}
        return ErpOptions.from_json(json.dumps(merged)).to_json()
    except json.JSONDecodeError as exc:
        fail(f"--settings is not valid JSON: {exc}")
    except ErpConfigError as exc:
        fail(str(exc))


def _connection(session: Session, name: str | None) -> ErpConnection:
    if name:
        conn = session.scalars(select(ErpConnection).where(ErpConnection.value == name)).first()
        if conn is None:
            fail(f"no ERP connection named {name!r} (see: oms-bridge erp connection list)")
        return conn
    conns = session.scalars(select(ErpConnection)).all()
    if len(conns) != 1:
        fail("name the ERP connection with --connection" if conns else
             "no ERP connection yet: oms-bridge erp connection add NAME --url ...")
    return conns[0]


def _valid_url(url: str) -> None:
    try:
        check_url(url)
    except ErpConnectionError as exc:
        fail(str(exc))


def _describe(conn: ErpConnection) -> dict[str, Any]:
    return {"name": conn.value, "url": conn.url, "user": conn.username, "password": "****" if conn.password_enc else "",
            "client_id": conn.erp_client_id, "role_id": conn.erp_role_id, "org_id": conn.erp_org_id,
            "warehouse_id": conn.erp_warehouse_id, "lang": conn.lang, "stage": conn.stage,
            "settings": json.loads(conn.settings_json) if conn.settings_json else {}, "active": bool(conn.isactive)}


_CONN_OPTIONS = [
    click.option("--url", help="Base URL, e.g. https://erp:8443/ADInterface/services"),
    click.option("--user", "username", help="iDempiere user (a role with RoleType empty or WS)."),
    click.option("--client-id", type=int, help="AD_Client_ID (tenant)."),
    click.option("--role-id", type=int, help="AD_Role_ID."),
    click.option("--org-id", type=int, help="AD_Org_ID."),
    click.option("--warehouse-id", type=int, help="M_Warehouse_ID."),
    click.option("--lang", help="Login language (default en_US)."),
    click.option("--stage", type=int, help="Minutes the server may reuse the session (<=0: never)."),
    click.option("--settings", "settings_json", help="JSON options: service_types, cancel_doc_action, timezone, ..."),
    click.option("--password-stdin", is_flag=True,
                 help=f"Read the password from stdin (else ${PASSWORD_ENV} or a prompt)."),
]


def _conn_options(func_):
    for option in reversed(_CONN_OPTIONS):
        func_ = option(func_)
    return func_


@connection_group.command("add")
@click.argument("name")
@_conn_options
@json_option
def connection_add(name: str, url: str | None, username: str | None, client_id: int | None, role_id: int | None,
                   org_id: int | None, warehouse_id: int | None, lang: str | None, stage: int | None,
                   settings_json: str | None, password_stdin: bool, as_json: bool) -> None:
    """Add an ERP connection NAME."""
    required = {"--url": url, "--user": username, "--client-id": client_id, "--role-id": role_id,
                "--org-id": org_id, "--warehouse-id": warehouse_id}
    missing = [k for k, v in required.items() if v is None]
    if missing:
        fail(f"missing {', '.join(missing)}")
    _valid_url(url)
    with cli_errors():
        settings = get_settings()
        password = _read_password(password_stdin, prompt=True)
        vault = Vault.from_settings(settings)
        with session_scope(settings) as s:
            if s.scalars(select(ErpConnection).where(ErpConnection.value == name)).first():
                fail(f"ERP connection {name!r} exists; use: oms-bridge erp connection update {name}")
            options = json.loads(_parse_settings(settings_json) or "null")
            save_connection(s, vault, name, url=url, username=username, password=password, client_id=client_id,
                            role_id=role_id, org_id=org_id, warehouse_id=warehouse_id, lang=lang or "en_US",
                            stage=9 if stage is None else stage, settings=options)
            view = _describe(_connection(s, name))
    if as_json:
        emit_json(view)
        return
    click.echo(f"ERP connection {name} added (password {mask(password)}).")


@connection_group.command("update")
@click.argument("name")
@_conn_options
@click.option("--password", "change_password", is_flag=True, help="Change the password (prompt/stdin/env).")
@json_option
def connection_update(name: str, url: str | None, username: str | None, client_id: int | None, role_id: int | None,
                      org_id: int | None, warehouse_id: int | None, lang: str | None, stage: int | None,
                      settings_json: str | None, password_stdin: bool, change_password: bool, as_json: bool) -> None:
    """Change an ERP connection; orders held for its login are re-armed."""
    if url is not None:
        _valid_url(url)
    with cli_errors():
        settings = get_settings()
        with session_scope(settings) as s:
            conn = _connection(s, name)
            refused = login_refusal(conn)
            for attr, value in (("url", url and url.rstrip("/")), ("username", username),
                                ("erp_client_id", client_id), ("erp_role_id", role_id), ("erp_org_id", org_id),
                                ("erp_warehouse_id", warehouse_id), ("lang", lang), ("stage", stage)):
                if value is not None:
                    setattr(conn, attr, value)
            conn.settings_json = _parse_settings(settings_json, conn.settings_json)
            if change_password or password_stdin:
                conn.password_enc = Vault.from_settings(settings).encrypt(_read_password(password_stdin, True))
            rearmed = outbox.rearm_held(s, "erp", code=f"erp_login:{name}")
            rearmed += outbox.rearm_held(s, "erp", code="no_erp_connection")
            view = _describe(conn)
    if as_json:
        emit_json({**view, "rearmed": rearmed, "login_refusal_lifted": bool(refused)})
        return
    click.echo(f"ERP connection {name} updated." + (f" {rearmed} held order(s) re-armed." if rearmed else ""))
    if refused:  # the edit itself lifts it (oms_bridge.erp.connections.login_refusal)
        click.echo("Its refused login is lifted: the next delivery logs in again (oms-bridge erp check tries now).")


@connection_group.command("remove")
@click.argument("name")
@json_option
def connection_remove(name: str, as_json: bool) -> None:
    """Remove an ERP connection that no channel uses (move the channels first)."""
    with cli_errors(), session_scope(get_settings()) as s:
        try:
            remove_connection(s, name)
        except ErpConnectionError as exc:
            fail(str(exc))
    if as_json:
        emit_json({"removed": name})
        return
    click.echo(f"ERP connection {name} removed.")


@connection_group.command("list")
@json_option
def connection_list(as_json: bool) -> None:
    """List ERP connections (passwords masked)."""
    with cli_errors(), session_scope(get_settings()) as s:
        rows = [_describe(c) for c in s.scalars(select(ErpConnection).order_by(ErpConnection.value))]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no ERP connections")
    for r in rows:
        click.echo(f"{r['name']}\t{r['url']}\tuser={r['user']} client={r['client_id']} role={r['role_id']} "
                   f"org={r['org_id']} warehouse={r['warehouse_id']}")


@connection_group.command("show")
@click.argument("name")
@json_option
def connection_show(name: str, as_json: bool) -> None:
    """Show one ERP connection (password masked)."""
    with cli_errors(), session_scope(get_settings()) as s:
        data = _describe(_connection(s, name))
    if as_json:
        emit_json(data)
        return
    for key, value in data.items():
        click.echo(f"{key}: {json.dumps(value, ensure_ascii=False) if isinstance(value, dict) else value}")


# -- erp check / retry / status -------------------------------------------------------------------
def channel_currency(s: Session, channel: Channel) -> str:
    """The currency a channel sells in: its ``currency`` setting, else its stored orders' most common one, else TWD."""
    try:
        setting = (json.loads(channel.settings_json or "{}") or {}).get("currency")
    except ValueError:
        setting = None
    if setting:
        return str(setting).upper()
    common = s.execute(select(Order.currency, func.count()).where(Order.oms_channel_id == channel.id,
                                                                  Order.currency.is_not(None))
                       .group_by(Order.currency).order_by(func.count().desc()).limit(1)).first()
    return common[0].upper() if common else DEFAULT_CURRENCY


@erp_group.command("check")
@click.option("--connection", "name", help="ERP connection name (default: the only one).")
@click.option("--setup-guide", is_flag=True, help="Print the whole iDempiere setup without contacting the server.")
@json_option
def check_command(name: str | None, setup_guide: bool, as_json: bool) -> None:
    """Log in, probe every service type, check every channel's ERP mapping, and list everything still to fix.

    The mapping check reads the business partner, price list (and its currency), warehouse (and its
    organization), document type, order source and charges each channel names, and lists every
    problem at once. Nothing is written to the ERP. Exit code 1 while anything is left to fix.
    """
    if setup_guide:
        with cli_errors(), session_scope(get_settings()) as s:
            conns = s.scalars(select(ErpConnection)).all()
            conn = _connection(s, name) if (name or len(conns) == 1) else None
            options = ErpOptions.from_json(conn.settings_json) if conn else ErpOptions()
            text = guide(options, conn.erp_role_id if conn else "<your WS role>")
        if as_json:
            emit_json({"setup_guide": text})
        else:
            click.echo(text)
        return
    with cli_errors():
        settings = get_settings()
        with session_scope(settings) as s:
            conn = _connection(s, name)
            try:
                options = ErpOptions.from_json(conn.settings_json)
            except ErpConfigError as exc:
                fail(f"ERP connection {conn.value}: {exc}")
            client = client_for(conn, settings, options)
            served = [c for c in s.scalars(select(Channel).order_by(Channel.value))
                      if (found := resolve_connection(s, c)) is not None and found.id == conn.id]
            channels = [(c.id, c.value) for c in served]
            report = run_check(client, options, connection=conn.value, role_id=conn.erp_role_id, channels=channels)
            if report.logged_in:
                check_mappings(client, options, report,
                               [MappingToCheck(ChannelMapping.of(c), channel_currency(s, c), c.erp_org_id or
                                               conn.erp_org_id) for c in served])
            if report.login_error is not None:
                record_login_refusal(s, conn.id, report.login_error, utcnow())
            elif report.logged_in:
                clear_login_refusal(s, conn.id)
            rearmed = 0
            if report.services_ok:
                rearmed = outbox.rearm_held(s, "erp", code_prefix="erp_config:")
                rearmed += outbox.rearm_held(s, "erp", code=f"erp_login:{conn.value}")
    if as_json:
        emit_json({**report.as_dict(), "rearmed": rearmed})
        sys.exit(0 if report.ok else 1)
    for line in format_report(report).splitlines():
        tone = next((t for mark, t in _MARK_TONES.items() if line.startswith(mark)), None)
        click.echo(paint(line, tone) if tone else line)
    if rearmed:
        click.echo(f"{rearmed} held order(s) re-armed.")
    if not report.ok:
        sys.exit(1)


@erp_group.command("retry")
@click.option("--order", "order_number", help="Marketplace order number.")
@click.option("--channel", "channel_name", metavar="CHANNEL", help="All held/dead orders of this channel.")
@click.option("--all-held", is_flag=True, help="Every held or dead ERP delivery.")
@click.option("--sent", "include_sent", is_flag=True,
              help="Also deliveries recorded as sent (a reconciliation found them missing in the ERP); the "
                   "POReference pre-check still prevents a second copy.")
@json_option
def retry_command(order_number: str | None, channel_name: str | None, all_held: bool, include_sent: bool,
                  as_json: bool) -> None:
    """Put held/dead/retrying ERP deliveries back to pending."""
    if sum(bool(x) for x in (order_number, channel_name, all_held)) != 1:
        fail("give exactly one of --order NUMBER, --channel NAME, --all-held")
    states = ("held", "dead", "retry", "sent") if include_sent else ("held", "dead", "retry")
    with cli_errors(), session_scope(get_settings()) as s:
        ids: list[int] | None = None
        if all_held:
            count = outbox.rearm(s, "erp", states=states)
        else:
            query = select(Order.id)
            if order_number:
                query = query.where(Order.external_id == order_number)
            else:
                channel = s.scalars(select(Channel).where(Channel.value == channel_name)).first()
                if channel is None:
                    fail(f"no channel named {channel_name!r}")
                query = query.where(Order.oms_channel_id == channel.id)
            ids = list(s.scalars(query))
            if order_number and not ids:
                fail(f"no stored order {order_number!r}")
            count = outbox.rearm(s, "erp", order_ids=ids, states=states)
        in_flight = outbox.count_leased(s, "erp", order_ids=ids)
    if as_json:
        emit_json({"rearmed": count, "in_flight": in_flight})
        return
    click.echo(f"{count} ERP deliver{'y' if count == 1 else 'ies'} re-armed")
    if in_flight:
        click.echo(f"{in_flight} order(s) are being sent by a running delivery right now and were left to it "
                   "(oms-bridge erp status shows how they end)")


@erp_group.command("deliver")
@json_option
def deliver_command(as_json: bool) -> None:
    """Send every due ERP delivery now (what the scheduler does every minute), e.g. after `erp retry`."""
    with cli_errors(), terminate_as_exit():
        settings = get_settings()
        with process_lock(settings, "erp") as acquired:
            if not acquired:
                fail("another ERP delivery is running (the scheduler's, or another oms-bridge erp deliver); it "
                     "sends the due orders itself. Nothing was sent by this command; see: oms-bridge erp status")
            stats = run_erp_delivery(settings=settings)
    data = {"run": stats.id, "outcome": stats.outcome, "due": stats.fetched, "sent": stats.sent,
            "held": stats.held, "failed": stats.failed, "api_calls": stats.api_calls, "error": stats.error_text}
    if as_json:
        emit_json(data)
    else:
        click.echo(f"ERP delivery {stats.outcome}: due {stats.fetched}, sent {stats.sent}, held {stats.held}, "
                   f"failed {stats.failed}, SOAP calls {stats.api_calls} (run {stats.id})")
        if stats.error_text:
            click.echo(f"  {stats.error_text}")
        if stats.held or stats.failed:
            click.echo("  why orders are held or failed: oms-bridge erp status")
    if stats.outcome == "failed":
        sys.exit(1)


@erp_group.command("status")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1, 100000),
              help="Show at most this many hold reasons (most frequent first).")
@json_option
def status_command(limit: int, as_json: bool) -> None:
    """ERP delivery counts per state and the reasons orders are held."""
    with cli_errors(), session_scope(get_settings()) as s:
        states = dict(s.execute(select(Delivery.state, func.count()).where(Delivery.destination == "erp")
                                .group_by(Delivery.state)).all())
        # grouped by cause (oms_bridge.store.problems), never by the sentence with the order number inside
        held = problem_groups(s, ProblemFilter(destination="erp", state="held"), examples=True) + \
            problem_groups(s, ProblemFilter(destination="erp", state="dead"), examples=True)
        # Rows waiting to be retried (ERP down, timeouts) carry their error too; without it the admin
        # sees "retry 7" and no reason at all.
        retrying = problem_groups(s, ProblemFilter(destination="erp", state="retrying"), examples=True)
        in_flight = outbox.count_leased(s, "erp")
        refusals = {c.value: text for c in s.scalars(select(ErpConnection).order_by(ErpConnection.value))
                    if (text := login_refusal(c))}
    data = {"states": states, "in_flight": in_flight, "login_refused": refusals,
            "held_reasons": [_reason(g) for g in held], "retry_reasons": [_reason(g) for g in retrying]}
    if as_json:
        emit_json(data)
        return
    click.echo("ERP deliveries: " + (", ".join(f"{k} {v}" for k, v in sorted(states.items())) or "none"))
    for name, text in refusals.items():
        click.echo(f"  ERP connection {name}: login refused: {text}. Deliveries do not log in again until the "
                   f"connection is fixed (oms-bridge erp connection update {name} ...) or oms-bridge erp check "
                   "logs in.")
    if in_flight:
        click.echo(f"  ({in_flight} being sent by a running delivery right now)")
    if states.get("waiting"):
        click.echo("  (waiting: not paid yet on the marketplace; they go to the ERP once it reports them paid)")
    for item in data["held_reasons"][:limit]:
        dead = "gave up: " if item["state"] == "dead" else ""
        click.echo(f"  {item['orders']:>5}  {dead}{item['reason']}")
    rest = data["held_reasons"][limit:]
    if rest:
        click.echo(f"  ... and {len(rest)} more reason(s) for {sum(i['orders'] for i in rest)} order(s) "
                   f"(--limit N, or --json for all)")
    for item in data["retry_reasons"][:limit]:
        click.echo(f"  {item['orders']:>5}  retrying after: {item['reason']} (latest: {item['example']})")


def _reason(group: dict) -> dict:
    """A cause group as ``erp status`` shows it (``example``: the newest row's full text)."""
    return {"reason": group["label"], "orders": group["orders"], "state": group["state"], "cause": group["cause"],
            "subject": group["subject"], "since": group["since"], "example": group["example"]}


# -- sku ------------------------------------------------------------------------------------------
def _channel_id(s: Session, name: str | None) -> int:
    if not name:
        return 0
    channel = s.scalars(select(Channel).where(Channel.value == name)).first()
    if channel is None:
        fail(f"no channel named {name!r}")
    return channel.id


def _map_command(sku: str, product_id: int | None, value: str | None, channel_name: str | None) -> str:
    """The ``sku map`` line that maps this SKU again without the ERP check (the hint of a refusal)."""
    target = f"--product {product_id}" if product_id is not None else f"--value {shlex.quote(value or '')}"
    channel = f" --channel {shlex.quote(channel_name)}" if channel_name else ""
    return f"oms-bridge sku map {shlex.quote(sku)} {target}{channel} --no-check"


def _verify(settings: Settings, mappings: list[Mapping]) -> list[Checked]:
    """The products of these mappings looked up in the ERP (:func:`oms_bridge.erp.sku_maps.verify`, as the web
    admin), with no store transaction open while the ERP is asked."""
    return verify(settings, lambda: session_scope(settings, readonly=True), mappings)


@sku_group.command("map")
@click.argument("sku")
@click.option("--product", "product_id", type=click.IntRange(1, 2**31 - 1), help="M_Product_ID.")
@click.option("--value", help="M_Product.Value (search key), resolved at delivery time.")
@click.option("--channel", "channel_name", metavar="CHANNEL",
              help="Only for this channel (wins over the global mapping).")
@click.option("--no-check", is_flag=True,
              help="Save without looking the product up in the ERP (when the ERP cannot be reached).")
@json_option
def sku_map(sku: str, product_id: int | None, value: str | None, channel_name: str | None, no_check: bool,
            as_json: bool) -> None:
    """Map a marketplace SKU to an iDempiere product; re-arms the orders held for it.

    The product is first looked up in the ERP (the connection of --channel, else every active one), as the
    web admin does: a mapping to a product the ERP does not have is refused, so a typo cannot re-queue the
    held orders only to hold them again. When the ERP cannot be asked, --no-check saves it unchecked.
    """
    if (product_id is None) == (value is None):
        fail("give exactly one of --product ID or --value VALUE")
    data: dict[str, Any] = {"sku": sku, "m_product_id": product_id, "m_product_value": value,
                            "channel": channel_name, "checked": not no_check}
    with cli_errors():
        settings = get_settings()
        with session_scope(settings, readonly=True) as s:
            mapping = Mapping(sku, product_id, value, _channel_id(s, channel_name))
        checked = None if no_check else _verify(settings, [mapping])[0]
        if checked is not None and checked.problem:
            problem = checked.problem
            if checked.cause != NOT_FOUND:  # the ERP could not say: only the admin knows the product is right
                problem = (f"SKU {sku}: {problem}; to map it anyway, unchecked: "
                           f"{_map_command(sku, product_id, value, channel_name)}")
            if as_json:
                emit_json({**data, "saved": False, "cause": checked.cause, "problem": problem, "rearmed": 0})
                sys.exit(1)
            fail(problem)
        with session_scope(settings) as s:
            rearmed = save_mapping(s, mapping)
    if as_json:
        found = {"m_product_id": checked.product_id, "value": checked.value, "name": checked.name} if checked \
            else None
        emit_json({**data, "saved": True, "erp_product": found, "rearmed": rearmed})
        return
    click.echo(f"SKU {sku} → {mapping.target}" + (f" (channel {channel_name})" if channel_name else "") +
               (f"; iDempiere has {checked.found}" if checked else "; not checked in the ERP (--no-check)") +
               (f"; {rearmed} held order(s) re-armed" if rearmed else ""))


@sku_group.command("unmap")
@click.argument("sku")
@click.option("--channel", "channel_name", metavar="CHANNEL", help="Remove the channel-specific mapping only.")
@json_option
def sku_unmap(sku: str, channel_name: str | None, as_json: bool) -> None:
    """Remove a SKU mapping."""
    with cli_errors(), session_scope(get_settings()) as s:
        row = s.scalars(select(SkuMap).where(SkuMap.sku == sku,
                                             SkuMap.scope_channel_id == _channel_id(s, channel_name))).first()
        if row is None:
            fail(f"SKU {sku} has no mapping" + (f" on channel {channel_name}" if channel_name else ""))
        s.delete(row)
    if as_json:
        emit_json({"unmapped": sku, "channel": channel_name})
        return
    click.echo(f"SKU {sku} unmapped")


@sku_group.command("list")
@json_option
def sku_list(as_json: bool) -> None:
    """All SKU mappings."""
    with cli_errors(), session_scope(get_settings()) as s:
        names = {c.id: c.value for c in s.scalars(select(Channel))}
        rows = [{"sku": m.sku, "channel": names.get(m.scope_channel_id) if m.scope_channel_id else None,
                 "m_product_id": m.m_product_id, "m_product_value": m.m_product_value}
                for m in s.scalars(select(SkuMap).order_by(SkuMap.sku, SkuMap.scope_channel_id))]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no SKU mappings (oms-bridge sku map SKU --product ID | --value VALUE)")
    for r in rows:
        target = r["m_product_id"] if r["m_product_id"] is not None else f"value={r['m_product_value']}"
        click.echo(f"{r['sku']}\t{target}\t{r['channel'] or '(all channels)'}")


def _import_row(line_no: int, mapping: Mapping, channel: str | None, checked: Checked | None) -> dict[str, Any]:
    """One CSV row as ``sku import --json`` shows it: the fields of ``sku map --json`` plus its line (``saved``
    and ``rearmed`` are set once it is saved; a refused row has ``cause`` and ``problem``)."""
    row: dict[str, Any] = {"line": line_no, "sku": mapping.sku, "m_product_id": mapping.product_id,
                           "m_product_value": mapping.product_value, "channel": channel, "saved": False,
                           "rearmed": 0}
    if checked is not None and checked.problem:
        return {**row, "cause": checked.cause, "problem": checked.problem}
    found = {"m_product_id": checked.product_id, "value": checked.value, "name": checked.name} if checked else None
    return {**row, "erp_product": found}


@sku_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--no-check", is_flag=True,
              help="Import without looking the products up in the ERP (when the ERP cannot be reached).")
@json_option
def sku_import(file: Path, no_check: bool, as_json: bool) -> None:
    """Import mappings from CSV: header sku,m_product_id or sku,m_product_value (optional channel column).

    Every row's product is first looked up in the ERP, as `sku map` and the web import do (one query per
    ERP connection for all rows: a product named by many rows is asked for once). Not all-or-nothing, like
    the web import: bad rows and rows whose product the ERP does not have are reported with their line
    number and skipped; the other rows are imported and re-arm the orders held for their SKUs. Exit code 1
    when any row was skipped. When the ERP cannot be asked, nothing is imported; --no-check imports unchecked.
    """
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text (byte {exc.start}): save it as \"CSV UTF-8\" (Excel: Save As → CSV UTF-8), "
             "not Big5/ANSI")
    with cli_errors():
        settings = get_settings()
        with session_scope(settings, readonly=True) as s:
            channels = {c.value: c.id for c in s.scalars(select(Channel))}
        good, errors = parse_csv(text, channels)
        if not good and errors and errors[0].startswith(CSV_HEADER_HELP):
            fail(f"{file}: {errors[0]}")
        names = {cid: name for name, cid in channels.items()}
        checks = _verify(settings, [m for _line, m in good]) if good and not no_check else [None] * len(good)
        rows = [_import_row(line_no, m, names.get(m.scope), checked)
                for (line_no, m), checked in zip(good, checks, strict=True)]
        unasked = [c for c in checks if c is not None and c.problem and c.cause != NOT_FOUND]
        if unasked:  # the ERP could not say: only the admin knows whether the products are right
            problem = (f"{file}: {'; '.join(dict.fromkeys(c.problem for c in unasked))} ({len(unasked)} of "
                       f"{len(good)} row(s) could not be checked); to import it anyway, unchecked: "
                       f"oms-bridge sku import {shlex.quote(str(file))} --no-check")
            if as_json:
                emit_json({"file": str(file), "checked": True, "imported": 0, "skipped": len(good) + len(errors),
                           "rearmed": 0, "cause": unasked[0].cause, "problem": problem, "problems": errors,
                           "rows": rows})
                sys.exit(1)
            for message in errors:
                click.echo(message, err=True)
            fail(problem)
        with session_scope(settings) as s:
            for row, (line_no, mapping), checked in zip(rows, good, checks, strict=True):
                if checked is not None and checked.problem:
                    errors.append(f"line {line_no}: {checked.problem}")
                else:
                    row.update(saved=True, rearmed=save_mapping(s, mapping))
    imported = sum(1 for r in rows if r["saved"])
    rearmed = sum(r["rearmed"] for r in rows)
    if as_json:
        emit_json({"file": str(file), "checked": not no_check, "imported": imported, "skipped": len(errors),
                   "rearmed": rearmed, "problems": errors, "rows": rows})
        sys.exit(1 if errors else 0)
    for message in errors:
        click.echo(message, err=True)
    click.echo(f"{imported} mapping(s) imported, {len(errors)} row(s) skipped" +
               ("; not checked in the ERP (--no-check)" if no_check else "; products checked in the ERP") +
               (f"; {rearmed} held order(s) re-armed" if rearmed else ""))
    if errors:
        sys.exit(1)


@sku_group.command("unmapped")
@json_option
def sku_unmapped(as_json: bool) -> None:
    """SKUs that hold orders because no ERP product was found, with how many orders wait."""
    with cli_errors(), session_scope(get_settings()) as s:
        groups = [g for g in problem_groups(s, ProblemFilter(state="held", destination="erp", cause="sku_unmapped"))
                  if g["subject"]]
        names = {sku: name for sku, name in s.execute(select(OrderLine.sku, OrderLine.name).where(
            OrderLine.sku.in_([g["subject"] for g in groups])))}
    rows = [{"sku": g["subject"], "orders": g["orders"], "name": names.get(g["subject"])} for g in groups]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no held orders wait for a SKU mapping")
    for r in rows:
        click.echo(f"{r['sku']}\t{r['orders']} order(s)\t{r['name'] or ''}")
