"""Alembic environment: the target metadata is every store model; the database comes from the caller.

Online: :mod:`oms_bridge.store.schema` puts an open SQLAlchemy connection in
``config.attributes["connection"]`` (so tests and ``init`` use the engine they already have), or the
``sqlalchemy.url`` main option names the database. Offline (``--sql``): only the dialect of
``sqlalchemy.url`` matters; the SQL is written to ``config.output_buffer``.
SQLite runs in batch mode, since it cannot ALTER most things in place. An engine made here from the URL
is the bridge's own (:func:`oms_bridge.store.db.make_engine`), so a migration's transaction takes SQLite's
write lock when it begins, like every other writer.
"""

from __future__ import annotations

from alembic import context

from oms_bridge.store.db import make_engine
from oms_bridge.store.migrations.rendering import render_item
from oms_bridge.store.models import Base

config = context.config
target_metadata = Base.metadata


def _common() -> dict:
    return {"target_metadata": target_metadata, "render_item": render_item, "compare_type": True}


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                      dialect_opts={"paramstyle": "named"}, **_common())
    with context.begin_transaction():
        context.run_migrations()


def _run_on(connection) -> None:
    context.configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite", **_common())
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_on(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run_on(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
