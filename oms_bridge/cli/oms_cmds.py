"""OMS destination commands: ``oms settings``, ``oms rotate-token``, ``oms carriers``, ``oms packages``,
``oms products`` (SKU → Omnitron product id), ``oms push-auth`` / ``push-orders`` / ``deliveries`` /
``retry-orders`` (order delivery to the OMS).

Tokens are stored hashed, so they can only be shown when they are made: ``oms settings`` rotates
every token (and says so) and prints the complete setup; ``rotate-token`` rotates one or more.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from channels.logistics import run_logistics_delivery
from oms_bridge.cli.common import cli_errors, emit_json, fail, json_option, read_secret
from oms_bridge.oms import auth, carriers, products
from oms_bridge.oms.config import (
    HMAC_SECRET_NAME,
    PUSH_SECRET_NAME,
    PUSH_TOKEN_NAME,
    SIGNATURE_HEADER,
    OmsConfig,
    oms_config,
)
from oms_bridge.oms.push import AUTH_HOLD, run_oms_delivery
from oms_bridge.oms.setup import WEBHOOK_AUTH_MODES, render_text, setup_document
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, Order, Package
from oms_bridge.store.models.oms import OmsApiToken, OmsPackagePush, OmsWebhookEvent
from oms_bridge.store.outbox import rearm, rearm_held
from oms_bridge.vault import Vault, mask
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
@click.option("--webhook-auth", type=click.Choice(WEBHOOK_AUTH_MODES), default="header", show_default=True,
              help="How the webhooks carry their token: additional_headers (Token) or whisperer config.auth basic.")
@click.option("--new-secret", "--hmac", "new_secret", is_flag=True,
              help="Make a new webhook secret_key (signatures: X-Whisperer-Signature); one is made when none exists.")
@click.option("--no-signature", is_flag=True, help="Do not sign the webhooks (removes the secret_key; not advised).")
@click.option("--rotate", is_flag=True,
              help="Required once tokens exist: make new tokens (the OMS's current ones stop working).")
@json_option
def settings_command(base_url: str | None, omnitron_url: str | None, omnitron_username: str | None,
                     webhook_auth: str, new_secret: bool, no_signature: bool, rotate: bool, as_json: bool) -> None:
    """Print the complete OMS setup (OMNITRON_CLIENT_SETTINGS, supplier_code, webhook subscriptions).

    Tokens are stored hashed, so they can only be printed when they are made: the first run makes
    them; later runs need ``--rotate``, because the OMS's current tokens stop working. Webhooks are
    signed as dj-whisperer signs them (``secret_key`` → ``X-Whisperer-Signature``) unless
    ``--no-signature``.
    """
    if new_secret and no_signature:
        fail("give --new-secret or --no-signature, not both")
    with _unit() as (session, settings):
        config = oms_config(settings)
        existing = session.scalars(select(OmsApiToken.endpoint).where(OmsApiToken.endpoint.in_(auth.TOKEN_NAMES))).all()
        if existing and not rotate:
            fail("the OMS already has tokens for this bridge and only their hashes are stored; printing the settings "
                 "means new tokens, and the OMS's current ones stop working until you enter the new ones. "
                 "Run `oms-bridge oms settings --rotate` to do that.")
        tokens = auth.rotate_many(session)
        vault = Vault.from_settings(settings)
        if no_signature:
            auth.clear_secret(session, HMAC_SECRET_NAME)
            secret = None
        else:
            secret = None if new_secret else auth.hmac_secret(session, vault)
            secret = secret or auth.rotate_hmac_secret(session, vault)
        url = base_url or config.public_base_url or settings.base_url
        doc = setup_document(config, url, tokens, secret_key=secret, omnitron_url=omnitron_url,
                             omnitron_username=omnitron_username, webhook_auth=webhook_auth,
                             push=_push_summary(session, config) if config.order_notify == "push" else None)
    if as_json:
        emit_json(doc)
    else:
        click.echo(render_text(doc))


def _push_summary(session: Session, config: OmsConfig) -> dict:
    """Where order events go and whether their credentials are set (never the secrets themselves)."""
    stored = {r.endpoint: bool(r.secret_enc) for r in session.scalars(select(OmsApiToken).where(
        OmsApiToken.endpoint.in_((PUSH_TOKEN_NAME, PUSH_SECRET_NAME))))}
    return {"order.created": config.push_target("order.created"), "order.updated": config.push_target("order.updated"),
            "token": stored.get(PUSH_TOKEN_NAME, False), "secret": stored.get(PUSH_SECRET_NAME, False),
            "signature_header": SIGNATURE_HEADER}


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
    """The OMS cargo company → platform carrier table."""
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
@json_option
def carriers_set(platform_type: str, oms_carrier: str, platform_carrier: str, as_json: bool) -> None:
    """Map OMS_CARRIER (cargo company name or erp_code) to the platform's PLATFORM_CARRIER."""
    if platform_type not in platform_types():
        fail(f"unknown platform type {platform_type!r}; known: {', '.join(platform_types())}")
    with _unit() as (session, _settings):
        try:
            rearmed = carriers.set_carrier(session, platform_type, oms_carrier, platform_carrier)
        except ValueError as exc:
            fail(str(exc))
    if as_json:
        emit_json({"platform_type": platform_type, "oms_carrier": oms_carrier, "platform_carrier": platform_carrier,
                   "rearmed": rearmed})
        return
    click.echo(f"{platform_type}: {oms_carrier} -> {platform_carrier}"
               + (f"; {rearmed} held shipment(s) will be pushed again" if rearmed else ""))


