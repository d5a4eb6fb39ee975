"""Service commands: ``run`` (HTTP app + scheduler), ``demo``, ``admin set-password``."""

from __future__ import annotations

import click

from oms_bridge.cli.common import cli_errors, emit_json, fail, json_option, read_secret
from oms_bridge.datadir import secure_data_dir
from oms_bridge.settings import check_setting, get_settings

__all__ = ["run_command", "demo_command", "admin_group"]


@click.command("run")
@click.option("--no-scheduler", is_flag=True, help="Serve HTTP only (extra web/API instances).")
@click.option("--scheduler-only", is_flag=True, help="Run the scheduler only (worker instances).")
@click.option("--host", default=None, help="Listen address (default: setting http_host, 127.0.0.1).")
@click.option("--port", type=int, default=None, help="Listen port (default: setting http_port, 8765).")
@click.option("--processes", type=click.IntRange(1, 64), default=None,
              help="Scheduler processes in all: this one plus N-1 scheduler-only workers sharing every cycle's jobs, "
                   "to use N cores (default: setting scheduler_processes, 1).")
@click.option("--worker-of", type=int, default=None, hidden=True)  # set by --processes on its workers
def run_command(no_scheduler: bool, scheduler_only: bool, host: str | None, port: int | None,
                processes: int | None, worker_of: int | None) -> None:
    """Run the HTTP app and the scheduler until SIGTERM/SIGINT (then finish running batches)."""
    from oms_bridge.service import ServiceError, run_service

    if no_scheduler and scheduler_only:
        fail("--no-scheduler and --scheduler-only exclude each other")
    if no_scheduler and processes and processes > 1:
        fail("--processes starts scheduler workers; it cannot go with --no-scheduler")
    with cli_errors():
        settings = get_settings()
        if processes is None:
            processes = 1 if no_scheduler or worker_of else int(check_setting(
                "scheduler_processes", settings.extra.get("scheduler_processes", 1)))
        for note in secure_data_dir(settings):  # an old or restored data directory is often world-readable
            click.echo(f"oms-bridge: {note}", err=True)

        def _started(service) -> None:
            parts = []
            if service.server:
                parts.append(f"HTTP on {service.url} (admin: {service.url}/admin/)")
            if service.scheduler:
                parts.append(f"scheduler running ({len(service.scheduler.get_jobs())} jobs)")
            if service.workers:
                parts.append(f"{service.workers.count} worker processes (pids "
                             f"{', '.join(map(str, service.workers.pids()))})")
            click.echo("oms-bridge: " + "; ".join(parts), err=True)

        try:
            service = run_service(settings=settings, http=not scheduler_only, scheduler=not no_scheduler, host=host,
                                  port=port, processes=processes, worker_of=worker_of, on_started=_started)
        except ServiceError as exc:
            fail(str(exc))
    if service.failure:
        fail(f"{service.failure}; stopped")
    click.echo("oms-bridge: stopped cleanly", err=True)


@click.command("demo")
@click.option("--serve", is_flag=True, help="Keep the app and scheduler running to explore the admin pages.")
@click.option("--orders", "orders_per_channel", type=click.IntRange(1, 500), default=5, show_default=True,
              help="Orders generated per channel.")
@click.option("--home", "demo_home", type=click.Path(file_okay=False), default=None,
              help="Demo data directory (default: a new temporary directory).")
@click.option("--port", type=int, default=0, help="HTTP port with --serve (default: any free port).")
@json_option
def demo_command(serve: bool, orders_per_channel: int, demo_home: str | None, port: int, as_json: bool) -> None:
    """Start every sandbox and run the whole flow on a fresh embedded database.

    Prints a summary: orders per channel and state, held orders counted by cause, and where to look.
    With --json the summary is JSON on stdout and the progress lines go to stderr.
    """
    # The one product door into the simulators (tests/test_architecture.py names it): imported here,
    # when the command runs, so nothing else the CLI loads pulls a simulator in.
    from sandboxes.demo import DemoError, run_demo, summary_data

    def progress(line: str) -> None:
        click.echo(line, err=as_json)

    try:
        run_demo(orders_per_channel=orders_per_channel, home=demo_home, serve=serve, port=port, echo=progress,
                 on_summary=(lambda result: emit_json(summary_data(result))) if as_json else None)
    except DemoError as exc:
        fail(str(exc))


@click.group("admin")
def admin_group() -> None:
    """Web admin accounts."""


@admin_group.command("set-password")
@click.option("--username", default="admin", show_default=True)
@click.option("--password-stdin", is_flag=True, help="Read the password from stdin instead of a prompt.")
def set_password_command(username: str, password_stdin: bool) -> None:
    """Create the admin account or change its password (signs every session out)."""
    from oms_bridge.web.security import PasswordError, set_admin_password

    password = read_secret("new admin password", from_stdin=password_stdin, prompt=not password_stdin, confirm=True)
    with cli_errors():
        try:
            set_admin_password(username, password, settings=get_settings())
        except PasswordError as exc:
            fail(str(exc))
    click.echo(f"password set for web admin user {username!r}")
