"""Bulk inserts at the driver's speed: one statement (PostgreSQL) or one ``executemany`` (SQLite) of already
converted rows per table and batch.

Why not ``session.execute(table.insert(), rows)``: SQLAlchemy then builds a parameter dict and runs every
column's bind processor per row, which made a 10,000-order GetOrder batch spend more time in SQLAlchemy
than in the database (issue 18: the store reached a sixth of what the driver's own executemany does).
Here SQLAlchemy still writes the statement (compiled once per table, columns and conflict target) and still
decides how each value is stored (each column type's own bind processor, looked up once per column: the same
conversion as every other write), but the values go to the driver column by column.

- SQLite: the rows as tuples in one ``cursor.executemany`` (sqlite3 loops in C).
- PostgreSQL, narrow rows (the OMS's items and events: keys, a UUID, values the batch shares): one ``INSERT …
  SELECT … FROM unnest(column arrays) WITH ORDINALITY``. psycopg's pipelined executemany spent Python time on
  every row (a quarter of an OMS first read's page went into its loop) and the server ran the insert once per
  row; here each column is one array parameter and the server runs one insert. A column whose value the whole
  batch shares (its ``now``, its client, 'Y') goes as one scalar parameter, not an array: dumping an aware
  datetime costs psycopg a few microseconds, and an item row has two. Integers and UUIDs go as array text
  (:func:`oms_bridge.store.lists.array_literal`). Rows go in in the order given (``ORDER BY`` the ordinality):
  their ids follow it, as they did row by row.
- PostgreSQL, wide rows (orders, lines: many texts, amounts and times that differ per row): the pipelined
  ``executemany``. psycopg dumps an array element by element in Python, a row's values in C; past
  :data:`UNNEST_DUMPED_COLUMNS` such columns the arrays cost more than the per-row loop they save (GetOrder
  into PostgreSQL lost a fifth of its speed with them).

``on_conflict`` names the unique key of ``INSERT … ON CONFLICT (key) DO NOTHING`` (SQLite and PostgreSQL
spell it the same); rows whose key exists, or repeat a key earlier in the batch, are skipped, never overwritten.
Inserts run on the session's connection, in the caller's transaction, after the session's pending changes are
flushed. The rows are not ORM objects: read them back with a query when the caller needs them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from oms_bridge.store.lists import array_literal, goes_as_array_text

__all__ = ["insert_rows"]

#: Dialects the statements are compiled for: positional parameters, as the drivers take them.
_COMPILE_DIALECTS = {"sqlite": sqlite.pysqlite.dialect(paramstyle="qmark"),
                     "postgresql": postgresql.psycopg.dialect(paramstyle="format")}


@lru_cache(maxsize=64)
def _executemany_statement(dialect_name: str, table: Table, columns: tuple[str, ...], on_conflict: tuple[str, ...]
                           ) -> tuple[str, tuple[int, ...]]:
    """The INSERT's text for ``executemany`` and, per positional parameter, the index of its value in a row given
    in ``columns`` order (the compiler binds in the table's column order)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    stmt = insert(table).values({name: bindparam(name) for name in columns}).inline()
    if on_conflict:
        stmt = stmt.on_conflict_do_nothing(index_elements=list(on_conflict))
    compiled = stmt.compile(dialect=_COMPILE_DIALECTS[dialect_name])
    return compiled.string, tuple(columns.index(name) for name in compiled.positiontup or ())


def _processors(dialect: Dialect, table: Table, columns: Sequence[str]) -> list[Callable[[Any], Any] | None]:
    return [table.c[name].type._cached_bind_processor(dialect) for name in columns]


def insert_rows(session: Session, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                on_conflict: Sequence[str] = ()) -> int:
    """Insert ``rows`` (tuples of Python values in ``columns`` order) into ``table`` with one statement: an
    ``executemany`` on SQLite and for wide rows on PostgreSQL, an ``INSERT … SELECT … FROM unnest`` for narrow
    ones (see module doc).

    Returns how many rows went in (fewer than given when ``on_conflict`` skipped some; -1 when the driver cannot
    tell, which callers treat as "maybe some were skipped")."""
    if not rows:
        return 0
    session.flush()  # pending ORM changes first: statements run in the order the caller made them
    conn = session.connection()
    columns, on_conflict = tuple(columns), tuple(on_conflict)
    by_column = _by_column(conn.dialect, table, columns, rows)
    shared = tuple(map(_shared, by_column))
    if conn.dialect.name == "postgresql" and _unnest_pays(table, columns, shared):
        sql, params = _unnest(table, columns, on_conflict, by_column, shared)
        result = conn.exec_driver_sql(sql, params)
    else:
        sql, order = _executemany_statement(conn.dialect.name, table, columns, on_conflict)
        result = conn.exec_driver_sql(sql, list(zip(*[by_column[i] for i in order], strict=True)))
    return -1 if result.rowcount is None else result.rowcount


#: PostgreSQL: at most this many columns of a batch may go as arrays psycopg dumps element by element (texts,
#: amounts, times that differ per row) for the one-statement insert to pay (see module doc).
UNNEST_DUMPED_COLUMNS = 2


def _unnest_pays(table: Table, columns: tuple[str, ...], shared: tuple[bool, ...]) -> bool:
    """Whether the one-statement insert is the cheaper way for this batch on PostgreSQL (see module doc)."""
    as_text = _array_text_columns(table, columns)
    return sum(not one and not text for one, text in zip(shared, as_text, strict=True)) <= UNNEST_DUMPED_COLUMNS


def _unnest(table: Table, columns: tuple[str, ...], on_conflict: tuple[str, ...], by_column: Sequence[Sequence[Any]],
            shared: tuple[bool, ...]) -> tuple[str, tuple[Any, ...]]:
    """PostgreSQL's statement and parameters for the batch (see module doc)."""
    if all(shared):  # one row (or identical ones): one column still goes as an array, to make the rows
        shared = (False, *shared[1:])
    as_text = _array_text_columns(table, columns)
    params = ([values[0] for values, one in zip(by_column, shared, strict=True) if one]
              + [array_literal(values) if text else list(values)
                 for values, one, text in zip(by_column, shared, as_text, strict=True) if not one])
    return _unnest_statement(table, columns, on_conflict, shared), tuple(params)


def _shared(values: Sequence[Any]) -> bool:
    """Whether every row holds the very same object in this column (a batch's ``now``, its client, 'Y')."""
    return len(set(map(id, values))) == 1


@lru_cache(maxsize=64)
def _array_text_columns(table: Table, columns: tuple[str, ...]) -> tuple[bool, ...]:
    """Per column, whether its array goes as array text (:func:`oms_bridge.store.lists.goes_as_array_text`)."""
    return tuple(goes_as_array_text(table.c[name].type) for name in columns)


@lru_cache(maxsize=128)
def _unnest_statement(table: Table, columns: tuple[str, ...], on_conflict: tuple[str, ...],
                      shared: tuple[bool, ...]) -> str:
    """PostgreSQL's one-statement insert of a batch (see module doc): parameters are first the shared columns'
    values, then the other columns' arrays, each in ``columns`` order."""
    dialect = _COMPILE_DIALECTS["postgresql"]
    quote = dialect.identifier_preparer.quote
    types = [table.c[name].type.compile(dialect=dialect) for name in columns]
    varying = [i for i, one in enumerate(shared) if not one]
    values = [f"%s::{type_}" if one else f"u.v{i}" for i, (type_, one) in enumerate(zip(types, shared, strict=True))]
    arrays = ", ".join(f"%s::{types[i]}[]" for i in varying)
    names = ", ".join(f"v{i}" for i in varying)
    sql = (f"INSERT INTO {dialect.identifier_preparer.format_table(table)} ({', '.join(map(quote, columns))}) "
           f"SELECT {', '.join(values)} FROM unnest({arrays}) WITH ORDINALITY AS u({names}, n) ORDER BY u.n")
    if on_conflict:
        sql += f" ON CONFLICT ({', '.join(map(quote, on_conflict))}) DO NOTHING"
    return sql


def _converted(process: Callable[[Any], Any], values: Sequence[Any]) -> Sequence[Any]:
    """One column's values as the driver takes them."""
    if _shared(values):
        return [process(values[0])] * len(values)
    return list(map(process, values))


def _by_column(dialect: Dialect, table: Table, columns: Sequence[str], rows: Sequence[Sequence[Any]]
               ) -> list[Sequence[Any]]:
    """Each column's values, converted as the driver takes them.

    Column by column (the loops run in C): a value the whole batch repeats (its ``now``, its channel's client) is
    converted once, every other one by the column's processor."""
    return [values if process is None else _converted(process, values)
            for process, values in zip(_processors(dialect, table, columns), zip(*rows, strict=True), strict=True)]
