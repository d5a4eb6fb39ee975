"""Service commands: run (HTTP app + scheduler), demo, admin password."""

from __future__ import annotations

import click


@click.command("run")
def run_command() -> None:
    """Run the HTTP app and the scheduler."""


@click.command("demo")
def demo_command() -> None:
    """Start every sandbox and run the whole flow on a fresh embedded database."""
