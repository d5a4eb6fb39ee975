"""Schema versions of the store: Alembic driven in code, for the CLI, ``init`` and the tests.

No ``alembic.ini`` is needed: :func:`alembic_config` points Alembic at the migrations shipped in
this package, so an installed copy upgrades itself. Usage::

    upgrade(settings)               # create or bring the schema to head (safe to repeat)
    current(settings)               # "0001" (or None on an empty database)
    render_sql("postgresql")        # the SQL a DBA would apply, from Alembic's offline mode

A database whose tables were made by ``Base.metadata.create_all`` (tests, early adopters) but that
has no ``alembic_version`` row is *stamped* at head by :func:`upgrade` when every model table is
already there, instead of failing on "table exists".
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, inspect
from sqlalchemy.orm import Session

from oms_bridge.settings import Settings
from oms_bridge.store.causes import backfill
from oms_bridge.store.db import get_engine
from oms_bridge.store.migrations import MIGRATIONS_DIR
from oms_bridge.store.models import Base

__all__ = ["alembic_config", "upgrade", "current", "head", "history", "render_sql", "Revision"]


def alembic_config(url: str | None = None, *, connection: Connection | None = None,
                   output: io.StringIO | None = None) -> Config:
    """An Alembic ``Config`` for the shipped migrations, bound to a URL or an open connection."""
    cfg = Config(output_buffer=output)
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@contextmanager
def _bound_config(settings: Settings) -> Iterator[tuple[Config, Connection]]:
    engine = get_engine(settings)
    with engine.begin() as conn:
        yield alembic_config(connection=conn), conn


def head() -> str | None:
    """The newest revision shipped with this version of oms-bridge."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def current(settings: Settings) -> str | None:
    """The revision the database is at (``None``: no oms-bridge schema yet)."""
    with get_engine(settings).connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def upgrade(settings: Settings, revision: str = "head") -> tuple[str | None, str | None]:
    """Bring the schema to ``revision``; returns (before, after). Repeating it is a no-op."""
    with _bound_config(settings) as (cfg, conn):
        before = MigrationContext.configure(conn).get_current_revision()
        if before is None and _has_all_model_tables(conn):
            command.stamp(cfg, "head")
        else:
            command.upgrade(cfg, revision)
        after = MigrationContext.configure(conn).get_current_revision()
        if after == head():
            _derive_causes(conn)
    return before, after


def _derive_causes(conn: Connection) -> None:
    """Rows kept before causes were stored get theirs (held/dead pages group by it); a no-op once done."""
    with Session(bind=conn) as session:
        backfill(session)
        session.flush()


def _has_all_model_tables(conn: Connection) -> bool:
    existing = set(inspect(conn).get_table_names())
    return bool(existing) and set(Base.metadata.tables) <= existing


@dataclass(frozen=True)
class Revision:
    """One migration as ``db history`` lists it."""

    revision: str
    down_revision: str | None
    message: str
    is_head: bool


def history() -> list[Revision]:
    """Every shipped migration, oldest first."""
    script = ScriptDirectory.from_config(alembic_config())
    heads = set(script.get_heads())
    revs = [
        Revision(s.revision, s.down_revision if isinstance(s.down_revision, str) else None,
                 (s.doc or "").strip(), s.revision in heads)
        for s in script.walk_revisions()
    ]
    return list(reversed(revs))


def render_sql(dialect: str = "postgresql", *, start: str | None = None, end: str = "head") -> str:
    """The DDL of the migrations from ``start`` (exclusive; None = empty database) to ``end``, offline."""
    out = io.StringIO()
    cfg = alembic_config(f"{dialect}://", output=out)
    command.upgrade(cfg, f"{start}:{end}" if start else end, sql=True)
    return out.getvalue()
