"""Regression (issue 11): run errors and dashboard warnings stored raw SQL with its parameters, which
carry buyers' names, phones and addresses. Every stored/logged error text is now a classified sentence
(:func:`oms_bridge.store.errors.describe_error`), proven here with real database errors on SQLite and
PostgreSQL whose parameters, statement and DETAIL line hold personal data."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
from oms_bridge.store.models import Order, ProcessRun
from oms_bridge.store.runs import record_run
from oms_bridge.vault import Vault
from oms_bridge.web.dashboard import channel_statuses

NAME, PHONE, ADDRESS = "王小明", "0912-345-678", "台北市信義區松仁路100號"
PII = (NAME, PHONE, ADDRESS, "0912345678")


def _channel(settings) -> int:
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        add_platform(s, vault, value="momo-app", platform_type="momo", host="http://127.0.0.1:9")
        ch = add_channel(s, vault, value="momo-a", platform="momo-app", shop_id="1")
        ch.auth_state = "active"
        return ch.id


def _duplicate_order(settings, channel_id: int) -> None:
    """Two orders with the same (channel, external id): the second INSERT carries the buyer's data."""
    with session_scope(settings) as s:
        s.add(Order(oms_channel_id=channel_id, external_id="DUP-1", status="paid"))
    with session_scope(settings) as s:
        s.add(Order(oms_channel_id=channel_id, external_id="DUP-1", status="paid", buyer_name=NAME,
                    buyer_phone=PHONE, ship_address1=ADDRESS, ship_name=NAME, ship_phone="0912345678"))


def _assert_clean(text_: str) -> None:
    for value in PII:
        assert value not in text_, text_
    for leak in ("INSERT", "[SQL:", "parameters", "DETAIL", "Failing row", "Key ("):
        assert leak not in text_, text_


def test_a_failed_run_stores_a_classified_error_never_the_buyers_data(store_settings, caplog):
    settings = store_settings
    channel_id = _channel(settings)
    with pytest.raises(Exception) as caught, record_run("getorder", channel_id=channel_id, settings=settings):
        _duplicate_order(settings, channel_id)
    assert NAME in str(caught.value.orig) or "DUP-1" in str(caught.value.orig) or settings.is_sqlite
    with session_scope(settings) as s:
        run = s.query(ProcessRun).one()
    assert run.outcome == "failed"
    assert run.error_text.startswith("database error: unique violation on oms_order (channel, external id)"), \
        run.error_text
    _assert_clean(run.error_text)
    # ... and the dashboard warning built from it
    with session_scope(settings) as s:
        (status,) = channel_statuses(s, settings, datetime.now(UTC))
    warning = next(w for w in status.warnings if "failed" in w)
    assert "unique violation on oms_order (channel, external id)" in warning
    _assert_clean(warning)


@pytest.mark.parametrize("statement, expected", [
    # PostgreSQL quotes the offending value in the message itself
    ("SELECT CAST(:v AS integer)", "invalid input syntax"),
    # ... and a CHECK violation's DETAIL holds the whole failing row
    ("INSERT INTO oms_order (oms_order_uu, oms_channel_id, external_id, buyer_name, ship_address1, isactive) "
     "VALUES ('6f1c7e52-8d7b-4d8a-9e57-1b2f8c0a4d11', :c, 'X-1', :v, :a, 'X')", "check violation on oms_order"),
])
def test_postgresql_messages_with_values_are_classified(pg_settings, statement, expected):
    channel_id = _channel(pg_settings)
    with pytest.raises(Exception) as caught, session_scope(pg_settings) as s:
        s.execute(text(statement), {"v": PHONE if "CAST" in statement else NAME, "a": ADDRESS, "c": channel_id})
    raw = str(caught.value)
    assert PHONE in raw or NAME in raw  # the raw text would have leaked it
    described = describe_error(caught.value)
    assert described.startswith("database error: " + expected), described
    _assert_clean(described)


_NULL_EXTERNAL_ID = ("INSERT INTO oms_order (oms_order_uu, oms_channel_id, external_id, buyer_name) "
                     "VALUES (:u, :c, NULL, :n)")


def test_a_database_error_logged_with_its_traceback_is_redacted(sqlite_settings, caplog):
    from oms_bridge.logsafe import install_log_safety

    install_log_safety()
    channel_id = _channel(sqlite_settings)
    log = logging.getLogger("oms_bridge.test")
    try:
        with session_scope(sqlite_settings) as s:
            s.execute(text(_NULL_EXTERNAL_ID), {"u": "6f1c7e52-8d7b-4d8a-9e57-1b2f8c0a4d12", "c": channel_id,
                                                "n": NAME})
    except Exception:  # noqa: BLE001 - what a handler's log.exception does
        with caplog.at_level(logging.ERROR, logger="oms_bridge.test"):
            log.exception("writing the order failed")
    (record,) = [r for r in caplog.records if r.name == "oms_bridge.test"]
    formatted = logging.Formatter("%(message)s").format(record)
    assert "not-null violation" in formatted and "Traceback" in formatted
    for value in PII:  # (the stack's source lines are there, as in any traceback; no data, no DETAIL)
        assert value not in formatted
    assert "[SQL:" not in formatted and "DETAIL" not in formatted and "INSERT INTO" not in formatted


def test_cli_prints_the_classified_error(store_settings, monkeypatch):
    """A database error in a CLI command is one classified line (no SQL, no parameters)."""
    import click

    from oms_bridge.cli.common import cli_errors

    channel_id = _channel(store_settings)

    @click.command()
    def boom() -> None:
        with cli_errors():
            _duplicate_order(store_settings, channel_id)

    result = CliRunner().invoke(boom, [])
    assert result.exit_code == 1, result.output
    assert "database error: unique violation on oms_order (channel, external id)" in result.output
    assert "Traceback" not in result.output
    _assert_clean(result.output)
