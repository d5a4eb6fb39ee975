"""Foundation commands: init, db, keys, platform, channel.

Thin layer: validation and storage live in :mod:`oms_bridge.configure` (shared with the web admin),
schema work in :mod:`oms_bridge.store.schema`, key work in :mod:`oms_bridge.keys`. Secrets are read
from a hidden prompt, stdin or an environment variable, never from an argv value; every output
masks them.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import click
from alembic.util import CommandError
from sqlalchemy.orm import Session

from channels.binding import BindingError, needs_token_refresh
from oms_bridge.cli.common import cli_errors, emit_json, fail, json_option, read_secret, to_jsonable
from oms_bridge.configure.channels import (
    BP_IDENTIFIERS,
    add_channel,
    channel_view,
    decrypt_channel_credentials,
    remove_channel,
    required_credentials,
    set_channel_active,
    update_channel,
)
from oms_bridge.configure.checks import ConfigError
from oms_bridge.configure.lookups import get_channel, get_platform, list_channels, list_platforms
from oms_bridge.configure.platforms import add_platform, platform_view, remove_platform, update_platform
from oms_bridge.datadir import secure_data_dir
from oms_bridge.keys import (
    key_fingerprint,
    key_mode,
    prune_key_file,
    read_key_file,
    rotate_key_file,
    rotate_secrets,
    secret_status,
    stored_secrets,
)
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import schema
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.vault import Vault, create_key_file, generate_key
from platforms.base import PlatformError

__all__ = ["init_command", "db_group", "keys_group", "platform_group", "channel_group"]


@contextmanager
def _errors() -> Iterator[None]:
    """Admin-fixable errors (config, vault, database, alembic) become one clear line."""
    try:
        with cli_errors():
            yield
    except ConfigError as exc:
        fail(str(exc))
    except CommandError as exc:
        fail(f"schema migration: {exc}")


@contextmanager
def _unit() -> Iterator[tuple[Session, Vault, Settings]]:
    settings = get_settings()
    vault = Vault.from_settings(settings)
    with session_scope(settings) as session:
        yield session, vault, settings


# ------------------------------------------------------------------------------------- secrets in
def _read_secret(label: str, *, from_stdin: bool, env_name: str | None, prompt: bool) -> str | None:
    """The app secret from --secret-stdin / --secret-env / --prompt-secret (None: not given)."""
    if sum([from_stdin, bool(env_name), prompt]) > 1:
        fail(f"give the {label} one way only: --secret-stdin, --secret-env or --prompt-secret")
    return read_secret(label, from_stdin=from_stdin, env_name=env_name, prompt=prompt)


def _secret_options(fn):
    fn = click.option("--prompt-secret", is_flag=True, help="Ask for the app secret (hidden input).")(fn)
    fn = click.option("--secret-env", metavar="NAME", help="Read the app secret from this environment variable.")(fn)
    fn = click.option("--secret-stdin", is_flag=True, help="Read the app secret from the first line of stdin.")(fn)
    return fn


def _parse_json_object(text: str | None, what: str) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        data = json.loads(text) if text.strip() else {}
    except ValueError as exc:
        fail(f"{what} is not valid JSON: {exc}")
    if not isinstance(data, dict):
        fail(f"{what} must be a JSON object, e.g. '{{\"key\": \"value\"}}'")
    return data


def _print_view(view: dict[str, Any], indent: str = "") -> None:
    for key, value in view.items():
        if isinstance(value, dict):
            click.echo(f"{indent}{key}:" + ("" if value else " -"))
            _print_view(value, indent + "  ")
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value) or "-"
        value = to_jsonable(value)
        click.echo(f"{indent}{key}: {'-' if value is None or value == '' else value}")


def _print_table(rows: list[dict[str, Any]], columns: list[str]) -> None:
    if not rows:
        click.echo("(none)")
        return
    cells = [[("-" if r.get(c) in (None, "") else str(to_jsonable(r.get(c)))) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


# ------------------------------------------------------------------------------------------ init
@click.command("init")
@click.option("--force-new-key", is_flag=True,
              help="Create a new key although the database holds secrets under a lost one (they stay unreadable "
                   "and must be entered again).")
@json_option
def init_command(force_new_key: bool, as_json: bool) -> None:
    """Create the data directory, key file and schema (safe to run twice; never replaces a lost key silently)."""
    with _errors():
        settings = get_settings()
        settings.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        notes: list[str] = []
        if settings.secret_keys:
            if force_new_key:
                fail("--force-new-key makes a new key FILE, but OMS_BRIDGE_SECRET_KEYS is set and the bridge reads "
                     "its keys from there; put a new key (`oms-bridge keys generate`) in that variable instead")
            key_state = "environment (OMS_BRIDGE_SECRET_KEYS)"
        elif settings.key_file.exists():
            key_state = f"kept existing {settings.key_file}"
        else:
            orphans = _stored_secrets(settings)
            if orphans and not force_new_key:
                fail(_lost_key_refusal(settings, orphans))
            create_key_file(settings.key_file)
            key_state = f"created {settings.key_file}"
            if orphans:
                notes.append(f"WARNING: new key created; {_owners(orphans)} stay encrypted under the lost key and "
                             "cannot be read: enter them again (`platform update --prompt-secret`, `channel update`, "
                             "`channel authorize`, `erp connection update`)")
        vault = Vault.from_settings(settings)  # an empty or corrupt key fails here, naming it, before schema work
        before, after = schema.upgrade(settings)
        if "created" not in key_state:
            with get_engine(settings).connect() as conn:
                unreadable = secret_status(conn, vault.keys).undecryptable
            if unreadable:
                notes.append(f"WARNING: {_owners(unreadable)} cannot be decrypted with the configured key(s): is "
                             "this the key of this database? (`oms-bridge keys status` lists them)")
        notes += secure_data_dir(settings)
        result = {"home": str(settings.home), "database": _safe_url(settings), "key": key_state,
                  "schema_before": before, "schema": after, "notes": notes}
    if as_json:
        emit_json(result)
        return
    click.echo(f"data directory: {result['home']}")
    click.echo(f"database:       {result['database']}")
    click.echo(f"key:            {key_state}")
    click.echo(f"schema:         {after}" + (" (already up to date)" if before == after else
                                             f" (upgraded from {before or 'empty'})"))
    for note in notes:
        click.echo(note, err=note.startswith("WARNING"))
    click.echo("next: `oms-bridge platform add VALUE --type TYPE --host URL --prompt-secret`, then `channel add`")


def _stored_secrets(settings: Settings) -> list[str]:
    """Secrets already in the database (none when it does not exist yet): what a new key could not read."""
    if settings.is_sqlite and not (settings.home / "oms-bridge.db").exists():
        return []
    with get_engine(settings).connect() as conn:
        return stored_secrets(conn)


def _owners(owners: list[str], shown: int = 5) -> str:
    listed = ", ".join(owners[:shown]) + (f" and {len(owners) - shown} more" if len(owners) > shown else "")
    return f"{len(owners)} stored secret(s) ({listed})"


def _lost_key_refusal(settings: Settings, owners: list[str]) -> str:
    path = settings.key_file
    return (f"refusing to create a new key: the key file {path} is missing, but the database holds "
            f"{_owners(owners)} encrypted under the key it held, which a new key cannot read. Restore {path.name} "
            f"from your backup into {path.parent} (or set OMS_BRIDGE_SECRET_KEYS to the old key), then run "
            "`oms-bridge init` again. If the old key is lost for good, `oms-bridge init --force-new-key` creates a "
            "new one: those secrets then stay unreadable and must be entered again (platform app secrets, channel "
            "credentials and tokens: re-authorize, ERP connection passwords)")


def _safe_url(settings: Settings) -> str:
    from sqlalchemy.engine import make_url

    return make_url(settings.effective_database_url).render_as_string(hide_password=True)


# ------------------------------------------------------------------------------------------- db
@click.group("db")
def db_group() -> None:
    """Schema versions (Alembic)."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True, help="Target revision.")
