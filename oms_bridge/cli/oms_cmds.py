"""OMS destination commands: ``oms settings``, ``oms rotate-token``, ``oms carriers``, ``oms packages``.

Tokens are stored hashed, so they can only be shown when they are made: ``oms settings`` rotates
every token (and says so) and prints the complete setup; ``rotate-token`` rotates one or more.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from channels.logistics import run_logistics_delivery
from oms_bridge.cli.common import cli_errors, emit_json, fail, json_option
from oms_bridge.oms import auth, carriers
from oms_bridge.oms.config import HMAC_SECRET_NAME, oms_config
from oms_bridge.oms.setup import render_text, setup_document
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, Order, Package
from oms_bridge.store.models.oms import OmsApiToken, OmsPackagePush, OmsWebhookEvent
from oms_bridge.store.outbox import rearm
from oms_bridge.vault import Vault
from platforms.registry import platform_types

__all__ = ["oms_group"]


@contextmanager
def _unit() -> Iterator[tuple[Session, Settings]]:
    with cli_errors():
        settings = get_settings()
        with session_scope(settings) as session:
            yield session, settings


@click.group("oms")
def oms_group() -> None:
    """The OMS (Akinon-style) destination: setup output, tokens, carriers, packages."""


@oms_group.command("settings")
@click.option("--base-url", help="URL the OMS reaches the bridge at (default: oms.public_base_url or base_url).")
@click.option("--omnitron-url", help="Omnitron URL for OMNITRON_CLIENT_SETTINGS.urls (default: the bridge URL).")
@click.option("--omnitron-username", help="Omnitron user for OMNITRON_CLIENT_SETTINGS.auth (password: fill in).")
@click.option("--hmac", "with_hmac", is_flag=True, help="Also enable webhook HMAC signatures with a new secret_key.")
@click.option("--rotate", is_flag=True,
              help="Required once tokens exist: make new tokens (the OMS's current ones stop working).")
@json_option
def settings_command(base_url: str | None, omnitron_url: str | None, omnitron_username: str | None,
                     with_hmac: bool, rotate: bool, as_json: bool) -> None:
    """Print the complete OMS setup (OMNITRON_CLIENT_SETTINGS, supplier_code, webhooks).

    Tokens are stored hashed, so they can only be printed when they are made: the first run makes
    them; later runs need ``--rotate``, because the OMS's current tokens stop working.
    """
    with _unit() as (session, settings):
        config = oms_config(settings)
        existing = session.scalars(select(OmsApiToken.endpoint).where(OmsApiToken.endpoint.in_(auth.TOKEN_NAMES))).all()
        if existing and not rotate:
            fail("the OMS already has tokens for this bridge and only their hashes are stored; printing the settings "
                 "means new tokens, and the OMS's current ones stop working until you enter the new ones. "
                 "Run `oms-bridge oms settings --rotate` to do that.")
        tokens = auth.rotate_many(session)
        secret = auth.rotate_hmac_secret(session, Vault.from_settings(settings)) if with_hmac else None
        if secret is None:
            secret = _existing_hmac(session, settings)
        url = base_url or config.public_base_url or settings.base_url
        doc = setup_document(config, url, tokens, secret_key=secret, omnitron_url=omnitron_url,
                             omnitron_username=omnitron_username)
    if as_json:
        emit_json(doc)
    else:
        click.echo(render_text(doc))


def _existing_hmac(session: Session, settings: Settings) -> str | None:
    """The current HMAC secret when signatures are on (it must appear in every subscription)."""
    row = session.scalars(select(OmsApiToken).where(OmsApiToken.endpoint == HMAC_SECRET_NAME)).one_or_none()
    if row is None or not row.secret_enc:
        return None
    return auth.hmac_secret(session, Vault.from_settings(settings))


@oms_group.command("rotate-token")
@click.option("--endpoint", "endpoints", multiple=True,
              help="Endpoint to rotate (repeatable; default: all). 'webhooks' is the webhook token.")
@json_option
def rotate_token_command(endpoints: tuple[str, ...], as_json: bool) -> None:
    """Replace endpoint tokens; prints the new ones (the old ones stop working)."""
    unknown = [e for e in endpoints if e not in auth.TOKEN_NAMES]
    if unknown:
        fail(f"unknown endpoint {unknown[0]!r}; known: {', '.join(auth.TOKEN_NAMES)}")
    with _unit() as (session, _settings):
        tokens = auth.rotate_many(session, endpoints or auth.TOKEN_NAMES)
    if as_json:
        emit_json({"rotated": tokens})
        return
    click.echo("New tokens (update them in the OMS now; the old ones no longer work):")
    for name, token in tokens.items():
        click.echo(f"  {name}: {token}")


@oms_group.group("carriers")
def carriers_group() -> None:
    """OMS cargo company → platform carrier table (used when pushing tracking numbers)."""


@carriers_group.command("list")
@click.option("--platform", "platform_type", help="Only this platform type.")
@json_option
def carriers_list(platform_type: str | None, as_json: bool) -> None:
    with _unit() as (session, _settings):
        rows = [{"platform_type": r.platform_type, "oms_carrier": r.oms_carrier,
                 "platform_carrier": r.platform_carrier} for r in carriers.list_carriers(session, platform_type)]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no carriers mapped; add one with `oms-bridge oms carriers set PLATFORM OMS_CARRIER CODE`")
    for r in rows:
        click.echo(f"{r['platform_type']:<10} {r['oms_carrier']:<30} -> {r['platform_carrier']}")


@carriers_group.command("set")
@click.argument("platform_type")
@click.argument("oms_carrier")
@click.argument("platform_carrier")
def carriers_set(platform_type: str, oms_carrier: str, platform_carrier: str) -> None:
    """Map OMS_CARRIER (cargo company name or erp_code) to the platform's PLATFORM_CARRIER."""
    if platform_type not in platform_types():
        fail(f"unknown platform type {platform_type!r}; known: {', '.join(platform_types())}")
    with _unit() as (session, _settings):
        try:
            rearmed = carriers.set_carrier(session, platform_type, oms_carrier, platform_carrier)
        except ValueError as exc:
            fail(str(exc))
    click.echo(f"{platform_type}: {oms_carrier} -> {platform_carrier}"
               + (f"; {rearmed} held shipment(s) will be pushed again" if rearmed else ""))