@carriers_group.command("remove")
@click.argument("platform_type")
@click.argument("oms_carrier")
@json_option
def carriers_remove(platform_type: str, oms_carrier: str, as_json: bool) -> None:
    """Remove the mapping of OMS_CARRIER for PLATFORM_TYPE."""
    with _unit() as (session, _settings):
        if not carriers.remove_carrier(session, platform_type, oms_carrier):
            fail(f"no carrier {oms_carrier!r} for {platform_type}")
    if as_json:
        emit_json({"removed": {"platform_type": platform_type, "oms_carrier": oms_carrier}})
        return
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
@json_option
def retry_shipments_command(order_ids: tuple[int, ...], resend: bool, as_json: bool) -> None:
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
    if as_json:
        emit_json({"rearmed": count, "resend": cleared})
        return
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


# -- Omnitron product ids -------------------------------------------------------------------------
@oms_group.group("products")
def products_group() -> None:
    """Marketplace SKU → Omnitron product id (served as order items' product.pk)."""


@products_group.command("map")
@click.argument("sku")
@click.argument("product_id", type=int)
@json_option
def products_map(sku: str, product_id: int, as_json: bool) -> None:
    """Map SKU to the Omnitron product id PRODUCT_ID; re-arms the orders held for it."""
    with _unit() as (session, _settings):
        try:
            rearmed = products.set_product(session, sku, product_id)
        except ValueError as exc:
            fail(str(exc))
    if as_json:
        emit_json({"sku": sku.strip(), "omnitron_product_id": product_id, "rearmed": rearmed})
        return
    click.echo(f"SKU {sku.strip()} → Omnitron product {product_id}"
               + (f"; {rearmed} held order(s) queued again for the OMS" if rearmed else ""))


@products_group.command("unmap")
@click.argument("sku")
@json_option
def products_unmap(sku: str, as_json: bool) -> None:
    """Remove a SKU's product id (its items are served with product.pk = null again)."""
    with _unit() as (session, _settings):
        if not products.remove_product(session, sku):
            fail(f"SKU {sku} has no Omnitron product id")
    if as_json:
        emit_json({"unmapped": sku})
        return
    click.echo(f"SKU {sku} unmapped")


@products_group.command("list")
@click.option("--unmapped", is_flag=True,
              help="SKUs without a product id in orders the OMS has not acknowledged yet, with how many orders.")
