"""Regression (issue 11): a malformed ``OMS_BRIDGE_DATABASE_URL`` printed a traceback (and sqlalchemy's
parse error can quote the URL, password included). Now: one line naming the variable, exit 1/2, never
the password. Real subprocesses of the installed ``oms-bridge`` script."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

OMS_BRIDGE = str(Path(sys.executable).parent / "oms-bridge")
PASSWORD = "pw-Zq81xKs"


@pytest.mark.parametrize("url, says", [
    (f"postgresql://oms:{PASSWORD}@db.example:notaport/oms", "its port is not a number"),
    (f"{PASSWORD}-not-a-url", "it cannot be parsed"),
    (f"mysql://oms:{PASSWORD}@db.example/oms", "database type 'mysql' is not supported"),
    (f"postgresql://oms:{PASSWORD}@[::1/oms", "not a valid database URL"),
    (f"postgresql://oms:{PASSWORD}@db.example:5432", "names no database"),
    (f"postgresql://oms:{PASSWORD}@db.example:99999/oms", "port 99999 is out of range"),
])
def test_a_malformed_database_url_is_one_line_without_the_password(home, url, says):
    _assert_one_line(url, says, ["channel", "list"])


@pytest.mark.parametrize("command", [["init"], ["run", "--no-scheduler"], ["keys", "status"]])
def test_every_kind_of_command_says_it_the_same_way(home, command):
    _assert_one_line(f"postgresql://oms:{PASSWORD}@db.example:notaport/oms", "its port is not a number", command)


def _assert_one_line(url: str, says: str, command: list[str]) -> None:
    env = {**os.environ, "OMS_BRIDGE_DATABASE_URL": url}
    done = subprocess.run([OMS_BRIDGE, *command], env=env, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    assert done.returncode in (1, 2), output
    assert "Traceback" not in output
    assert PASSWORD not in output
    lines = [ln for ln in output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "OMS_BRIDGE_DATABASE_URL" in lines[0], output
    assert says in lines[0]


def test_the_config_file_is_named_when_the_url_comes_from_it(home):
    config = home / "config.toml"
    config.write_text(f'[oms_bridge]\ndatabase_url = "postgresql://oms:{PASSWORD}@h:x/oms"\n', encoding="utf-8")
    done = subprocess.run([OMS_BRIDGE, "channel", "list"], env=dict(os.environ), capture_output=True, text=True,
                          timeout=60)
    assert done.returncode in (1, 2) and "Traceback" not in done.stderr and PASSWORD not in done.stderr
    assert f"database_url in {config}" in done.stderr
