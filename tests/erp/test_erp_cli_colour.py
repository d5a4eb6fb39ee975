"""Colour only where a person reads a terminal: ``erp check`` in a real process on a pseudo-terminal is
coloured; with ``NO_COLOR=1`` (no-color.org) or into a pipe it carries no ANSI escape at all."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import threading
from pathlib import Path

from erp_helpers import ErpEnv

ESC = b"\x1b["
EXE = str(Path(sys.executable).parent / "oms-bridge")


def _on_terminal(args: list[str], env: dict[str, str]) -> bytes:
    """Run with stdout and stderr on a pseudo-terminal; everything it wrote."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def read() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: the process closed its side
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    proc = subprocess.Popen([EXE, *args], stdin=subprocess.DEVNULL, stdout=slave, stderr=slave, env=env)
    os.close(slave)
    proc.wait(timeout=120)
    reader.join(timeout=10)
    os.close(master)
    return b"".join(chunks)


def test_colour_on_a_terminal_only_and_never_with_no_color(erp_env: ErpEnv) -> None:
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    coloured = _on_terminal(["erp", "check"], env)
    assert b"[ok]" in coloured and ESC + b"32m" in coloured  # green [ok] lines

    plain = _on_terminal(["erp", "check"], {**env, "NO_COLOR": "1"})
    assert b"[ok]" in plain and ESC not in plain

    piped = subprocess.run([EXE, "erp", "check"], env=env, capture_output=True, timeout=120)
    assert b"[ok]" in piped.stdout and ESC not in piped.stdout + piped.stderr

    as_json = _on_terminal(["erp", "check", "--json"], env)
    assert b'"ok": true' in as_json and ESC not in as_json  # JSON is never coloured
