"""The admin CLI end to end (click's CliRunner on a real SQLite file, plus one real subprocess)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select, update

from oms_bridge.cli.main import cli
from oms_bridge.configure.channels import decrypt_channel_credentials
from oms_bridge.configure.lookups import get_channel, get_platform
from oms_bridge.configure.platforms import decrypt_platform_secret
from oms_bridge.keys import read_key_file
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store.db import dispose_engines, session_scope
from oms_bridge.store.models import Channel, Platform
from oms_bridge.vault import Vault, generate_key

APP_SECRET = "shopee-partner-key-0123456789abcdef"
CYB_USER = "cyberbiz-hmac-user-AAAA1111"
CYB_SECRET = "cyberbiz-hmac-secret-ZZZZ9999"
MOMO_PWD = "momo-scm-password-QQQQ7777"


def run(*args: str, input: str | None = None, ok: bool = True) -> Result:
    result = CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)
    if ok:
        assert result.exit_code == 0, result.output
    return result


@pytest.fixture
def file_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Key-file mode: no OMS_BRIDGE_SECRET_KEYS, `init` creates the key file."""
    monkeypatch.delenv("OMS_BRIDGE_SECRET_KEYS", raising=False)
    reset_settings()
    return home


def _configure_three(home: Path) -> None:
    run("init")
    run("platform", "add", "shopee-tw", "--type", "shopee", "--host", "https://partner.shopeemobile.com",
        "--app-id", "2001234", "--secret-stdin", input=APP_SECRET + "\n")
    run("platform", "add", "cyb", "--type", "cyberbiz", "--host", "https://app-store-api.cyberbiz.io")
    run("platform", "add", "momo", "--type", "momo", "--host", "https://scmapi.momoshop.com.tw")
    run("channel", "add", "cyb-a", "--platform", "cyb", "--shop-id", "shop-a.cyberbiz.co",
        "--credentials-json-stdin", "--erp-org-id", "11", "--erp-bp-identifier", "email",
        "--settings-json", '{"auth_model": "v1"}',
        input=json.dumps({"username": CYB_USER, "secret": CYB_SECRET}))
    run("channel", "add", "momo-a", "--platform", "momo", "--shop-id", "123456", "--credential", "entpPwd",
        "--getorder-interval", "10", input=MOMO_PWD + "\n")


def _db_bytes(home: Path) -> bytes:
    dispose_engines()  # checkpoint nothing away: read the main file and the WAL as they are on disk
    return b"".join(p.read_bytes() for p in home.glob("oms-bridge.db*"))


def test_init_is_safe_twice_and_creates_a_private_key_file(file_home: Path) -> None:
    from oms_bridge.store.schema import head

    latest = head()  # the newest shipped revision (0001, or the open one once a model changed)
    first = run("init").output
    assert "created" in first and latest in first
    key_file = file_home / "secret.key"
    assert key_file.stat().st_mode & 0o777 == 0o600
    key = key_file.read_text()
    second = run("init", "--json")
    data = json.loads(second.output)
    assert data["schema_before"] == data["schema"] == latest
    assert key_file.read_text() == key
    assert json.loads(run("db", "current", "--json").output) == {"current": latest, "head": latest,
                                                                  "up_to_date": True}
    assert f"{latest} (head)" in run("db", "history").output
    assert "nothing to do" in run("db", "upgrade").output
    assert "CREATE TABLE oms_platform" in run("db", "sql").output


