"""Helpers every CLI command uses: settings/vault/session access, JSON output, colour, clean errors.

Errors an admin can act on become ``click.ClickException`` (one line, exit code 1), never a
traceback: see :func:`cli_errors`. ``--json`` output goes through :func:`emit_json` (one shape:
UTF-8, Decimal as string, times as ISO 8601 UTC); colour through :func:`paint`, which colours only a
terminal and never when ``NO_COLOR`` is set (https://no-color.org), so pipes, logs and cron mail
stay plain text.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn

import click
from sqlalchemy.exc import DBAPIError, StatementError

from oms_bridge.settings import SettingsError
from oms_bridge.store.db import interrupt
from oms_bridge.store.errors import describe_error
from oms_bridge.vault import VaultError

__all__ = ["fail", "cli_errors", "emit_json", "json_option", "to_jsonable", "terminate_as_exit", "read_secret",
           "paint", "colour_enabled", "TONES"]

json_option = click.option("--json", "as_json", is_flag=True, help="Machine-readable JSON output.")


def fail(message: str) -> NoReturn:
    """Stop the command with a one-line error."""
    raise click.ClickException(message)


@contextmanager
def cli_errors() -> Iterator[None]:
    """Turn the errors an admin can act on into one clear line."""
    try:
        yield
    except (VaultError, SettingsError) as exc:
        fail(str(exc))
    except (DBAPIError, StatementError) as exc:
        # Only the driver's own first line is matched for the hints below; what is printed otherwise is
        # the classified text (never SQL parameters or PostgreSQL's DETAIL, which carry personal data).
        msg = str(exc.orig) if getattr(exc, "orig", None) else ""
        first = msg.strip().splitlines()[0] if msg.strip() else ""  # used only for messages naming objects
        missing_db = re.search(r'database "([^"]+)" does not exist', msg)
        if missing_db:
            # `init` creates the schema, not the database: saying "run init" here sent admins in a circle.
            fail(f"PostgreSQL database {missing_db.group(1)!r} does not exist: create it first "
                 f"(e.g. `createdb {missing_db.group(1)}`, or CREATE DATABASE as its owner), then run "
                 "`oms-bridge init`")
        if "no such table" in msg or re.search(r'relation "[^"]+" does not exist', msg):
            fail(f"the database has no oms-bridge schema yet ({first}); run `oms-bridge init`")
        if "no such column" in msg or re.search(r'column "?[\w.]+"? (of relation "[^"]+" )?does not exist', msg):
            fail(f"the database schema is older than this oms-bridge ({first}); run `oms-bridge db upgrade`")
        fail(describe_error(exc))


def to_jsonable(value: Any) -> Any:
    """Decimal → string, datetime/date → ISO 8601 (UTC), Path → string, recursively."""
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def emit_json(data: Any) -> None:
    """The one way a command prints ``--json``: valid JSON on stdout, never coloured."""
    click.echo(json.dumps(to_jsonable(data), ensure_ascii=False, indent=2), color=False)


#: What a word means to the reader → its colour (the text says it too: colour only helps the eye).
TONES: dict[str, dict[str, Any]] = {"ok": {"fg": "green"}, "warn": {"fg": "yellow"},
                                    "bad": {"fg": "red", "bold": True}, "dim": {"dim": True}}


def colour_enabled(err: bool = False) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    stream = sys.stderr if err else sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)())


def paint(text: str, tone: str, *, err: bool = False) -> str:
    """``text`` in the colour of ``tone`` (:data:`TONES`) when :func:`colour_enabled`, else unchanged."""
    return click.style(text, **TONES[tone]) if colour_enabled(err) else text


@contextmanager
def terminate_as_exit() -> Iterator[None]:
    """SIGTERM (``kill``, ``timeout``, a cron or systemd stop) ends a one-shot command like Ctrl-C does.

    Python's default SIGTERM kills the process on the spot, leaving its ``oms_process_run`` row
    ``running`` forever; as a ``SystemExit`` the run is recorded ``interrupted`` and the work already
    committed stays (a backfill resumes from its checkpoint). A SIGTERM or Ctrl-C that arrives while a
    transaction commits, rolls back or closes takes effect right after that step (``KeyboardInterrupt`` for
    Ctrl-C, as before). Only the main thread can set handlers.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def _exit(signum: int, _frame: object) -> None:
        interrupt(SystemExit(128 + signum))  # not in the middle of a commit: see oms_bridge.store.db.shielded

    def _ctrl_c(_signum: int, _frame: object) -> None:
        interrupt(KeyboardInterrupt())

    previous = {signal.SIGTERM: signal.signal(signal.SIGTERM, _exit)}
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not when the caller chose its own
        previous[signal.SIGINT] = signal.signal(signal.SIGINT, _ctrl_c)
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def read_secret(label: str, *, from_stdin: bool = False, env_name: str | None = None, prompt: bool = False,
                confirm: bool = False) -> str | None:
    """One secret from stdin, an environment variable or a hidden prompt (None: none was asked for).

    The one way every command takes a secret: never from an argv value (it would sit in the shell
    history and the process list), and one source at a time so it is clear which one was used.
    """
    sources = sum([from_stdin, bool(env_name), prompt])
    if sources > 1:
        fail(f"give the {label} one way only: stdin, an environment variable or the prompt")
    if from_stdin:
        value = sys.stdin.readline().rstrip("\r\n")
        if not value:
            fail(f"stdin held no {label}")
        return value
    if env_name:
        value = os.environ.get(env_name)
        if not value:
            fail(f"environment variable {env_name} is not set or empty")
        return value
    if prompt:
        return click.prompt(label, hide_input=True, confirmation_prompt=confirm)
    return None


# ------------------------------------------------------------------ one name for the channel
#: The convention (docs/cli-admin.md "Naming a channel"): the ``channel`` group's commands take the
#: channel as their first argument, ``CHANNEL``; every other command takes ``--channel CHANNEL``.
channel_option = click.option("--channel", "channel", metavar="CHANNEL", help="The channel (its value).")


class DeprecatedArgument(click.Argument):
    """A positional argument kept only so old scripts keep working: absent from usage and help."""

    def get_usage_pieces(self, ctx: click.Context) -> list[str]:
        return []


def deprecated_positional(name: str) -> Any:
    """A hidden optional positional ``name`` (an old spelling; :func:`pick_channel` warns when it is used)."""
    return click.argument(name, required=False, cls=DeprecatedArgument)


def pick_channel(option: str | None, legacy: str | None, old_usage: str, new_usage: str) -> str:
    """The channel from ``--channel``, else from the old positional spelling (with a warning on stderr)."""
    if option and legacy and option != legacy:
        fail(f"two different channels given: --channel {option} and {legacy}")
    if legacy and not option:
        click.echo(f"oms-bridge: warning: `{old_usage}` is deprecated; use `{new_usage}`", err=True)
        return legacy
    if not option:
        raise click.UsageError("Missing option '--channel'.")
    return option