@json_option
def db_upgrade(revision: str, as_json: bool) -> None:
    """Apply pending migrations."""
    with _errors():
        before, after = schema.upgrade(get_settings(), revision)
    if as_json:
        emit_json({"schema_before": before, "schema": after, "changed": before != after})
        return
    click.echo(f"schema at {after}" + (" (nothing to do)" if before == after else f" (was {before or 'empty'})"))


@db_group.command("current")
@json_option
def db_current(as_json: bool) -> None:
    """The revision the database is at, and the newest one shipped."""
    with _errors():
        cur, head = schema.current(get_settings()), schema.head()
    if as_json:
        emit_json({"current": cur, "head": head, "up_to_date": cur == head})
        return
    click.echo(f"current: {cur or '(no schema; run `oms-bridge init`)'}")
    click.echo(f"head:    {head}" + ("" if cur == head else "  -> run `oms-bridge db upgrade`"))


@db_group.command("history")
@json_option
def db_history(as_json: bool) -> None:
    """Every shipped migration, oldest first."""
    with _errors():
        revs = schema.history()
    if as_json:
        emit_json([r.__dict__ for r in revs])
        return
    for r in revs:
        click.echo(f"{r.down_revision or '<base>'} -> {r.revision}{' (head)' if r.is_head else ''}: "
                   f"{r.message.splitlines()[0] if r.message else ''}")


