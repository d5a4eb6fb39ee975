"""The FastAPI application: OAuth callbacks, OMS API + webhooks, admin pages, health and metrics.

Each area owns its router module; this file only assembles them (plain imports).
"""

from __future__ import annotations

from fastapi import FastAPI

from oms_bridge.oms.api import router as oms_router
from oms_bridge.web.admin import router as admin_router
from oms_bridge.web.oauth import router as oauth_router
from oms_bridge.web.ops import router as ops_router
from platforms.http import install_log_masking

__all__ = ["create_app"]


def create_app() -> FastAPI:
    """A new app instance (settings are read from the environment at request time)."""
    # uvicorn's access log writes request lines: the OAuth callback's ?code= must reach it masked.
    install_log_masking("uvicorn.access")
    app = FastAPI(title="oms-bridge", version="0.1.0")
    app.include_router(ops_router)
    app.include_router(oauth_router)
    app.include_router(oms_router)
    app.include_router(admin_router)
    return app
