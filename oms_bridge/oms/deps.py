"""FastAPI dependencies of the OMS routes: the database session, the config, and the token guard.

The guard answers a missing or wrong token with 401 and a JSON body (``{"detail": ...}``) plus
``WWW-Authenticate: Token``; the check itself lives in :mod:`oms_bridge.oms.auth`. The package
webhooks (:func:`webhook_guard`) also take HTTP basic credentials, as a dj-whisperer subscription's
``config.auth`` sends them. Both run before the body is read.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from fastapi import HTTPException, Security
from fastapi.security import APIKeyHeader
from sqlalchemy.orm import Session

from oms_bridge.oms.auth import check_token, parse_authorization, webhook_token
from oms_bridge.oms.config import WEBHOOK_ENDPOINT, OmsConfig, oms_config
from oms_bridge.settings import get_settings
from oms_bridge.store.db import session_scope

__all__ = ["db_session", "current_config", "token_guard", "webhook_guard", "api_key_header"]

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


def token_guard(endpoint: str) -> Callable[[str | None], None]:
    """A dependency that admits only the current token of ``endpoint``.

    Declared on the route (``dependencies=[...]``), it runs before anything reads the body: an
    unauthenticated request is answered 401 without its body being read (NUL characters and other
    hostile text in the query are refused even earlier, by :mod:`oms_bridge.web.request_text`)."""

    def guard(authorization: str | None = Security(api_key_header)) -> None:
        with session_scope(get_settings(), readonly=True) as session:
            reason = check_token(session, endpoint, parse_authorization(authorization))
        if reason is not None:
            raise HTTPException(status_code=401, detail=reason, headers={"WWW-Authenticate": "Token"})

    guard.__name__ = f"token_{endpoint}"
    return guard


def webhook_guard(authorization: str | None = Security(api_key_header)) -> None:
    """Admit the ``webhooks`` token as ``Token <token>`` or as the password of basic auth (see auth.py)."""
    settings = get_settings()
    token, problem = webhook_token(authorization, oms_config(settings).webhook_username)
    if problem is None:
        with session_scope(settings) as session:
            problem = check_token(session, WEBHOOK_ENDPOINT, token)
    if problem is not None:
        raise HTTPException(status_code=401, detail=problem,
                            headers={"WWW-Authenticate": 'Token, Basic realm="oms-bridge webhooks"'})