@db_group.command("sql")
@click.option("--dialect", default="postgresql", show_default=True, help="SQL dialect (postgresql, oracle, ...).")
@click.option("--from", "start", default=None, help="Start after this revision (default: empty database).")
@click.option("--to", "end", default="head", show_default=True, help="Last revision.")
def db_sql(dialect: str, start: str | None, end: str) -> None:
    """Print the DDL of the migrations for a DBA (Alembic offline mode)."""
    with _errors():
        try:
            text = schema.render_sql(dialect, start=start, end=end)
        except Exception as exc:  # noqa: BLE001 - unknown dialect names come back as various errors
            if isinstance(exc, CommandError):
                raise
            fail(f"cannot render SQL for dialect {dialect!r}: {exc}")
    click.echo(text, nl=False)


# ----------------------------------------------------------------------------------------- keys
@click.group("keys")
def keys_group() -> None:
    """Encryption keys."""


@keys_group.command("status")
@json_option
def keys_status(as_json: bool) -> None:
    """Where the keys come from, and which key each stored secret is under."""
    with _errors():
        settings = get_settings()
        vault = Vault.from_settings(settings)
        with get_engine(settings).connect() as conn:
            status = secret_status(conn, vault.keys)
    result = {
        "mode": key_mode(settings),
        "key_file": str(settings.key_file) if key_mode(settings) == "file" else None,
        "keys": [key_fingerprint(k) for k in vault.keys],
        "secrets": status.total,
        "on_newest_key": status.by_key.get(0, 0),
        "on_older_keys": status.on_old_keys,
        "undecryptable": status.undecryptable,
    }
    if as_json:
        emit_json(result)
    else:
        click.echo(f"mode: {result['mode']}" + (f" ({result['key_file']})" if result["key_file"] else ""))
        click.echo(f"keys: {len(vault.keys)} (newest first, fingerprints {', '.join(result['keys'])})")
        click.echo(f"secrets: {status.total}; on the newest key: {result['on_newest_key']}; "
                   f"on older keys: {status.on_old_keys}; undecryptable: {len(status.undecryptable)}")
        for owner in status.undecryptable:
            click.echo(f"  cannot decrypt: {owner}")
    if status.undecryptable:
        sys.exit(1)


@keys_group.command("generate")
@json_option
def keys_generate(as_json: bool) -> None:
    """Print a new key (for OMS_BRIDGE_SECRET_KEYS: put it first, keep the old one after it)."""
    key = generate_key()
    if as_json:
        emit_json({"key": key, "fingerprint": key_fingerprint(key)})
        return
    click.echo(key)


