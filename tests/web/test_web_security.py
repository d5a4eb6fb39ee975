"""Admin passwords, session cookies and the ``admin set-password`` command."""

from __future__ import annotations

from click.testing import CliRunner
from sqlalchemy import select

from oms_bridge.cli.main import cli
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import AdminUser
from oms_bridge.web import security


def test_password_hash_is_salted_scrypt_and_verifies():
    first, second = security.hash_password("s3cret-pass"), security.hash_password("s3cret-pass")
    assert first.startswith("scrypt$") and first != second  # salted
    assert "s3cret-pass" not in first
    assert security.verify_password("s3cret-pass", first)
    assert not security.verify_password("s3cret-pasS", first)
    assert not security.verify_password("s3cret-pass", "md5$nonsense")


def test_set_password_command_and_session_lifecycle(store_settings):
    sqlite_settings = store_settings  # the same flow on SQLite and PostgreSQL (Y/N binding differs)
    runner = CliRunner()
    short = runner.invoke(cli, ["admin", "set-password", "--password-stdin"], input="short\n")
    assert short.exit_code == 1 and "at least 8 characters" in short.output
    ok = runner.invoke(cli, ["admin", "set-password", "--password-stdin"], input="a long password\n")
    assert ok.exit_code == 0, ok.output
    with session_scope(sqlite_settings) as s:
        user = s.scalars(select(AdminUser)).one()
        assert security.verify_password("a long password", user.password_hash)
        assert "a long password" not in user.password_hash and user.session_key_enc is None

    assert security.authenticate("admin", "wrong password", settings=sqlite_settings) is None
    assert security.authenticate("nobody", "a long password", settings=sqlite_settings) is None
    user_id = security.authenticate("admin", "a long password", settings=sqlite_settings)
    cookie = security.issue_session(user_id, settings=sqlite_settings)
    assert security.read_session(cookie, settings=sqlite_settings).username == "admin"
    tampered = cookie[:-1] + ("A" if cookie[-1] != "A" else "B")
    assert security.read_session(tampered, settings=sqlite_settings) is None
    assert security.read_session("garbage", settings=sqlite_settings) is None
    # Changing the password signs every existing session out.
    assert runner.invoke(cli, ["admin", "set-password", "--password-stdin"], input="another password\n").exit_code == 0
    assert security.read_session(cookie, settings=sqlite_settings) is None


def test_csrf_tokens_must_match():
    token = security.new_csrf_token()
    assert security.csrf_ok(token, token)
    assert security.csrf_for(token) != security.csrf_for(security.new_csrf_token())
    assert not security.csrf_ok(token, token + "x")
    assert not security.csrf_ok(None, token) and not security.csrf_ok(token, None)
