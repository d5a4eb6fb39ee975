"""One place that turns an exception into the short text the bridge stores, shows or logs.

Why: the text of a database error is dangerous. SQLAlchemy's message carries the SQL statement and
its bound parameters, and PostgreSQL's carries a ``DETAIL`` line (``Key (...)=(...)``, ``Failing row
contains (...)``) and the offending value (``invalid input syntax for type integer: "..."``): buyers'
names, phones and addresses would end up in run records, outbox errors, dashboard warnings and logs.
:func:`describe_error` never uses those parts. A database error becomes a classified sentence built
only from the error class (SQLSTATE / SQLite error code) and the names of the table, columns and
constraint, e.g. ``database error: unique violation on oms_order (channel, external id)``. Any other
exception becomes ``<Type>: <first line of its message>``, with secrets masked, control characters
escaped and the length capped (our own exceptions are written for the admin; a stray one still cannot
spill a multi-line dump).

Every place an exception becomes stored or logged text uses this function (process runs, outbox
``last_error``, web warnings, the CLI, the log redaction of :mod:`oms_bridge.logsafe`).
"""

from __future__ import annotations

import re
import sqlite3

from sqlalchemy import exc as sa_exc

from oms_bridge.model.masking import mask_text

__all__ = ["describe_error", "is_database_error", "one_line", "MAX_ERROR_LENGTH"]

#: Longest text describe_error returns (run records and outbox rows stay readable).
MAX_ERROR_LENGTH = 500

# PostgreSQL SQLSTATE -> what happened (https://www.postgresql.org/docs/current/errcodes-appendix.html)
_PG_STATES = {
    "23505": "unique violation", "23503": "foreign key violation", "23502": "missing required value (not-null "
    "violation)", "23514": "check violation", "23P01": "exclusion violation",
    "22001": "value too long for its column", "22003": "number out of range", "22P02": "invalid input syntax",
    "22007": "invalid date/time format", "22008": "date/time out of range", "22021": "invalid byte sequence",
    "22P05": "untranslatable character", "22012": "division by zero",
    "40001": "serialization failure (a concurrent transaction changed the same rows; retry)",
    "40P01": "deadlock detected (retry)", "55P03": "lock not available", "57014": "statement cancelled (timeout)",
    "57P01": "the server terminated the connection (administrator command)", "57P02": "crash shutdown",
    "57P03": "the server is not accepting connections yet", "25P02": "statement in an aborted transaction",
    "42P01": "table missing: the schema is not created or too old (run `oms-bridge init` / `db upgrade`)",
    "42703": "column missing: the schema is older than this oms-bridge (run `oms-bridge db upgrade`)",
    "3D000": "the database does not exist", "28P01": "password authentication failed",
    "28000": "the database refused the login", "42501": "insufficient privilege",
}
# SQLSTATE classes (first two characters) for codes not listed above
_PG_CLASSES = {
    "08": "connection failure", "22": "invalid data", "23": "integrity constraint violation",
    "40": "transaction rolled back (retry)", "42": "SQL error (schema mismatch?)", "53": "insufficient resources "
    "on the database server (disk, memory or connections)", "54": "program limit exceeded", "57": "operator "
    "intervention", "58": "system error on the database server", "XX": "internal error of the database server",
}
_SQLITE_CONSTRAINT = re.compile(r"^(UNIQUE|NOT NULL|CHECK|FOREIGN KEY) constraint failed(?::\s*(.*))?$")
_SQLITE_KINDS = {"UNIQUE": "unique violation", "NOT NULL": "missing required value (not-null violation)",
                 "CHECK": "check violation", "FOREIGN KEY": "foreign key violation"}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f\u2028\u2029]")


def one_line(text: str, limit: int = MAX_ERROR_LENGTH) -> str:
    """The first line of ``text``, control characters escaped, cut to ``limit`` characters."""
    first = text.strip().splitlines()[0] if text and text.strip() else ""
    first = _CONTROL.sub(lambda m: f"\\x{ord(m[0]):02x}" if ord(m[0]) < 0x100 else f"\\u{ord(m[0]):04x}", first)
    first = first.encode("utf-8", "backslashreplace").decode("utf-8")  # lone surrogates become \udxxx
    return first if len(first) <= limit else first[: limit - 1] + "…"