@keys_group.command("rotate")
@click.option("--drop-old", is_flag=True, help="Key file mode: after success keep only the new key.")
@json_option
def keys_rotate(drop_old: bool, as_json: bool) -> None:
    """Re-encrypt every stored secret under a new key, in one transaction."""
    with _errors():
        settings = get_settings()
        Vault.from_settings(settings)  # fails clearly when no key is configured
        if key_mode(settings) == "env":
            vault = Vault.from_settings(settings)
            if len(vault.keys) < 2:
                fail("keys come from OMS_BRIDGE_SECRET_KEYS, which oms-bridge cannot change. To rotate: "
                     "1) run `oms-bridge keys generate`; 2) set OMS_BRIDGE_SECRET_KEYS=<new key>,<current key>; "
                     "3) run `oms-bridge keys rotate` again (it re-encrypts under the first key); "
                     "4) remove the old key from the variable and restart the services")
            new_key = vault.keys[0]
        else:
            # The new key reaches the disk before any secret is encrypted with it.
            new_key, _ = rotate_key_file(settings.key_file)
            vault = Vault.from_settings(settings)
        with get_engine(settings).begin() as conn:  # a write transaction: SQLite's lock at BEGIN (see store.db)
            count = rotate_secrets(conn, vault)
        dropped = 0
        if drop_old and key_mode(settings) == "file":
            with get_engine(settings).connect() as conn:
                dropped = prune_key_file(settings.key_file, conn)
    result = {"mode": key_mode(settings), "new_key": key_fingerprint(new_key), "reencrypted": count,
              "old_keys_dropped": dropped}
    if as_json:
        emit_json(result)
        return
    click.echo(f"re-encrypted {count} secret(s) under key {result['new_key']}")
    if key_mode(settings) == "file":
        click.echo("old keys dropped from the key file" if drop_old else
                   "old keys kept in the key file; run `oms-bridge keys prune` once every service restarted")
    else:
        click.echo("now remove the old key(s) from OMS_BRIDGE_SECRET_KEYS and restart the services")


@keys_group.command("prune")
@json_option
def keys_prune(as_json: bool) -> None:
    """Key file mode: drop old keys once every secret is under the newest key."""
    with _errors():
        settings = get_settings()
        if key_mode(settings) == "env":
            fail("keys come from OMS_BRIDGE_SECRET_KEYS; remove old keys from that variable yourself")
        read_key_file(settings.key_file)
        with get_engine(settings).connect() as conn:
            dropped = prune_key_file(settings.key_file, conn)
    if as_json:
        emit_json({"dropped": dropped})
        return
    click.echo(f"dropped {dropped} old key(s)")


# ------------------------------------------------------------------------------------- platform
@click.group("platform")
def platform_group() -> None:
    """Marketplace apps (oms_platform)."""


@platform_group.command("add")
@click.argument("value", metavar="PLATFORM")
@click.option("--type", "platform_type", required=True, help="Platform type (shopee, cyberbiz, momo, shopline, ...).")
@click.option("--host", required=True, help="API base URL (production, test host or sandbox).")
@click.option("--name", help="Display name (default: the value).")
@click.option("--app-id", help="Partner id / client id / app key (public).")
@click.option("--description")
@click.option("--settings-json", help="Non-secret adapter options as a JSON object.")
@_secret_options
@json_option
def platform_add(value, platform_type, host, name, app_id, description, settings_json, secret_stdin, secret_env,
                 prompt_secret, as_json) -> None:
    """Add a platform PLATFORM (its value).

    The app secret comes from --secret-stdin, --secret-env or --prompt-secret.
    """
    secret = _read_secret("app secret", from_stdin=secret_stdin, env_name=secret_env, prompt=prompt_secret)
    settings = _parse_json_object(settings_json, "--settings-json")
    with _errors(), _unit() as (session, vault, _):
        platform = add_platform(session, vault, value=value, platform_type=platform_type, host=host,
                                          name=name, app_id=app_id, app_secret=secret, description=description,
                                          settings=settings)
        view = platform_view(platform, vault)
    # Only after the add succeeded: a note ahead of "unknown platform type" reads like a second problem.
    if secret is None:
        click.echo(f"note: no app secret stored (a platform without app credentials, such as momo, needs none); "
                   f"set one later with `oms-bridge platform update {value} --prompt-secret`", err=True)
    _emit(view, as_json, f"platform {value} added")