@json_option
def products_list(unmapped: bool, as_json: bool) -> None:
    """The SKU → Omnitron product id map, or (--unmapped) what is missing from it."""
    with _unit() as (session, settings):
        if unmapped:
            rows = products.unmapped_report(session)
            policy = oms_config(settings).product_reference
        else:
            rows = [{"sku": r.sku, "omnitron_product_id": r.omnitron_product_id}
                    for r in products.list_products(session)]
    if as_json:
        emit_json(rows)
        return
    if unmapped:
        if not rows:
            click.echo("every SKU of the orders waiting for the OMS has an Omnitron product id")
        for r in rows:
            held = f", {r['held']} held" if r["held"] else ""
            click.echo(f"{r['sku'] or '(no SKU)'}\t{r['orders']} order(s){held}\t{r['name'] or ''}")
        if rows:
            click.echo(f"(oms.product_reference = {policy}; map with `oms-bridge oms products map SKU ID` or import a "
                       "CSV)", err=True)
        return
    if not rows:
        click.echo("no Omnitron product ids mapped (oms-bridge oms products map SKU ID | import FILE.csv)")
    for r in rows:
        click.echo(f"{r['sku']}\t{r['omnitron_product_id']}")


@products_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def products_import(file: Path, as_json: bool) -> None:
    """Import a CSV with the header sku,omnitron_product_id (UTF-8). Bad rows are reported by line and skipped."""
    try:
        text = file.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        fail(f"{file} is not UTF-8 text (byte {exc.start}): save it as \"CSV UTF-8\" (Excel: Save As → CSV UTF-8)")
    rows, errors = products.parse_csv(text)
    if not rows and errors and errors[0].startswith("the header"):
        fail(f"{file}: {errors[0]}")
    rearmed = 0
    with _unit() as (session, _settings):
        for row in rows:
            rearmed += products.set_product(session, row.sku, row.product_id)
    if as_json:
        emit_json({"imported": len(rows), "problems": errors, "rearmed": rearmed})
        sys.exit(1 if errors else 0)
    for message in errors:
        click.echo(message, err=True)
    click.echo(f"{len(rows)} product id(s) imported, {len(errors)} problem(s)"
               + (f"; {rearmed} held order(s) queued again for the OMS" if rearmed else ""))
    if errors:
        sys.exit(1)


# -- order delivery to the OMS --------------------------------------------------------------------
@oms_group.command("push-auth")
@click.option("--token-stdin", is_flag=True, help="Read the OMS API token (Authorization: Token …) from stdin.")
@click.option("--token-env", metavar="NAME", help="Read the OMS API token from this environment variable.")
@click.option("--prompt-token", is_flag=True, help="Ask for the OMS API token (hidden input).")
@click.option("--clear-token", is_flag=True, help="Send no Authorization header.")
@click.option("--new-secret", is_flag=True, help="Make a signing secret (printed once) for X-Whisperer-Signature.")
@click.option("--secret-env", metavar="NAME", help="Use the OMS's signing secret from this environment variable.")
@click.option("--clear-secret", is_flag=True, help="Send the events unsigned.")
@json_option
def push_auth_command(token_stdin: bool, token_env: str | None, prompt_token: bool, clear_token: bool,
                      new_secret: bool, secret_env: str | None, clear_secret: bool, as_json: bool) -> None:
    """Credentials of the order push (oms.order_notify = "push"), stored encrypted.

    The token goes out as `Authorization: Token <token>` (Akinon's API convention); the secret signs
    every event as dj-whisperer does. Setting a token re-arms orders held for refused credentials.
    """
    token = read_secret("OMS API token", from_stdin=token_stdin, env_name=token_env, prompt=prompt_token)
    if sum([token is not None, clear_token]) > 1 or sum([new_secret, bool(secret_env), clear_secret]) > 1:
        fail("give each of the token and the secret one way only")
    secret = read_secret("signing secret", env_name=secret_env) if secret_env else None
    if new_secret:
        secret = secrets.token_urlsafe(32)
    if token is None and secret is None and not clear_token and not clear_secret:
        fail("nothing to do: give --token-stdin/--token-env/--prompt-token, --new-secret/--secret-env, or --clear-*")
    with _unit() as (session, settings):
        vault = Vault.from_settings(settings)
        rearmed = 0
        if token is not None:
            auth.store_secret(session, vault, PUSH_TOKEN_NAME, token.strip())
            rearmed = rearm_held(session, "oms", code=AUTH_HOLD)
        if clear_token:
            auth.clear_secret(session, PUSH_TOKEN_NAME)
        if secret is not None:
            auth.store_secret(session, vault, PUSH_SECRET_NAME, secret)
        if clear_secret:
            auth.clear_secret(session, PUSH_SECRET_NAME)
    if as_json:  # like the text: a stored secret masked, a new signing secret shown this once
        emit_json({"token": mask(token.strip()) if token is not None else None, "rearmed": rearmed,
                   "new_secret": secret if new_secret else None,
                   "secret": mask(secret) if secret is not None and not new_secret else None,
                   "cleared": [n for n, f in (("token", clear_token), ("secret", clear_secret)) if f]})
        return
    if token is not None:
        click.echo(f"OMS API token stored ({mask(token.strip())})" + (f"; {rearmed} held order(s) re-armed" if rearmed
                                                                       else ""))
    if new_secret:
        click.echo(f"signing secret (enter it as the secret the OMS verifies {SIGNATURE_HEADER} with; shown once):")
        click.echo(secret)
    elif secret is not None:
        click.echo(f"signing secret stored ({mask(secret)})")
    if clear_token or clear_secret:
        click.echo("cleared: " + ", ".join(n for n, f in (("token", clear_token), ("secret", clear_secret)) if f))