def test_platform_two_channels_list_masked_rotate_read_back(file_home: Path) -> None:
    _configure_three(file_home)
    listing = run("channel", "list").output + run("platform", "list").output
    for secret in (APP_SECRET, CYB_USER, CYB_SECRET, MOMO_PWD):
        assert secret not in listing
    assert "****cdef" in listing and "****9999" in listing

    shown = json.loads(run("channel", "show", "cyb-a", "--json").output)
    assert shown["credentials"] == {"secret": "****9999", "username": "****1111"}
    assert shown["erp"]["erp_org_id"] == 11 and shown["settings"] == {"auth_model": "v1"}
    assert shown["auth_state"] == "new" and shown["access_token"] == ""
    momo = json.loads(run("channel", "show", "momo-a", "--json").output)
    assert momo["getorder_interval_minutes"] == 10
    assert set(momo["credentials_missing"]) == {"entpID", "entpCode", "otpBackNo"}
    assert [c["value"] for c in json.loads(run("channel", "list", "--json").output)] == ["cyb-a", "momo-a"]

    # Nothing in clear in the database file (main file + WAL).
    raw = _db_bytes(file_home)
    assert b"oms_channel" in raw  # we did read the database
    for secret in (APP_SECRET, CYB_USER, CYB_SECRET, MOMO_PWD):
        assert secret.encode() not in raw

    old_keys = read_key_file(file_home / "secret.key")
    out = json.loads(run("keys", "rotate", "--json").output)
    assert out["reencrypted"] == 3 and out["mode"] == "file"
    keys = read_key_file(file_home / "secret.key")
    assert keys[1:] == old_keys and len(keys) == 2

    # Read back with the NEW key alone: every secret was re-encrypted.
    reset_settings()
    newest = Vault(keys[:1])
    with session_scope(get_settings()) as s:
        assert decrypt_platform_secret(newest, get_platform(s, "shopee-tw")) == APP_SECRET
        assert decrypt_channel_credentials(newest, get_channel(s, "cyb-a")) == {
            "username": CYB_USER, "secret": CYB_SECRET}
        assert decrypt_channel_credentials(newest, get_channel(s, "momo-a")) == {
            "entpPwd": MOMO_PWD}
    status = json.loads(run("keys", "status", "--json").output)
    assert status["on_newest_key"] == 3 and status["on_older_keys"] == 0 and status["undecryptable"] == []
    assert "dropped 1 old key" in run("keys", "prune").output
    assert read_key_file(file_home / "secret.key") == keys[:1]
    assert "****9999" in run("channel", "show", "cyb-a").output


def test_rotate_drop_old_in_one_go(file_home: Path) -> None:
    _configure_three(file_home)
    out = json.loads(run("keys", "rotate", "--drop-old", "--json").output)
    assert out["old_keys_dropped"] == 1
    assert len(read_key_file(file_home / "secret.key")) == 1
    assert "****cdef" in run("platform", "show", "shopee-tw").output


def test_rotation_is_one_transaction_and_names_the_undecryptable_owner(file_home: Path) -> None:
    _configure_three(file_home)
    foreign = Vault([generate_key()]).encrypt("token-from-another-installation")
    settings = get_settings()
    with session_scope(settings) as s:
        before = {p.value: p.app_secret_enc for p in s.scalars(select(Platform))}
        s.execute(update(Channel).where(Channel.value == "momo-a").values(refresh_token_enc=foreign))
    result = run("keys", "rotate", ok=False)
    assert result.exit_code == 1
    assert "channel 'momo-a' refresh_token_enc" in result.output and "Traceback" not in result.output
    with session_scope(settings) as s:
        after = {p.value: p.app_secret_enc for p in s.scalars(select(Platform))}
    assert after == before  # rolled back: nothing half-rotated
    status = run("keys", "status", ok=False)
    assert status.exit_code == 1 and "cannot decrypt: channel 'momo-a' refresh_token_enc" in status.output
    prune = run("keys", "prune", ok=False)
    assert prune.exit_code == 1 and "keys rotate" in prune.output
    assert len(read_key_file(file_home / "secret.key")) == 2  # the new key stays on disk, old ones kept