@platform_group.command("list")
@json_option
def platform_list(as_json: bool) -> None:
    """All platforms (secrets masked)."""
    with _errors(), _unit() as (session, vault, _):
        views = [platform_view(p, vault) for p in list_platforms(session)]
    if as_json:
        emit_json(views)
        return
    _print_table([{**v, "channels": ",".join(v["channels"])} for v in views],
                 ["value", "type", "host", "app_id", "app_secret", "channels"])


@platform_group.command("show")
@click.argument("value", metavar="PLATFORM")
@json_option
def platform_show(value: str, as_json: bool) -> None:
    """One platform (secret masked)."""
    with _errors(), _unit() as (session, vault, _):
        view = platform_view(get_platform(session, value), vault)
    _emit(view, as_json)


@platform_group.command("update")
@click.argument("value", metavar="PLATFORM")
@click.option("--type", "platform_type")
@click.option("--host")
@click.option("--name")
@click.option("--app-id")
@click.option("--description")
@click.option("--settings-json", help="Replace the adapter options (JSON object).")
@_secret_options
@json_option
def platform_update(value, platform_type, host, name, app_id, description, settings_json, secret_stdin,
                    secret_env, prompt_secret, as_json) -> None:
    """Change a platform; only the options given change."""
    secret = _read_secret("app secret", from_stdin=secret_stdin, env_name=secret_env, prompt=prompt_secret)
    changes = _given(platform_type=platform_type, host=host, name=name, app_id=app_id, description=description,
                     app_secret=secret, settings=_parse_json_object(settings_json, "--settings-json"))
    with _errors(), _unit() as (session, vault, _):
        platform = update_platform(session, vault, value, **changes)
        view = platform_view(platform, vault)
    _emit(view, as_json, f"platform {value} updated")


@platform_group.command("remove")
@click.argument("value", metavar="PLATFORM")
@click.option("--cascade", is_flag=True, help="Also remove the platform's channels.")
@json_option
def platform_remove(value: str, cascade: bool, as_json: bool) -> None:
    """Remove a platform (refused while it has channels, unless --cascade)."""
    with _errors(), _unit() as (session, _vault, _):
        removed = remove_platform(session, value, cascade=cascade)
    if as_json:
        emit_json({"removed": value, "channels_removed": removed})
        return
    click.echo(f"platform {value} removed" + (f" with channel(s) {', '.join(removed)}" if removed else ""))


# -------------------------------------------------------------------------------------- channel
@click.group("channel")
def channel_group() -> None:
    """Store accounts (oms_channel)."""


_ERP_OPTIONS = [
    ("--erp-org-id", "erp_org_id", int, "AD_Org_ID of the sales orders."),
    ("--erp-warehouse-id", "erp_warehouse_id", int, "M_Warehouse_ID."),
    ("--erp-doctype-id", "erp_doctype_id", int, "C_DocTypeTarget_ID (standard order, POS order, ...)."),
    ("--erp-pricelist-id", "erp_pricelist_id", int, "M_PriceList_ID."),
    ("--erp-bpartner-id", "erp_bpartner_id", int, "Default C_BPartner_ID for buyers."),
    ("--erp-ordersource-id", "erp_ordersource_id", int, "C_OrderSource_ID."),
    ("--erp-payment-rule", "erp_payment_rule", str, "PaymentRule code, e.g. P (on credit)."),
    ("--erp-bp-identifier", "erp_bp_identifier", click.Choice(BP_IDENTIFIERS),
     "How a buyer becomes a business partner."),
    ("--erp-shipping-charge-id", "erp_shipping_charge_id", int, "C_Charge_ID for the shipping fee."),
    ("--erp-discount-charge-id", "erp_discount_charge_id", int, "C_Charge_ID for order discounts."),
    ("--oms-channel-code", "oms_channel_code", str, "OMS channel code sent with this channel's orders."),
]