def is_database_error(exc: BaseException) -> bool:
    """An error raised by the database or its driver (through SQLAlchemy or directly)."""
    if isinstance(exc, (sa_exc.StatementError, sa_exc.DBAPIError, sqlite3.Error)):
        return True
    return type(exc).__module__.startswith("psycopg")


def describe_error(exc: BaseException) -> str:
    """A short, safe description of ``exc`` for run records, outbox rows, pages and logs (see module doc)."""
    if is_database_error(exc):
        return "database error: " + _database(exc)
    message = one_line(mask_text(str(exc)))
    name = type(exc).__name__
    return f"{name}: {message}" if message else name


def _database(exc: BaseException) -> str:
    orig = getattr(exc, "orig", None) if isinstance(exc, sa_exc.StatementError) else exc
    if orig is None:  # a StatementError raised before the driver ran (e.g. a value SQLAlchemy cannot bind)
        return "a value could not be sent to the database"
    sqlstate = getattr(orig, "sqlstate", None)
    if sqlstate:
        return _postgresql(orig, sqlstate)
    if isinstance(orig, sqlite3.Error):
        return _sqlite(orig)
    if isinstance(orig, OverflowError):
        return "number out of range"
    # A driver error without SQLSTATE (connection refused, NUL in text, ...): its first line names no data.
    text = one_line(mask_text(str(orig)), 200)
    return text or type(orig).__name__


def _postgresql(orig: BaseException, sqlstate: str) -> str:
    what = _PG_STATES.get(sqlstate) or _PG_CLASSES.get(sqlstate[:2]) or "error"
    diag = getattr(orig, "diag", None)
    table = getattr(diag, "table_name", None)
    column = getattr(diag, "column_name", None)
    constraint = getattr(diag, "constraint_name", None)
    columns = _constraint_columns(table, constraint)
    if columns:
        where = f" on {table} ({', '.join(_human(c) for c in columns)})"
    elif table and column:
        where = f" on {table} ({_human(column)})"
    elif table:
        where = f" on {table}" + (f" (constraint {constraint})" if constraint else "")
    elif constraint:
        where = f" (constraint {constraint})"
    else:
        where = ""
    return f"{what}{where} [SQLSTATE {sqlstate}]"


def _sqlite(orig: sqlite3.Error) -> str:
    text = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    match = _SQLITE_CONSTRAINT.match(text)
    if match:
        kind = _SQLITE_KINDS[match[1]]
        cols = [c.strip() for c in (match[2] or "").split(",") if c.strip()]
        tables = {c.split(".", 1)[0] for c in cols if "." in c}
        if len(tables) == 1:
            return f"{kind} on {tables.pop()} ({', '.join(_human(c.split('.', 1)[1]) for c in cols)})"
        return kind + (f" ({match[2]})" if match[2] else "")
    # SQLite's other messages name objects, never values ("database is locked", "no such table: x").
    return one_line(text, 200) or type(orig).__name__


def _constraint_columns(table: str | None, constraint: str | None) -> list[str]:
    """The columns of a named constraint, looked up in the models (PostgreSQL's DETAIL is never read)."""
    if not constraint:
        return []
    from oms_bridge.store.models import Base  # the models import nothing from here; lazily: no import cycle

    for tbl in Base.metadata.tables.values():
        if table and tbl.name != table:
            continue
        for cons in tbl.constraints:
            if cons.name == constraint and hasattr(cons, "columns"):
                return [c.name for c in cons.columns]
        for index in tbl.indexes:
            if index.name == constraint:
                return [c.name for c in index.columns]
    return []


def _human(column: str) -> str:
    """``oms_channel_id`` → ``channel``, ``external_id`` → ``external id``."""
    name = column
    if name.startswith("oms_") and name.endswith("_id"):
        name = name[4:-3]
    return name.replace("_", " ")