def test_env_mode_rotation(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("init")
    run("platform", "add", "shopee-tw", "--type", "shopee", "--host", "https://partner.shopeemobile.com",
        "--secret-env", "MY_APP_SECRET", ok=False)  # unset variable: clear error
    monkeypatch.setenv("MY_APP_SECRET", APP_SECRET)
    run("platform", "add", "shopee-tw", "--type", "shopee", "--host", "https://partner.shopeemobile.com",
        "--secret-env", "MY_APP_SECRET")
    single = run("keys", "rotate", ok=False)
    assert single.exit_code == 1 and "keys generate" in single.output and "OMS_BRIDGE_SECRET_KEYS" in single.output
    old = os.environ["OMS_BRIDGE_SECRET_KEYS"]
    new = run("keys", "generate").output.strip()
    monkeypatch.setenv("OMS_BRIDGE_SECRET_KEYS", f"{new},{old}")
    reset_settings()
    assert json.loads(run("keys", "rotate", "--json").output)["reencrypted"] == 1
    monkeypatch.setenv("OMS_BRIDGE_SECRET_KEYS", new)
    reset_settings()
    assert "****cdef" in run("platform", "show", "shopee-tw").output
    assert run("keys", "prune", ok=False).exit_code == 1


def test_error_cases_are_one_clear_line(file_home: Path) -> None:
    _configure_three(file_home)
    cases = [
        (["platform", "add", "x", "--type", "ebay", "--host", "https://x"],
         "unknown platform type 'ebay'; known types: cyberbiz, momo, shopee, shopline"),
        (["platform", "add", "shopee-tw", "--type", "shopee", "--host", "https://x"], "platform 'shopee-tw' already"),
        (["platform", "add", "bad value", "--type", "shopee", "--host", "https://x"], "is invalid"),
        (["platform", "add", "y", "--type", "shopee", "--host", "ftp:/nowhere"], "not an http(s) URL"),
        (["channel", "add", "cyb-a", "--platform", "cyb"], "channel 'cyb-a' already exists"),
        (["channel", "add", "z", "--platform", "lazada"], "cannot add channel 'z': no platform 'lazada'"),
        (["channel", "add", "z", "--platform", "cyb", "--settings-json", "{nope"], "--settings-json is not valid JSON"),
        (["channel", "add", "z", "--platform", "cyb", "--credentials-json-stdin"], "unknown credential(s) token"),
        (["platform", "remove", "cyb"],
         "platform 'cyb' still has channel(s) cyb-a; remove them first or pass --cascade"),
        (["channel", "show", "nope"], "no channel 'nope'; known channels: cyb-a, momo-a"),
        (["platform", "show", "nope"], "no platform 'nope'"),
        (["platform", "add", "q", "--type", "shopee", "--host", "https://x", "--secret-stdin"], "stdin held no"),
        (["channel", "update", "cyb-a", "--getorder-interval", "0"], "between 1 and 10080 minutes, got 0"),
        (["platform", "update", "cyb", "--type", "shopline"], "its type cannot change under them"),
        (["platform", "update", "cyb", "--type", "ebay"], "unknown platform type 'ebay'"),
    ]
    for args, message in cases:
        stdin = '{"token": "x"}' if "--credentials-json-stdin" in args else ""
        result = run(*args, input=stdin, ok=False)
        assert result.exit_code == 1, (args, result.output)
        assert message in result.output, (args, result.output)
        assert "Traceback" not in result.output
    # A secret value on the command line is not an option at all.
    argv_secret = run("platform", "add", "q", "--type", "shopee", "--host", "https://x", "--secret", APP_SECRET,
                      ok=False)
    assert argv_secret.exit_code == 2
    # Remove with --cascade takes the channels along.
    out = json.loads(run("platform", "remove", "cyb", "--cascade", "--json").output)
    assert out == {"removed": "cyb", "channels_removed": ["cyb-a"]}
    assert [c["value"] for c in json.loads(run("channel", "list", "--json").output)] == ["momo-a"]


def test_update_enable_disable_remove(file_home: Path) -> None:
    _configure_three(file_home)
    run("channel", "update", "cyb-a", "--credentials-json-stdin", input='{"secret": "new-secret-value-5555"}')
    shown = json.loads(run("channel", "show", "cyb-a", "--json").output)
    assert shown["credentials"] == {"secret": "****5555", "username": "****1111"}  # merged
    run("channel", "update", "cyb-a", "--replace-credentials", "--credentials-json-stdin",
        input='{"username": "only-user-xxxx8888"}')
    assert json.loads(run("channel", "show", "cyb-a", "--json").output)["credentials"] == {"username": "****8888"}
    run("channel", "update", "cyb-a", "--erp-warehouse-id", "50", "--name", "Cyberbiz A")
    shown = json.loads(run("channel", "show", "cyb-a", "--json").output)
    assert shown["erp"]["erp_warehouse_id"] == 50 and shown["erp"]["erp_org_id"] == 11 and shown["name"] == "Cyberbiz A"
    run("channel", "disable", "cyb-a")
    assert json.loads(run("channel", "show", "cyb-a", "--json").output)["active"] is False
    run("channel", "enable", "cyb-a")
    assert json.loads(run("channel", "show", "cyb-a", "--json").output)["active"] is True
    run("platform", "update", "shopee-tw", "--host", "https://partner.test-stable.shopeemobile.com/",
        "--secret-stdin", input="replaced-secret-value-7777\n")
    p = json.loads(run("platform", "show", "shopee-tw", "--json").output)
    assert p["host"] == "https://partner.test-stable.shopeemobile.com" and p["app_secret"] == "****7777"
    run("channel", "remove", "cyb-a")
    assert "cyb-a" not in run("channel", "list").output


def test_wrong_key_is_a_clear_error_naming_the_channel(file_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _configure_three(file_home)
    monkeypatch.setenv("OMS_BRIDGE_SECRET_KEYS", generate_key())
    reset_settings()
    result = run("channel", "show", "cyb-a", ok=False)
    assert result.exit_code == 1
    assert "cannot decrypt channel 'cyb-a' credentials" in result.output and "Traceback" not in result.output
    result = run("platform", "list", ok=False)
    assert "cannot decrypt platform 'shopee-tw' app secret" in result.output

    # The same through the installed console script in a real process.
    exe = Path(sys.executable).with_name("oms-bridge")
    env = {**os.environ, "OMS_BRIDGE_SECRET_KEYS": generate_key()}
    proc = subprocess.run([str(exe), "channel", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert "cannot decrypt channel 'cyb-a' credentials" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    # No key at all: clear pointer to init.
    env = {k: v for k, v in os.environ.items() if k != "OMS_BRIDGE_SECRET_KEYS"}
    (file_home / "secret.key").rename(file_home / "secret.key.away")
    proc = subprocess.run([str(exe), "platform", "list"], env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1 and "no encryption key" in proc.stderr and "Traceback" not in proc.stderr


def test_commands_before_init_say_run_init(home: Path) -> None:
    result = run("platform", "list", ok=False)
    assert result.exit_code == 1 and "oms-bridge init" in result.output


def test_prompt_credentials_asks_for_every_declared_field(file_home: Path) -> None:
    _configure_three(file_home)
    run("channel", "add", "momo-b", "--platform", "momo", "--prompt-credentials",
        input="12345678\n654321\nanother-momo-pwd-4321\n\n")
    shown = json.loads(run("channel", "show", "momo-b", "--json").output)
    assert shown["credentials_missing"] == []
    assert shown["credentials"]["entpPwd"] == "****4321" and shown["credentials"]["otpBackNo"] == ""
    with session_scope(get_settings()) as s:
        creds = decrypt_channel_credentials(Vault.from_settings(get_settings()),
                                                      get_channel(s, "momo-b"))
    assert creds == {"entpID": "12345678", "entpCode": "654321", "entpPwd": "another-momo-pwd-4321", "otpBackNo": ""}