def _channel_options(fn):
    for flag, dest, typ, help_text in reversed(_ERP_OPTIONS):
        fn = click.option(flag, dest, type=typ, default=None, help=help_text)(fn)
    fn = click.option("--erp-connection", help="Value of the ERP connection this channel delivers to.")(fn)
    fn = click.option("--refreshtoken-interval", type=int, help="Minutes between RefreshToken runs.")(fn)
    fn = click.option("--getorder-interval", type=int, help="Minutes between GetOrder runs.")(fn)
    fn = click.option("--settings-json", help="Non-secret adapter options as a JSON object.")(fn)
    fn = click.option("--prompt-token", is_flag=True,
                      help="Ask for the shop's API token (hidden input); stored as credential access_token.")(fn)
    fn = click.option("--token-env", metavar="NAME",
                      help="Read the shop's API token from this environment variable.")(fn)
    fn = click.option("--token-stdin", is_flag=True, help="Read the shop's API token from the first line of stdin.")(fn)
    fn = click.option("--auth-model", help="How the channel authenticates, where the platform offers a choice "
                                           "(Cyberbiz: token, v2, v1; Shopline: token, oauth); "
                                           "stored as the auth_model setting.")(fn)
    fn = click.option("--credentials-env", metavar="NAME",
                      help="Read all credentials as a JSON object from this environment variable.")(fn)
    fn = click.option("--credentials-json-stdin", is_flag=True,
                      help="Read all credentials as a JSON object from stdin.")(fn)
    fn = click.option("--prompt-credentials", is_flag=True,
                      help="Ask for every credential the platform type declares (hidden input).")(fn)
    fn = click.option("--credential", "credential_keys", multiple=True, metavar="KEY",
                      help="Ask for this credential (hidden input); repeatable.")(fn)
    fn = click.option("--shop-id", help="Shop id / shop domain / vendor code / merchant id.")(fn)
    fn = click.option("--name", help="Display name (default: the value).")(fn)
    return fn


def _read_credentials(keys: tuple[str, ...], from_stdin: bool, env_name: str | None) -> dict[str, Any] | None:
    if from_stdin and env_name:
        fail("give credentials one way only: --credentials-json-stdin or --credentials-env")
    creds: dict[str, Any] | None = None
    if from_stdin:
        creds = _parse_json_object(sys.stdin.read(), "credentials on stdin")
    elif env_name:
        raw = os.environ.get(env_name)
        if not raw:
            fail(f"environment variable {env_name} (named by --credentials-env) is not set or empty")
        creds = _parse_json_object(raw, f"credentials in ${env_name}")
    for key in keys:
        creds = creds or {}
        creds[key] = click.prompt(key, hide_input=True, default="", show_default=False)
    return creds


def _declared_keys(session: Session, platform_value: str, settings: dict[str, Any] | None,
                   credentials: dict[str, Any] | None = None) -> tuple[str, ...]:
    """The credentials the channel needs with these settings (the Cyberbiz token model: only its API token)."""
    return tuple(required_credentials(get_platform(session, platform_value), settings,
                                                credentials))


def _to_prompt(needed: tuple[str, ...], token_given: bool) -> tuple[str, ...]:
    """The credentials --prompt-credentials asks for: the needed ones, less a token given by the token options."""
    return tuple(k for k in needed if not (token_given and k == "access_token"))


def _with_token(creds: dict[str, Any] | None, token_stdin: bool, token_env: str | None,
                prompt_token: bool) -> dict[str, Any] | None:
    """Add the API token given by --token-stdin / --token-env / --prompt-token (cli.common's one secret reader)."""
    if sum([token_stdin, bool(token_env), prompt_token]) > 1:
        fail("give the API token one way only: --token-stdin, --token-env or --prompt-token")
    token = read_secret("API token", from_stdin=token_stdin, env_name=token_env, prompt=prompt_token)
    if token is None:
        return creds
    return {**(creds or {}), "access_token": token.strip()}


