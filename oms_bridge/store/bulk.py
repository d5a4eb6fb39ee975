"""Bulk inserts at the driver's speed: one ``executemany`` of already converted rows per table and batch.

Why not ``session.execute(table.insert(), rows)``: SQLAlchemy then builds a parameter dict and runs every
column's bind processor per row, which made a 10,000-order GetOrder batch spend more time in SQLAlchemy
than in the database (issue 18: the store reached a sixth of what the driver's own executemany does).
Here SQLAlchemy still writes the statement (compiled once per dialect, table, columns and conflict target,
positional parameters) and still decides how each value is stored (each column type's own bind processor,
looked up once per column: the same conversion as every other write), but the rows go to the driver as
tuples in one ``cursor.executemany`` (psycopg pipelines it; sqlite3 loops in C).

``on_conflict`` names the unique key of ``INSERT … ON CONFLICT (key) DO NOTHING`` (SQLite and PostgreSQL
spell it the same); rows whose key exists are skipped, never overwritten. Inserts run on the session's
connection, in the caller's transaction, after the session's pending changes are flushed. The rows are not
ORM objects: read them back with a query when the caller needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

__all__ = ["insert_rows"]

#: Dialects the statements are compiled for: positional parameters, as the driver's executemany takes them.
_COMPILE_DIALECTS = {"sqlite": sqlite.pysqlite.dialect(paramstyle="qmark"),
                     "postgresql": postgresql.psycopg.dialect(paramstyle="format")}


@lru_cache(maxsize=64)
def _statement(dialect_name: str, table: Table, columns: tuple[str, ...],
               on_conflict: tuple[str, ...]) -> tuple[str, tuple[int, ...]]:
    """The SQL text and, per positional parameter, the index of its value in a row given in ``columns`` order
    (the compiler binds in the table's column order)."""
    dialect = _COMPILE_DIALECTS[dialect_name]
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    stmt = insert(table).values({name: bindparam(name) for name in columns}).inline()
    if on_conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(on_conflict))
    compiled = stmt.compile(dialect=dialect)
    return compiled.string, tuple(columns.index(name) for name in compiled.positiontup or ())


def _processors(dialect: Dialect, table: Table, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                on_conflict: Sequence[str] = ()) -> int:
    """Insert ``rows`` (tuples of Python values in ``columns`` order) into ``table`` with one executemany.

    Returns how many rows went in (fewer than given when ``on_conflict`` skipped some; -1 when the driver cannot
    tell, which callers treat as "maybe some were skipped")."""
    if not rows:
        return 0
    conn, sql, params = _prepared(session, table, columns, rows, on_conflict)
    result = conn.exec_driver_sql(sql, params)
    return -1 if result.rowcount is None else result.rowcount


def _converted(process: Callable[[Any], Any], values: Sequence[Any]) -> Sequence[Any]:
    """One column's values as the driver takes them."""
    if len(set(map(id, values))) == 1:
        return [process(values[0])] * len(values)
    return list(map(process, values))


def _prepared(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]],
              on_conflict: Sequence[str]) -> tuple[Any, str, list[tuple[Any, ...]]]:
    """(the session's connection, the INSERT's text, each row's converted values in the text's order)."""
    session.flush()  # pending ORM changes first: statements run in the order the caller made them
    conn = session.connection()
    dialect = conn.dialect
    columns = tuple(columns)
    sql, order = _statement(dialect.name, table, columns, tuple(on_conflict))
    # Column by column (the loops run in C): a value the whole batch repeats (its ``now``, its channel's client) is
    # converted once, every other one by the column's processor.
    by_column = [values if process is None else _converted(process, values)
                 for process, values in zip(_processors(dialect, table, columns), zip(*rows, strict=True), strict=True)]
    params = list(zip(*[by_column[i] for i in order], strict=True))
    return conn, sql, params
