"""Who may read ``/metrics`` and the API documentation (``/docs``, ``/openapi.json``).

Both were public. Each is now governed by its setting (``metrics_access`` / ``docs_access``, see
:mod:`oms_bridge.web.http_settings`):

- ``off``: 404, as if the route did not exist (the default for the docs);
- ``local``: only clients on the loopback interface (the default for metrics without a token). Behind
  a reverse proxy on the same host, the proxy must send ``X-Forwarded-For`` (uvicorn trusts it from
  127.0.0.1), or every request looks local: set a token there;
- ``token``: ``Authorization: Bearer <metrics_token | docs_token>`` (constant-time compare; 401 with
  ``WWW-Authenticate: Bearer`` otherwise). For the docs a logged-in admin is let in too, so a browser
  can open ``/docs``;
- ``public``: anyone.

The documentation routes are served here instead of FastAPI's built-in ones (which cannot be guarded).
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Callable

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from oms_bridge.settings import get_settings
from oms_bridge.web import security
from oms_bridge.web.http_settings import http_settings

__all__ = ["access_guard", "docs_router"]


def _is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _bearer(request: Request) -> str | None:
    scheme, _, value = request.headers.get("authorization", "").strip().partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


def access_guard(kind: str) -> Callable[[Request], None]:
    """A dependency enforcing ``<kind>_access`` (``metrics`` or ``docs``) for a route."""

    def guard(request: Request) -> None:
        settings = get_settings()
        config = http_settings(settings)
        mode, token = ((config.metrics_access, config.metrics_token) if kind == "metrics"
                       else (config.docs_access, config.docs_token))
        if mode == "public":
            return
        if mode == "off":
            raise HTTPException(status_code=404, detail="Not Found")
        if mode == "local":
            if _is_loopback(request.client.host if request.client else None):
                return
            raise HTTPException(status_code=403, detail=f"{kind} are served to local clients only; set "
                                                        f"{kind}_token to allow others with a bearer token")
        presented = _bearer(request)
        if presented and hmac.compare_digest(presented.encode(), token.encode()):
            return
        if kind == "docs" and security.read_session(request.cookies.get(security.SESSION_COOKIE),
                                                    settings=settings):
            return
        raise HTTPException(status_code=401, detail=f"{kind}: send 'Authorization: Bearer <{kind}_token>'",
                            headers={"WWW-Authenticate": "Bearer"})

    guard.__name__ = f"{kind}_access"
    return guard


docs_router = APIRouter(include_in_schema=False, dependencies=[Depends(access_guard("docs"))])


@docs_router.get("/openapi.json")
def openapi_json(request: Request) -> JSONResponse:
    return JSONResponse(request.app.openapi())


@docs_router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    return get_swagger_ui_html(openapi_url="/openapi.json", title=f"{request.app.title} - API")