def _with_auth_model(settings: dict[str, Any] | None, auth_model: str | None,
                     current: dict[str, Any] | None = None) -> dict[str, Any] | None:
    """``--auth-model`` folded into the settings (over --settings-json, else over the stored settings)."""
    if auth_model is None:
        return settings
    return {**(settings if settings is not None else (current or {})), "auth_model": auth_model.strip().lower()}


def _given(**kwargs: Any) -> dict[str, Any]:
    return {k: v for k, v in kwargs.items() if v is not None}


def _emit(view: dict[str, Any], as_json: bool, headline: str | None = None) -> None:
    if as_json:
        emit_json(view)
        return
    if headline:
        click.echo(headline)
    _print_view(view)


@channel_group.command("add")
@click.argument("value", metavar="CHANNEL")
@click.option("--platform", "platform", required=True, help="Value of the channel's platform.")
@_channel_options
@json_option
def channel_add(value, platform, name, shop_id, credential_keys, prompt_credentials, credentials_json_stdin,
                credentials_env, auth_model, token_stdin, token_env, prompt_token, settings_json, getorder_interval,
                refreshtoken_interval, erp_connection, as_json, **erp) -> None:
    """Add a channel CHANNEL (its value) of a platform.

    A Cyberbiz shop with an API token: ``--auth-model token --token-stdin`` (or ``--token-env NAME`` /
    ``--prompt-token``); no OAuth, then ``channel authorize VALUE`` checks the token.
    """
    _one_stdin(credentials_json_stdin, token_stdin)
    settings = _with_auth_model(_parse_json_object(settings_json, "--settings-json"), auth_model)
    with _errors(), _unit() as (session, vault, _):
        if prompt_credentials:
            credential_keys += _to_prompt(_declared_keys(session, platform, settings),
                                          token_stdin or bool(token_env) or prompt_token)
        creds = _with_token(_read_credentials(credential_keys, credentials_json_stdin, credentials_env),
                            token_stdin, token_env, prompt_token)
        channel = add_channel(
            session, vault, value=value, platform=platform, name=name, shop_id=shop_id, credentials=creds,
            settings=settings,
            getorder_interval_minutes=getorder_interval, refreshtoken_interval_minutes=refreshtoken_interval,
            erp_connection=erp_connection, **_given(**erp))
        _adapter_accepts(session, channel, vault)
        view = channel_view(channel, vault)
    _emit(view, as_json, f"channel {value} added")


def _one_stdin(credentials_json_stdin: bool, token_stdin: bool) -> None:
    if credentials_json_stdin and token_stdin:
        fail("stdin can carry one thing: give --credentials-json-stdin or --token-stdin, not both")


def _adapter_accepts(session: Session, channel: Any, vault: Vault) -> None:
    """Refuse (and so roll back) channel settings the platform adapter rejects, e.g. ``auth_model: bogus``.

    Without this the bad value was stored and every later authorize/RefreshToken/GetOrder failed on it.
    Secrets that cannot be decrypted are not this command's concern (BindingError: reported where used).
    """
    try:
        needs_token_refresh(channel, session, vault=vault)
    except BindingError:
        return
    except PlatformError as exc:
        fail(f"channel {channel.value}: {exc}; nothing was saved")


@channel_group.command("list")
@click.option("--platform", help="Only channels of this platform.")
@json_option
def channel_list(platform: str | None, as_json: bool) -> None:
    """All channels with auth state and watermark (secrets masked)."""
    with _errors(), _unit() as (session, vault, _):
        views = [channel_view(c, vault) for c in list_channels(session, platform)]
    if as_json:
        emit_json(views)
        return
    _print_table([{**v, "active": "Y" if v["active"] else "N",
                   "credentials": ",".join(f"{k}={m}" for k, m in v["credentials"].items())} for v in views],
                 ["value", "platform", "shop_id", "active", "auth_state", "access_expires_at", "order_watermark",
                  "credentials"])