@carriers_group.command("remove")
@click.argument("platform_type")
@click.argument("oms_carrier")
def carriers_remove(platform_type: str, oms_carrier: str) -> None:
    with _unit() as (session, _settings):
        if not carriers.remove_carrier(session, platform_type, oms_carrier):
            fail(f"no carrier {oms_carrier!r} for {platform_type}")
    click.echo(f"removed {platform_type}: {oms_carrier}")


@oms_group.command("push-shipments")
@json_option
def push_shipments_command(as_json: bool) -> None:
    """Push due tracking numbers of shipped OMS packages to the marketplaces now (one logistics run)."""
    with cli_errors():
        stats = run_logistics_delivery()
    summary = {"run": stats.id, "outcome": stats.outcome, "due": stats.fetched, "sent": stats.sent,
               "held": stats.held, "retry": stats.failed, "api_calls": stats.api_calls}
    if as_json:
        emit_json(summary)
    else:
        click.echo("  ".join(f"{k}={v}" for k, v in summary.items()))
        if stats.held:
            click.echo("held shipments: see `oms-bridge oms shipments --held`")


@oms_group.command("shipments")
@click.option("--held", is_flag=True, help="Only shipments held or given up (dead), with the reason.")
@json_option
def shipments_command(held: bool, as_json: bool) -> None:
    """Logistics deliveries (tracking push-back) and their state."""
    with _unit() as (session, _settings):
        stmt = (select(Delivery, Order).join(Order, Delivery.oms_order_id == Order.id)
                .where(Delivery.destination == "logistics").order_by(Delivery.id.desc()).limit(200))
        if held:
            stmt = stmt.where(Delivery.state.in_(("held", "dead")))
        rows = [{"order_id": o.id, "order": o.external_id, "state": d.state, "attempts": d.attempts,
                 "tracking": d.external_ref, "reason": d.last_error} for d, o in session.execute(stmt)]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no held or dead shipments" if held else "no shipments yet (they appear when the OMS reports a "
                   "package shipped)")
    for r in rows:
        click.echo("  ".join(f"{k}={v}" for k, v in r.items() if v is not None))


@oms_group.command("retry-shipments")
@click.option("--order", "order_ids", type=int, multiple=True, help="Only this order id (repeatable).")
@click.option("--resend", is_flag=True,
              help="The marketplace shows these orders NOT shipped: send pushes whose earlier outcome was unknown "
                   "again (needs --order; without it an in-doubt push is read back or held, never re-sent).")
def retry_shipments_command(order_ids: tuple[int, ...], resend: bool) -> None:
    """Re-arm held, retrying and dead logistics deliveries (after fixing the cause)."""
    if resend and not order_ids:
        fail("--resend needs --order: check each order on the marketplace first, then name it")
    with _unit() as (session, _settings):
        cleared = 0
        if resend:
            cleared = session.execute(
                update(OmsPackagePush).where(OmsPackagePush.oms_order_id.in_(order_ids),
                                             OmsPackagePush.state == "pending",
                                             OmsPackagePush.attempted_at.is_not(None))
                .values(attempted_at=None).execution_options(synchronize_session=False)).rowcount or 0
        count = rearm(session, "logistics", order_ids=order_ids or None)
    click.echo(f"{count} shipment(s) re-armed; they are pushed on the next logistics run"
               + (f" ({cleared} push(es) whose earlier outcome was unknown will be sent again)" if resend else ""))


@oms_group.command("packages")
@click.option("--limit", default=50, show_default=True)
@click.option("--problems", is_flag=True, help="Only webhook events that were stale, unlinked or had an unknown state.")
@json_option
def packages_command(limit: int, problems: bool, as_json: bool) -> None:
    """Packages reported by the OMS, or (--problems) the webhook events that need a look."""
    with _unit() as (session, _settings):
        if problems:
            events = session.scalars(select(OmsWebhookEvent).where(OmsWebhookEvent.outcome != "applied")
                                     .order_by(OmsWebhookEvent.id.desc()).limit(limit)).all()
            rows = [{"received_at": e.received_at, "event_type": e.event_type, "uuid": e.event_uuid,
                     "package": e.package_external_id, "outcome": e.outcome, "message": e.message} for e in events]
        else:
            pkgs = session.scalars(select(Package).order_by(Package.id.desc()).limit(limit)).all()
            rows = [{"package": p.external_id, "order_number": p.order_number, "order_id": p.oms_order_id,
                     "state": p.state_code, "state_name": p.state_name, "tracking_number": p.tracking_number,
                     "carrier": p.carrier} for p in pkgs]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no webhook events that need a look" if problems else "no packages reported by the OMS yet")
    for r in rows:
        click.echo("  ".join(f"{k}={v}" for k, v in r.items() if v is not None))
