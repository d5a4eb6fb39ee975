"""FastAPI dependencies of the OMS routes: the database session, the config, and the token guard.

The guard answers a missing or wrong token with 401 and a JSON body (``{"detail": ...}``) plus
``WWW-Authenticate: Token``; the check itself lives in :mod:`oms_bridge.oms.auth`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import HTTPException, Request, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from oms_bridge.oms.auth import check_token, parse_authorization
from oms_bridge.oms.config import OmsConfig, oms_config
from oms_bridge.settings import get_settings
from oms_bridge.store.db import session_scope

__all__ = ["db_session", "current_config", "token_guard", "api_key_header"]

api_key_header = APIKeyHeader(name="Authorization", scheme_name="Token", auto_error=False,
                              description="`Token <token>` as printed by `oms-bridge oms settings`")


def db_session() -> Iterator[Session]:
    """One transaction per request (committed when the handler returns).

    Reads may write (items made, catalogue grown, ``oms`` rows marked read), so on SQLite the
    transaction takes the write lock at BEGIN (``immediate``): concurrent OMS requests queue
    instead of failing with "database is locked" when a reader upgrades to a writer.
    """
    with session_scope(get_settings(), immediate=True) as session:
        yield session


def current_config() -> OmsConfig:
    return oms_config(get_settings())


def _no_nul(request: Request) -> None:
    """PostgreSQL text cannot hold NUL: a query value with one is a 400, not a database error."""
    for name, value in request.query_params.multi_items():
        if "\x00" in value or "\x00" in name:
            raise HTTPException(status_code=400, detail=f"{name!r}: contains a NUL character")


def token_guard(endpoint: str) -> Callable[[str | None], None]:
    """A dependency that admits only the current token of ``endpoint`` (then refuses NUL in the query)."""

    def guard(request: Request, authorization: str | None = Security(api_key_header)) -> None:
        with session_scope(get_settings(), readonly=True) as session:
            reason = check_token(session, endpoint, parse_authorization(authorization))
        if reason is not None:
            raise HTTPException(status_code=401, detail=reason, headers={"WWW-Authenticate": "Token"})
        _no_nul(request)

    guard.__name__ = f"token_{endpoint}"
    return guard
