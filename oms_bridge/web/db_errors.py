"""The last line of defence: a database error that reaches the app becomes a 4xx/503 answer, never a 500
with the SQL in the log.

Input is validated at the edges (query strings, forms, JSON bodies, ids), so these handlers should
rarely run; when a value still gets through that the database refuses, the caller gets the status that
says whose problem it is, with the classified text of :func:`oms_bridge.store.errors.describe_error`
(never SQL, parameters or PostgreSQL's ``DETAIL``):

- **400** the database cannot store a value of the request (SQLSTATE class 22, a number too big for
  SQLite, a NUL character psycopg refuses); the transaction was rolled back, nothing is stored;
- **409** a constraint refused the change (class 23: e.g. a concurrent insert of the same key);
- **503** with ``Retry-After``: the database is busy or unreachable (locked, serialization failure,
  deadlock, connection failure, shutting down);
- anything else is a bug: **500**, logged (redacted by :mod:`oms_bridge.logsafe`) with the same text.
"""

from __future__ import annotations

import logging
import sqlite3

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy.exc import DBAPIError, StatementError

from oms_bridge.store.errors import describe_error
from oms_bridge.web.pages import templates

__all__ = ["install_database_error_handlers", "status_for"]

log = logging.getLogger(__name__)

_BUSY_CLASSES = ("08", "40", "53", "57")
_SQLITE_BUSY = ("SQLITE_BUSY", "SQLITE_LOCKED")
_SQLITE_BAD_VALUE = ("SQLITE_TOOBIG", "SQLITE_MISMATCH", "SQLITE_RANGE")


def status_for(exc: StatementError) -> int:
    """The HTTP status a database error deserves (see module doc)."""
    orig = exc.orig
    if orig is None or isinstance(orig, (OverflowError, ValueError)):
        return 400
    sqlstate = getattr(orig, "sqlstate", None) or ""
    if sqlstate:
        if sqlstate.startswith("22"):
            return 400
        if sqlstate.startswith("23"):
            return 409
        if sqlstate.startswith(_BUSY_CLASSES) or sqlstate == "55P03":
            return 503
        return 500
    if isinstance(orig, sqlite3.Error):
        name = getattr(orig, "sqlite_errorname", "") or ""
        if name.startswith(_SQLITE_BUSY) or "locked" in str(orig):
            return 503
        if name.startswith("SQLITE_CONSTRAINT") or isinstance(orig, sqlite3.IntegrityError):
            return 409
        if name.startswith(_SQLITE_BAD_VALUE):
            return 400
        return 500
    if type(orig).__name__ == "DataError":  # psycopg refuses a value before sending it (NUL in text)
        return 400
    if type(orig).__name__ in ("OperationalError", "InterfaceError"):
        return 503
    return 500


def _answer(request: Request, exc: StatementError) -> Response:
    status = status_for(exc)
    text = describe_error(exc)
    if status >= 500:
        log.error("%s %s failed: %s", request.method, request.url.path, text, exc_info=exc)
    detail = {400: f"the request holds a value the database cannot store ({text}); nothing was stored",
              409: f"the change conflicts with stored data ({text}); nothing was stored",
              503: f"the database is busy or unreachable ({text}); try again shortly"}.get(status, text)
    headers = {"Retry-After": "5"} if status == 503 else None
    if request.url.path.startswith("/admin"):
        return templates.TemplateResponse(request, "message.html", {"title": "Not saved", "error": detail,
                                                                    "admin": None, "csrf_token": ""},
                                          status_code=status, headers=headers)
    return JSONResponse({"detail": detail}, status_code=status, headers=headers)


def install_database_error_handlers(app: FastAPI) -> None:
    """Register the handlers on ``app`` (DBAPIError and every other StatementError)."""

    async def handler(request: Request, exc: Exception) -> Response:
        return _answer(request, exc)  # type: ignore[arg-type]

    app.add_exception_handler(DBAPIError, handler)
    app.add_exception_handler(StatementError, handler)
