"""Regression: `oms-bridge init` against a PostgreSQL database that does not exist said "run
`oms-bridge init`" (the command just run). Database problems must name their real fix."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from oms_bridge.cli.main import cli
from oms_bridge.settings import reset_settings
from oms_bridge.store.db import dispose_engines


def _invoke(*args: str):
    reset_settings()
    dispose_engines()
    return CliRunner().invoke(cli, list(args))


def test_qa_init_on_a_missing_postgresql_database_says_create_it(home: Path, pg_url: str,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    missing = make_url(pg_url).set(database=f"omsb_missing_{uuid.uuid4().hex[:8]}")
    monkeypatch.setenv("OMS_BRIDGE_DATABASE_URL", missing.render_as_string(hide_password=False))
    result = _invoke("init")
    assert result.exit_code == 1
    assert f"PostgreSQL database '{missing.database}' does not exist: create it first" in result.output
    assert "Traceback" not in result.output


def test_qa_empty_and_outdated_schema_name_their_fix(home: Path, pg_url: str,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OMS_BRIDGE_DATABASE_URL", pg_url)
    empty = _invoke("channel", "list")
    assert empty.exit_code == 1 and "has no oms-bridge schema yet" in empty.output and "oms-bridge init" in empty.output
    assert _invoke("init").exit_code == 0
    assert _invoke("channel", "list").exit_code == 0
    engine = create_engine(make_url(pg_url).set(drivername="postgresql+psycopg"))
    with engine.begin() as conn:  # an older schema: a column this version reads is not there yet
        conn.execute(text("ALTER TABLE oms_channel DROP COLUMN oms_channel_code"))
    engine.dispose()
    old = _invoke("channel", "list")
    assert old.exit_code == 1, old.output
    assert "schema is older than this oms-bridge" in old.output and "oms-bridge db upgrade" in old.output
