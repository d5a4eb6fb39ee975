"""Regression (issue 11): key loss and a world-readable data directory.

- Every command said "run init", and ``init`` silently made a NEW key while the database held secrets
  under the old one (which were then unreadable for good). ``init`` now refuses, names what the lost
  key protects, and says how to restore it; ``--force-new-key`` goes ahead and says what is lost.
- An empty or corrupt key file gave a misleading or raw error: it now names the file and what is wrong.
- An existing data directory kept mode 0755 and its database 0644: ``init`` and ``run`` restrict them to
  0700/0600 and say so.
"""

from __future__ import annotations

import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from oms_bridge.cli.main import cli
from oms_bridge.settings import reset_settings
from oms_bridge.store.db import dispose_engines

APP_SECRET = "shopee-partner-key-0123456789abcdef"
OMS_BRIDGE = str(Path(sys.executable).parent / "oms-bridge")


def run(*args: str, input: str | None = None) -> Result:
    reset_settings()
    dispose_engines()
    return CliRunner().invoke(cli, list(args), input=input)


@pytest.fixture
def file_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Key-file mode (no OMS_BRIDGE_SECRET_KEYS), initialised, with one platform secret stored."""
    monkeypatch.delenv("OMS_BRIDGE_SECRET_KEYS", raising=False)
    assert run("init").exit_code == 0
    added = run("platform", "add", "shopee-tw", "--type", "shopee", "--host", "https://partner.shopeemobile.com",
                "--app-id", "2001234", "--secret-stdin", input=APP_SECRET + "\n")
    assert added.exit_code == 0, added.output
    return home


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_refuses_to_replace_a_lost_key_while_the_database_holds_secrets(file_home: Path) -> None:
    key_file = file_home / "secret.key"
    key_file.rename(file_home / "secret.key.lost")

    refused = run("init")
    assert refused.exit_code == 1, refused.output
    assert "refusing to create a new key" in refused.output
    assert str(key_file) in refused.output and "restore secret.key from your backup" in refused.output.lower()
    assert "platform 'shopee-tw' app_secret_enc" in refused.output and "--force-new-key" in refused.output
    assert not key_file.exists()  # nothing was created
    assert "Traceback" not in refused.output

    # Any other command points at the restore first, not at `init`
    listed = run("platform", "list")
    assert listed.exit_code == 1 and "restore secret.key from your backup" in listed.output

    # Restoring the key file is all it takes
    (file_home / "secret.key.lost").rename(key_file)
    assert run("init").exit_code == 0
    shown = run("platform", "show", "shopee-tw")
    assert shown.exit_code == 0 and "cdef" in shown.output


def test_force_new_key_says_what_becomes_unreadable(file_home: Path) -> None:
    (file_home / "secret.key").unlink()
    forced = run("init", "--force-new-key")
    assert forced.exit_code == 0, forced.output
    assert "WARNING: new key created" in forced.output
    assert "1 stored secret(s) (platform 'shopee-tw' app_secret_enc)" in forced.output
    assert (file_home / "secret.key").exists()
    # ... and the secret itself is reported as unreadable by name, never a traceback
    shown = run("platform", "show", "shopee-tw")
    assert shown.exit_code in (0, 1) and "Traceback" not in shown.output


def test_a_new_installation_still_gets_its_key(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMS_BRIDGE_SECRET_KEYS", raising=False)
    first = run("init")
    assert first.exit_code == 0 and "created" in first.output
    assert _mode(home / "secret.key") == 0o600


@pytest.mark.parametrize("content, says", [
    (b"", "is empty: it holds no key"),
    (b"\n  \n", "is empty: it holds no key"),
    (b"not-a-fernet-key\n", "key 1 of 1 is not a valid encryption key"),
    (b"\xff\xfe\x00garbage", "is corrupt: it holds bytes that are not text"),
])
def test_an_empty_or_corrupt_key_file_is_named(file_home: Path, content: bytes, says: str) -> None:
    key_file = file_home / "secret.key"
    key_file.write_bytes(content)
    for command in (["platform", "list"], ["init"], ["keys", "status"]):
        result = run(*command)
        assert result.exit_code == 1, (command, result.output)
        assert str(key_file) in result.output and says in result.output, (command, result.output)
        assert isinstance(result.exception, SystemExit)  # a clean error, not a traceback


def test_an_invalid_key_in_the_environment_is_named(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_BRIDGE_SECRET_KEYS", "short-key")
    result = run("platform", "list")
    assert result.exit_code == 1 and "OMS_BRIDGE_SECRET_KEYS: key 1 of 1 is not a valid encryption key" in result.output


def test_init_restricts_an_open_data_directory(file_home: Path) -> None:
    database = file_home / "oms-bridge.db"
    os.chmod(file_home, 0o755)
    os.chmod(database, 0o644)
    os.chmod(file_home / "secret.key", 0o644)
    result = run("init")
    assert result.exit_code == 0, result.output
    assert _mode(file_home) == 0o700 and _mode(database) == 0o600 and _mode(file_home / "secret.key") == 0o600
    assert f"restricted directory {file_home} from mode 0755 to 0700" in result.output
    assert f"restricted file {database} from mode 0644 to 0600" in result.output
    again = run("init")
    assert "restricted" not in again.output  # nothing left to fix


def test_run_restricts_an_open_data_directory_at_start(file_home: Path) -> None:
    database = file_home / "oms-bridge.db"
    os.chmod(file_home, 0o755)
    os.chmod(database, 0o644)
    proc = subprocess.Popen([OMS_BRIDGE, "run", "--no-scheduler", "--port", "0"], env=dict(os.environ),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = proc.stdout.readline()
            lines.append(line)
            if "HTTP on" in line or not line:
                break
        assert any("HTTP on" in ln for ln in lines), lines
        assert _mode(file_home) == 0o700 and _mode(database) == 0o600
        assert any(f"restricted file {database}" in ln for ln in lines), lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)
