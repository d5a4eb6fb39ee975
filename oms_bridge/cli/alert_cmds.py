"""``oms-bridge alerts``: where alerts go (targets), what is on (list), what was sent (history), and an
evaluation now (check).

A target is an apprise URL, which carries the service's secret: it is read like every other secret
(hidden prompt, ``--url-stdin``, ``--url-env NAME``; never from argv), stored encrypted, and shown
masked (``json://hooks.example.com/****``, ``slack://****``). Times are shown in Asia/Taipei; ``--json``
gives UTC ISO 8601.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime

import click

from oms_bridge.alerts.engine import run_alerts, send_test
from oms_bridge.alerts.findings import DISPLAY_ZONE
from oms_bridge.alerts.state import current_alerts, notice_history
from oms_bridge.alerts.targets import TargetError, add_target, list_targets, remove_target
from oms_bridge.cli.common import cli_errors, emit_json, fail, json_option, paint, read_secret, terminate_as_exit
from oms_bridge.settings import get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.vault import Vault

__all__ = ["alerts_group"]


@contextmanager
def _errors() -> Iterator[None]:
    with cli_errors():
        try:
            yield
        except TargetError as exc:
            fail(str(exc))


def _local(when: datetime | None) -> str:
    return when.astimezone(DISPLAY_ZONE).strftime("%Y-%m-%d %H:%M") if when else "-"


@click.group("alerts")
def alerts_group() -> None:
    """Alerts: targets (apprise URLs), current alerts, history, an evaluation now."""


@alerts_group.group("target")
def target_group() -> None:
    """Where alerts are sent: e-mail, Slack, Teams, Telegram, LINE, webhooks ... (apprise URLs)."""


@target_group.command("add")
@click.argument("name")
@click.option("--url-stdin", is_flag=True, help="Read the apprise URL from stdin.")
@click.option("--url-env", metavar="NAME", help="Read the apprise URL from this environment variable.")
@click.option("--description", help="What this target is (shown in lists).")
@json_option
def target_add(name: str, url_stdin: bool, url_env: str | None, description: str | None, as_json: bool) -> None:
    """Add a target; the URL (it holds the service's secret) comes from a prompt, stdin or the environment."""
    url = read_secret("apprise URL", from_stdin=url_stdin, env_name=url_env,
                      prompt=not url_stdin and not url_env)
    with _errors(), session_scope(get_settings()) as session:
        view = add_target(session, Vault.from_settings(get_settings()), name, url or "", description=description)
    if as_json:
        emit_json({"name": view.value, "url": view.url, "description": view.description, "active": view.active})
        return
    click.echo(f"alert target {view.value} added: {view.url} (send a test: oms-bridge alerts target test {view.value})")


@target_group.command("list")
@json_option
def target_list(as_json: bool) -> None:
    """The targets (URLs masked), with when each last took a message or why it did not."""
    with _errors(), session_scope(get_settings()) as session:
        views = list_targets(session)
    data = [{"name": v.value, "url": v.url, "description": v.description, "active": v.active,
             "last_sent": v.last_sent, "last_error": v.last_error} for v in views]
    if as_json:
        emit_json(data)
        return
    if not data:
        click.echo("no alert targets: add one with `oms-bridge alerts target add NAME` (an apprise URL)")
        return
    for d in data:
        click.echo(f"{d['name']:<20} {d['url']:<40} last sent {_local(d['last_sent'])}"
                   + (f"  {d['description']}" if d["description"] else ""))
        if d["last_error"]:
            click.echo(f"{'':<21}last error: {d['last_error']}")


@target_group.command("remove")
@click.argument("name")
@json_option
def target_remove(name: str, as_json: bool) -> None:
    """Remove a target."""
    with _errors(), session_scope(get_settings()) as session:
        remove_target(session, name)
    if as_json:
        emit_json({"removed": name})
        return
    click.echo(f"alert target {name} removed")


@target_group.command("test")
@click.argument("name", required=False)
@json_option
def target_test(name: str | None, as_json: bool) -> None:
    """Send a test message to one target (or every active one) now; exit code 1 when one failed."""
    with _errors():
        results = send_test(settings=get_settings(), target=name)
    if not results:
        fail("no active alert target to test: add one with `oms-bridge alerts target add NAME`")
    if as_json:
        emit_json([{"target": r.target, "ok": r.ok, "error": r.error} for r in results])
    else:
        for r in results:
            click.echo(f"{r.target}: " + (paint("sent", "ok") if r.ok else paint("FAILED", "bad") + f": {r.error}"))
    if not all(r.ok for r in results):
        sys.exit(1)


@alerts_group.command("list")
@click.option("--all", "show_all", is_flag=True, help="Also the resolved ones (most recent first).")
@json_option
def alerts_list(show_all: bool, as_json: bool) -> None:
    """What is wrong right now (firing alerts), with since when and what to do."""
    with _errors(), session_scope(get_settings()) as session:
        rows = current_alerts(session, include_resolved=show_all)
    data = [{"key": a.alert_key, "state": a.state, "title": a.title, "since": a.since or a.fired_at,
             "fired_at": a.fired_at, "resolved_at": a.resolved_at, "episode": a.episode, "what": a.message,
             "fix": a.fix} for a in rows]
    if as_json:
        emit_json(data)
        return
    if not data:
        click.echo("no alerts: nothing is wrong")
        return
    for d in data:
        until = f" → {_local(d['resolved_at'])}" if d["resolved_at"] else ""
        state = paint(f"{d['state'].upper():<9}", "bad" if d["state"] == "firing" else "ok")
        click.echo(f"{state} {d['title']}  (since {_local(d['since'])}{until})")
        if d["state"] == "firing":
            click.echo(f"          {d['what']}")
            click.echo(f"          what to do: {d['fix']}")


@alerts_group.command("history")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 10000))
@json_option
def alerts_history(limit: int, as_json: bool) -> None:
    """Notifications sent (or not), newest first."""
    with _errors(), session_scope(get_settings()) as session:
        rows = notice_history(session, limit=limit)
    data = [{"at": n.sent_at or n.created, "kind": n.kind, "status": n.status, "title": n.title,
             "alert": n.alert_key, "attempts": n.attempts, "targets_ok": n.targets_ok, "error": n.error_text}
            for n in rows]
    if as_json:
        emit_json(data)
        return
    if not data:
        click.echo("no notifications yet")
        return
    for d in data:
        click.echo(f"{_local(d['at']):<16}  {d['kind']:<9} {d['status']:<7} {d['title']}")
        if d["error"]:
            click.echo(f"{'':<18}{d['error']}")


@alerts_group.command("check")
@json_option
def alerts_check(as_json: bool) -> None:
    """Evaluate the rules and send what is due now (what the scheduler does every minute; also a cron watchdog).

    Exit code 1 when something is wrong (an alert is firing).
    """
    with _errors(), terminate_as_exit():
        result = run_alerts(settings=get_settings())
    firing = sorted(f.key for f in result.findings)
    if as_json:
        emit_json({"firing": firing, "fired": result.fired, "repeated": result.repeated,
                   "resolved": result.resolved, "rule_errors": result.rule_errors, "notices": result.statuses})
    else:
        click.echo(f"{len(firing)} alert(s) firing" + (": " + ", ".join(firing) if firing else ""))
        for label, keys in (("fired", result.fired), ("repeated", result.repeated), ("resolved", result.resolved)):
            if keys:
                click.echo(f"  {label}: {', '.join(keys)}")
        for rule, error in result.rule_errors.items():
            click.echo(f"  rule {rule} failed: {error}")
    if firing:
        sys.exit(1)
