"""Shared fixtures: an isolated data directory per test, and real databases.

- ``home``: a fresh ``OMS_BRIDGE_HOME`` with a generated Fernet key in ``OMS_BRIDGE_SECRET_KEYS``.
- ``sqlite_settings``: settings on an embedded SQLite file in ``home``, schema created.
- ``pg_url``: a brand-new PostgreSQL database for the test module, created from
  ``OMS_BRIDGE_TEST_DATABASE_URL`` and dropped afterwards. Without that variable the test is
  skipped with a reason on a laptop; under CI (``CI`` set) a missing variable is a failure.
- ``pg_settings``: settings on that database, schema created.
- ``store_settings``: parametrised over SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from oms_bridge.settings import Settings, normalize_database_url, reset_settings
from oms_bridge.store.db import dispose_engines, get_engine
from oms_bridge.store.models import Base
from oms_bridge.vault import generate_key

PG_ENV = "OMS_BRIDGE_TEST_DATABASE_URL"


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """An isolated data directory and key; settings re-read from this environment."""
    h = tmp_path / "home"
    h.mkdir()
    monkeypatch.setenv("OMS_BRIDGE_HOME", str(h))
    monkeypatch.setenv("OMS_BRIDGE_SECRET_KEYS", generate_key())
    monkeypatch.delenv("OMS_BRIDGE_DATABASE_URL", raising=False)
    monkeypatch.delenv("OMS_BRIDGE_CONFIG", raising=False)
    reset_settings()
    yield h
    reset_settings()
    dispose_engines()


def _settings(monkeypatch: pytest.MonkeyPatch, database_url: str = "") -> Settings:
    from oms_bridge.settings import get_settings

    if database_url:
        monkeypatch.setenv("OMS_BRIDGE_DATABASE_URL", database_url)
    reset_settings()
    settings = get_settings()
    Base.metadata.create_all(get_engine(settings))
    return settings


@pytest.fixture
def sqlite_settings(home: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    return _settings(monkeypatch)


def _require_pg_url() -> str:
    url = os.environ.get(PG_ENV)
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{PG_ENV} is not set under CI: PostgreSQL tests must run, not skip")
        pytest.skip(f"{PG_ENV} not set (PostgreSQL tests need a server)")
    return normalize_database_url(url)


@pytest.fixture(scope="module")
def pg_url() -> Iterator[str]:
    """A new, empty PostgreSQL database for this test module."""
    admin_url = make_url(_require_pg_url())
    name = f"omsb_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        dispose_engines()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def pg_settings(home: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    settings = _settings(monkeypatch, pg_url)
    yield settings
    engine = get_engine(settings)
    with engine.begin() as conn:
        names = ", ".join(t.name for t in Base.metadata.sorted_tables)
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_settings(request: pytest.FixtureRequest) -> Settings:
    """The same test on the embedded SQLite store and on PostgreSQL."""
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_settings")
    return request.getfixturevalue("pg_settings")
