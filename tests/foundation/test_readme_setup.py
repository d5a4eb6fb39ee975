"""The README's setup works as written: every ``oms-bridge`` line in its code blocks names a command that
exists, with options that exist (``--help`` after the line parses it the way click would), the bridge is
started before ``channel authorize`` (OAuth consent returns to ``base_url``), and the first two lines stay
the two commands that work on a fresh machine."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from oms_bridge.cli.main import cli

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
FIRST_LINES = [
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e . && oms-bridge demo',
    'python3 -m venv .venv && . .venv/bin/activate && pip install -e ".[test,dev]" && python -m pytest -q',
]


def code_blocks(text: str) -> list[list[str]]:
    """The lines of every fenced code block, continuation lines joined."""
    blocks: list[list[str]] = []
    current: list[str] | None = None
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            if current is None:
                current = []
            else:
                joined = "\n".join(current).replace("\\\n", " ")
                blocks.append([part.strip() for part in joined.splitlines() if part.strip()])
                current = None
        elif current is not None:
            current.append(line)
    return blocks


def invocations(lines: list[str]) -> list[list[str]]:
    """``oms-bridge`` argument lists of these lines: comments dropped, after a pipe, without a trailing ``&``."""
    found = []
    for line in lines:
        if not re.match(r"^(oms-bridge\s|.*\|\s*oms-bridge\s)", line):
            continue  # prose or another program
        # Documentation writes optional parts as [--json] or [--held|--not-held]: check the (first) option too.
        line = re.sub(r"\[(--[^\[\]]*)\]", lambda m: m.group(1).split("|")[0], line)
        words = shlex.split(line, comments=True)
        while "|" in words:
            words = words[words.index("|") + 1:]
        if words and words[-1] == "&":
            words = words[:-1]
        for op in ("&&", ">"):
            if op in words:
                words = words[:words.index(op)]
        if words and words[0] == "oms-bridge":
            found.append(words[1:])
    return found


def parse(args: list[str]) -> None:
    """Parse ``args`` as ``oms-bridge`` would, without running anything: unknown commands, unknown options,
    and extra arguments fail (``--help`` alone would stop before the argument count is checked); a required
    option left out (the line may rely on a prompt) and a placeholder value (``--limit N``, a file to
    import) are fine."""
    command: click.Command = cli
    rest = list(args)
    while isinstance(command, click.Group):
        _name, found, rest = command.resolve_command(click.Context(command), rest)
        assert found is not None, f"no command {args}"
        command = found
    try:
        command.make_context(command.name or "", rest)
    except (click.MissingParameter, click.BadParameter):
        pass


SETUP = invocations([line for block in code_blocks(README.read_text(encoding="utf-8")) for line in block])
DOCS = [(path.name, args) for path in sorted((REPO / "docs").glob("*.md"))
        for args in invocations([line for block in code_blocks(path.read_text(encoding="utf-8")) for line in block])]


def test_readme_starts_with_the_two_commands_for_a_fresh_machine() -> None:
    assert code_blocks(README.read_text(encoding="utf-8"))[0] == FIRST_LINES


@pytest.mark.parametrize("args", SETUP, ids=[" ".join(a[:3]) for a in SETUP])
def test_every_readme_command_exists_with_its_options(args: list[str]) -> None:
    parse(args)


@pytest.mark.parametrize("doc,args", DOCS, ids=[f"{d}:{' '.join(a[:3])}" for d, a in DOCS])
def test_every_documented_command_exists_with_its_options(doc: str, args: list[str]) -> None:
    parse(args)


def test_the_bridge_runs_before_oauth_consent() -> None:
    commands = [" ".join(a[:2]) for a in SETUP]
    assert "run" in [a[0] for a in SETUP] and "channel authorize" in commands
    first_run = next(i for i, a in enumerate(SETUP) if a[0] == "run")
    assert first_run < commands.index("channel authorize"), "start the bridge before `channel authorize`"
    text = README.read_text(encoding="utf-8")
    assert text.index("OMS_BRIDGE_BASE_URL") < text.index("oms-bridge channel authorize")
    assert "reachable at `base_url`" in text
    # the help of the command says it too
    assert "reachable at base_url" in CliRunner().invoke(cli, ["channel", "authorize", "--help"]).output


def test_the_parser_finds_what_it_must() -> None:
    """The README checks cannot pass by finding nothing: the setup lines are all there."""
    assert "init" in [a[0] for a in SETUP]
    assert {"channel add", "channel authorize", "erp check", "sku map"} <= {" ".join(a[:2]) for a in SETUP}
    assert len(SETUP) >= 15 and len(DOCS) >= 40