@oms_group.command("push-orders")
@json_option
def push_orders_command(as_json: bool) -> None:
    """One OMS delivery run now (push mode: send due order events; the scheduler runs it too)."""
    with cli_errors():
        stats = run_oms_delivery()
    summary = {"run": stats.id, "outcome": stats.outcome, "notify": stats.details.get("order_notify"),
               "due": stats.fetched, "sent": stats.sent, "held": stats.held, "retry": stats.failed,
               "api_calls": stats.api_calls}
    if as_json:
        emit_json(summary)
    else:
        click.echo("  ".join(f"{k}={v}" for k, v in summary.items()))
        if stats.held:
            click.echo("held orders: see `oms-bridge oms deliveries --held`")


@oms_group.command("deliveries")
@click.option("--held", is_flag=True, help="Only orders held or given up (dead), with the reason.")
@click.option("--limit", default=200, show_default=True)
@json_option
def deliveries_command(held: bool, limit: int, as_json: bool) -> None:
    """Orders and their delivery state to the OMS (pending, waiting = read but not acknowledged, sent, held…)."""
    with _unit() as (session, _settings):
        stmt = (select(Delivery, Order).join(Order, Delivery.oms_order_id == Order.id)
                .where(Delivery.destination == "oms").order_by(Delivery.id.desc()).limit(max(1, limit)))
        if held:
            stmt = stmt.where(Delivery.state.in_(("held", "dead")))
        rows = [{"order_id": o.id, "order": o.external_id, "state": d.state, "version": d.order_version,
                 "delivered_version": d.delivered_version, "attempts": d.attempts, "ref": d.external_ref,
                 "reason": d.last_error} for d, o in session.execute(stmt)]
    if as_json:
        emit_json(rows)
        return
    if not rows:
        click.echo("no held or dead OMS deliveries" if held else "no orders for the OMS yet")
    for r in rows:
        click.echo("  ".join(f"{k}={v}" for k, v in r.items() if v is not None))


@oms_group.command("retry-orders")
@click.option("--order", "order_ids", type=int, multiple=True, help="Only this order id (repeatable).")
@json_option
def retry_orders_command(order_ids: tuple[int, ...], as_json: bool) -> None:
    """Re-arm held, retrying and dead OMS deliveries (after fixing the cause)."""
    with _unit() as (session, _settings):
        count = rearm(session, "oms", order_ids=order_ids or None)
    if as_json:
        emit_json({"rearmed": count})
        return
    click.echo(f"{count} order(s) re-armed for the OMS; they go out on the next OMS delivery run (push) or read (pull)")
