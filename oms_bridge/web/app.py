"""The FastAPI application: OAuth callbacks, OMS API + webhooks, admin pages, health and metrics.

Each area owns its router module; this file only assembles them (plain imports) and the HTTP hardening
that applies to every route, outermost first:

1. :class:`~oms_bridge.web.headers.SecurityHeadersMiddleware`: CSP, frame, nosniff, referrer headers on
   every answer (the 400/413 of the next two included); redirects never echo the ``Host`` header;
2. :class:`~oms_bridge.web.body_limit.BodyLimitMiddleware`: body caps per route class, enforced before
   and while the body is read;
3. :class:`~oms_bridge.web.request_text.RequestTextMiddleware`: no NUL/control characters or non-UTF-8
   encodings in a path or query string;
4. database errors become 400/409/503 (:mod:`oms_bridge.web.db_errors`), never a 500 with SQL;
5. ``/docs`` and ``/openapi.json`` only as ``docs_access`` allows (:mod:`oms_bridge.web.ops_access`);
6. admin paths answer errors with HTML pages (:mod:`oms_bridge.web.error_pages`), everything else with JSON.

The admin pages' style sheet, scripts and the vendored chart library are served from ``/admin/static``
(:data:`STATIC_DIR`, shipped as package data), so the pages load nothing from elsewhere.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from oms_bridge.logsafe import install_log_safety
from oms_bridge.oms.api import router as oms_router
from oms_bridge.remote.http import install_log_masking
from oms_bridge.web.admin import router as admin_router
from oms_bridge.web.body_limit import BodyLimitMiddleware
from oms_bridge.web.db_errors import install_database_error_handlers
from oms_bridge.web.error_pages import install_error_pages
from oms_bridge.web.headers import SecurityHeadersMiddleware
from oms_bridge.web.oauth import router as oauth_router
from oms_bridge.web.ops import router as ops_router
from oms_bridge.web.ops_access import docs_router
from oms_bridge.web.request_text import RequestTextMiddleware

__all__ = ["create_app", "STATIC_DIR"]

STATIC_DIR = Path(__file__).parent / "static"


def create_app() -> FastAPI:
    """A new app instance (settings are read from the environment at request time)."""
    # uvicorn's access log writes request lines: the OAuth callback's ?code= must reach it masked.
    install_log_masking("uvicorn.access")
    install_log_safety()  # request values cannot forge log lines; database errors are logged classified
    app = FastAPI(title="oms-bridge", version="0.1.0", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")
    app.include_router(ops_router)
    app.include_router(docs_router)
    app.include_router(oauth_router)
    app.include_router(oms_router)
    app.include_router(admin_router)
    install_database_error_handlers(app)
    install_error_pages(app)
    # add_middleware wraps: the last added is the outermost
    app.add_middleware(RequestTextMiddleware)
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
    return app