@channel_group.command("show")
@click.argument("value", metavar="CHANNEL")
@json_option
def channel_show(value: str, as_json: bool) -> None:
    """One channel: auth state, token expiry, watermark, ERP mapping, masked secrets."""
    with _errors(), _unit() as (session, vault, _):
        view = channel_view(get_channel(session, value), vault)
    _emit(view, as_json)


@channel_group.command("update")
@click.argument("value", metavar="CHANNEL")
@click.option("--platform", help="Move the channel to another platform (only before authorization).")
@click.option("--replace-credentials", is_flag=True, help="Replace the stored credentials instead of merging.")
@_channel_options
@json_option
def channel_update(value, platform, replace_credentials, name, shop_id, credential_keys, prompt_credentials,
                   credentials_json_stdin, credentials_env, auth_model, token_stdin, token_env, prompt_token,
                   settings_json, getorder_interval, refreshtoken_interval, erp_connection, as_json, **erp) -> None:
    """Change a channel; only the options given change (credentials merge unless --replace-credentials).

    A new API token: ``--token-stdin`` (or ``--token-env NAME`` / ``--prompt-token``).
    """
    _one_stdin(credentials_json_stdin, token_stdin)
    settings = _parse_json_object(settings_json, "--settings-json")
    if prompt_credentials or auth_model is not None:
        with _errors(), _unit() as (session, vault, _):
            channel = get_channel(session, value)
            stored_settings = channel_view(channel)["settings"]
            settings = _with_auth_model(settings, auth_model, stored_settings)
            if prompt_credentials:
                needed = _declared_keys(session, platform or channel.platform.value,
                                        stored_settings if settings is None else settings,
                                        decrypt_channel_credentials(vault, channel))
                credential_keys += _to_prompt(needed, token_stdin or bool(token_env) or prompt_token)
    creds = _with_token(_read_credentials(credential_keys, credentials_json_stdin, credentials_env),
                        token_stdin, token_env, prompt_token)
    changes = _given(platform=platform, name=name, shop_id=shop_id, erp_connection=erp_connection,
                     settings=settings,
                     getorder_interval_minutes=getorder_interval,
                     refreshtoken_interval_minutes=refreshtoken_interval, **erp)
    with _errors(), _unit() as (session, vault, _):
        channel = update_channel(session, vault, value, credentials=creds,
                                           replace_credentials=replace_credentials, **changes)
        if "settings" in changes or "platform" in changes:
            _adapter_accepts(session, channel, vault)
        view = channel_view(channel, vault)
    _emit(view, as_json, f"channel {value} updated")


def _set_active(value: str, active: bool, as_json: bool) -> None:
    with _errors(), _unit() as (session, _vault, _):
        set_channel_active(session, value, active)
    if as_json:
        emit_json({"value": value, "active": active})
    else:
        click.echo(f"channel {value} {'enabled' if active else 'disabled'}")


@channel_group.command("enable")
@click.argument("value", metavar="CHANNEL")
@json_option
def channel_enable(value: str, as_json: bool) -> None:
    """Let the scheduler run this channel's processes again."""
    _set_active(value, True, as_json)


@channel_group.command("disable")
@click.argument("value", metavar="CHANNEL")
@json_option
def channel_disable(value: str, as_json: bool) -> None:
    """Stop this channel's processes; its data stays."""
    _set_active(value, False, as_json)


@channel_group.command("remove")
@click.argument("value", metavar="CHANNEL")
@json_option
def channel_remove(value: str, as_json: bool) -> None:
    """Remove a channel that has no stored orders (otherwise disable it)."""
    with _errors(), _unit() as (session, _vault, _):
        remove_channel(session, value)
    if as_json:
        emit_json({"removed": value})
    else:
        click.echo(f"channel {value} removed")
