"""Models, migrations and the checked-in SQL files agree, on a real PostgreSQL (and SQLite).

NOTE: while other areas add models, (1) and (2) go red until
``python -m oms_bridge.store.migrations.regenerate`` is re-run; that is their purpose.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.engine import Engine, make_url

from oms_bridge.cli.main import cli
from oms_bridge.settings import Settings, reset_settings
from oms_bridge.store import schema
from oms_bridge.store.db import dispose_engines
from oms_bridge.store.migrations.regenerate import REPO_ROOT, expected_sql_files
from oms_bridge.store.models import Base


def _fresh_db(pg_url: str) -> Iterator[Engine]:
    admin = create_engine(make_url(pg_url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    name = f"omsb_h1_{uuid.uuid4().hex[:12]}"
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine = create_engine(make_url(pg_url).set(database=name))
    try:
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def db_a(pg_url: str) -> Iterator[Engine]:
    yield from _fresh_db(pg_url)


@pytest.fixture
def db_b(pg_url: str) -> Iterator[Engine]:
    yield from _fresh_db(pg_url)


def _settings_for(engine: Engine, home: Path) -> Settings:
    return Settings(home=home, database_url=engine.url.render_as_string(hide_password=False))


def _upgrade(engine: Engine) -> None:
    with engine.begin() as conn:
        from alembic import command

        command.upgrade(schema.alembic_config(connection=conn), "head")


@pytest.mark.postgres
def test_models_equal_migration_head_on_postgresql(db_a: Engine) -> None:
    _upgrade(db_a)
    with db_a.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert diff == [], f"models differ from the migrations; run the regenerate tool: {diff}"


@pytest.mark.postgres
def test_compare_detects_a_drifted_database(db_a: Engine) -> None:
    """The comparison above can fail: a column missing from the database is reported."""
    _upgrade(db_a)
    with db_a.begin() as conn:
        conn.execute(text("ALTER TABLE oms_channel DROP COLUMN shop_id"))
    with db_a.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    assert any(d[0] == "add_column" and d[3].name == "shop_id" for d in diff)


def test_models_equal_migration_head_on_sqlite(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'm.db'}")
    _upgrade(engine)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    engine.dispose()
    assert diff == []


def test_checked_in_sql_files_equal_offline_rendering() -> None:
    expected = expected_sql_files("postgresql")
    folder = REPO_ROOT / "sql" / "postgresql"
    actual = {p.name: p.read_text(encoding="utf-8") for p in folder.glob("*_oms-bridge_*.sql")}
    assert sorted(actual) == sorted(expected), "SQL file set differs; run the regenerate tool"
    for name, content in expected.items():
        assert actual[name] == content, f"{name} is stale; run `python -m oms_bridge.store.migrations.regenerate`"
    assert all(n[:12].isdigit() and "_oms-bridge_" in n for n in actual)


def _describe(engine: Engine) -> dict:
    """Tables, columns (type, nullability), PK, unique, check and FK constraints, indexes."""
    insp = inspect(engine)
    out = {}
    for table in sorted(t for t in insp.get_table_names() if t != "alembic_version"):
        fks = insp.get_foreign_keys(table)
        out[table] = {
            "columns": {c["name"]: (str(c["type"]), c["nullable"], c["default"]) for c in insp.get_columns(table)},
            "pk": (insp.get_pk_constraint(table)["name"], tuple(insp.get_pk_constraint(table)["constrained_columns"])),
            "unique": sorted((u["name"], tuple(u["column_names"])) for u in insp.get_unique_constraints(table)),
            "check": sorted((c["name"], c["sqltext"]) for c in insp.get_check_constraints(table)),
            "fk": sorted((f["name"], tuple(f["constrained_columns"]), f["referred_table"],
                          str(sorted((f.get("options") or {}).items()))) for f in fks),
            "index": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in insp.get_indexes(table)),
        }
    return out


@pytest.mark.postgres
def test_sql_files_applied_to_postgresql_equal_models(db_a: Engine, db_b: Engine) -> None:
    folder = REPO_ROOT / "sql" / "postgresql"
    files = sorted(folder.glob("*_oms-bridge_*.sql"))
    assert files
    # Executed as a DBA would (psql-free): the whole file through psycopg, statements and all.
    raw = db_a.raw_connection()
    try:
        with raw.cursor() as cur:
            for path in files:
                cur.execute(path.read_text(encoding="utf-8"))
        raw.commit()
    finally:
        raw.close()
    Base.metadata.create_all(db_b)
    applied, models = _describe(db_a), _describe(db_b)
    assert sorted(applied) == sorted(models)
    for table in models:
        assert applied[table] == models[table], f"table {table} differs between sql/ files and the models"
    # Y/N columns are CHAR(1) with their CHECK, as iDempiere declares booleans.
    platform = applied["oms_platform"]
    assert platform["columns"]["isactive"] == ("CHAR(1)", False, "'Y'::bpchar")
    assert ("oms_platform_isactive_ck", "isactive = ANY (ARRAY['Y'::bpchar, 'N'::bpchar])") in platform["check"]
    assert platform["pk"] == ("oms_platform_key", ("oms_platform_id",))
    # ...and the database is marked as at head, so `db upgrade` continues from there.
    with db_a.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == schema.head()


@pytest.mark.postgres
def test_upgrade_twice_and_stamp_existing_create_all_database(db_a: Engine, db_b: Engine, tmp_path: Path) -> None:
    settings = _settings_for(db_a, tmp_path)
    head = schema.head()
    assert schema.upgrade(settings) == (None, head)
    assert schema.upgrade(settings) == (head, head)
    assert schema.current(settings) == head
    # A database built by create_all (tests, early installs) is stamped rather than failing on "exists".
    Base.metadata.create_all(db_b)
    settings_b = _settings_for(db_b, tmp_path)
    assert schema.upgrade(settings_b) == (None, head)


def test_render_sql_is_deterministic() -> None:
    assert schema.render_sql("postgresql") == schema.render_sql("postgresql")
    assert "CREATE TABLE oms_channel" in schema.render_sql("postgresql")


@pytest.mark.postgres
def test_cli_init_and_db_upgrade_on_postgresql(home: Path, db_a: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """On an empty PostgreSQL database `init` creates the schema through Alembic; twice is fine."""
    monkeypatch.setenv("OMS_BRIDGE_DATABASE_URL", db_a.url.render_as_string(hide_password=False))
    reset_settings()
    runner = CliRunner()
    first = runner.invoke(cli, ["init", "--json"])
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["schema_before"] is None
    assert set(Base.metadata.tables) <= set(inspect(db_a).get_table_names())
    second = runner.invoke(cli, ["init", "--json"])
    assert second.exit_code == 0 and json.loads(second.output)["schema_before"] == schema.head()
    assert "nothing to do" in runner.invoke(cli, ["db", "upgrade"]).output
    assert json.loads(runner.invoke(cli, ["db", "current", "--json"]).output)["up_to_date"] is True
    add = runner.invoke(cli, ["platform", "add", "sh", "--type", "shopee", "--host", "https://p.example",
                              "--secret-stdin"], input="pg-secret-value-9999\n")
    assert add.exit_code == 0 and "****9999" in add.output
    with db_a.connect() as conn:
        stored = conn.execute(text("SELECT app_secret_enc FROM oms_platform")).scalar_one()
    assert "pg-secret-value-9999" not in stored
    dispose_engines()


def test_downgrade_to_base_removes_every_table(tmp_path: Path) -> None:
    from alembic import command

    engine = create_engine(f"sqlite:///{tmp_path / 'd.db'}")
    _upgrade(engine)
    with engine.begin() as conn:
        command.downgrade(schema.alembic_config(connection=conn), "base")
    remaining = set(inspect(engine).get_table_names()) - {"alembic_version"}
    engine.dispose()
    assert remaining == set()


def _store_at_released_head_with_rows(engine: Engine) -> None:
    """A store as the first release left it: schema 0001 and a platform with a channel."""
    from alembic import command

    with engine.begin() as conn:
        command.upgrade(schema.alembic_config(connection=conn), "0001")
        conn.execute(text("INSERT INTO oms_platform (oms_platform_uu, value, name, platform_type, host) "
                          "VALUES ('8a3c6f0e-1d7e-4c59-9a43-0c1f3b8f2b11', 'sh', 'Shopee', 'shopee', 'https://p')"))


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_released_store_upgrades_to_head_keeping_its_rows(backend: str, tmp_path: Path,
                                                          request: pytest.FixtureRequest) -> None:
    """`db upgrade` brings a store at the released revision 0001 to head (SQLite in batch mode too)."""
    if backend == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'r.db'}")
    else:
        engine = request.getfixturevalue("db_a")
    _store_at_released_head_with_rows(engine)
    _upgrade(engine)
    with engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == schema.head()
        assert conn.execute(text("SELECT value FROM oms_platform")).scalar_one() == "sh"
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), Base.metadata)
    if backend == "sqlite":
        engine.dispose()
    assert diff == []
