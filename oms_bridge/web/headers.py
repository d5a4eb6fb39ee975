"""Security headers on every response, and redirects that never echo the request's ``Host`` (ASGI middleware).

- ``Content-Security-Policy``: the admin pages load nothing from elsewhere and hold no inline script
  or style: their style sheet, scripts and chart library come from ``/admin/static`` (``'self'``),
  their charts' data from JSON endpoints of the same origin (``connect-src 'self'``), and forms post
  only here (``form-action 'self'``); no frames (``frame-ancestors 'none'``). ``/docs`` and ``/redoc``
  (when enabled, see :mod:`oms_bridge.web.ops_access`) load
  FastAPI's documentation UI from cdn.jsdelivr.net with an inline start-up script; they get a policy
  that allows exactly that.
- ``X-Frame-Options: DENY`` (older browsers), ``X-Content-Type-Options: nosniff``,
  ``Referrer-Policy: no-referrer`` (admin URLs carry order numbers, the OAuth callback a ``code``),
  ``Cross-Origin-Opener-Policy: same-origin``; ``Cache-Control: no-store`` on admin and OAuth pages;
  ``Strict-Transport-Security`` when the configured ``base_url`` is https.
- A ``Location`` that points back at the request's own ``Host`` (Starlette builds trailing-slash
  redirects from it) is made relative, so a forged ``Host`` header is never reflected into a link.
  Every other URL the app builds comes from the configured ``base_url``.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from oms_bridge.settings import get_settings

__all__ = ["SecurityHeadersMiddleware", "ADMIN_CSP", "DOCS_CSP"]

ADMIN_CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
             "form-action 'self'; base-uri 'none'; frame-ancestors 'none'")
DOCS_CSP = ("default-src 'none'; script-src https://cdn.jsdelivr.net 'unsafe-inline'; style-src "
            "https://cdn.jsdelivr.net 'unsafe-inline'; img-src 'self' data: https://fastapi.tiangolo.com "
            "https://cdn.redoc.ly; font-src https://fonts.gstatic.com; connect-src 'self'; worker-src blob:; "
            "base-uri 'none'; frame-ancestors 'none'")
_DOCS_PATHS = ("/docs", "/redoc")
_NO_STORE = ("/admin", "/oauth")
_CACHEABLE = "/admin/static/"  # the style sheet and scripts: no data, may be cached


def _relative(location: str, host: str) -> str:
    """``location`` without scheme and host when it points at ``host`` (the request's own Host header)."""
    parts = urlsplit(location)
    if parts.scheme in ("http", "https") and parts.netloc and parts.netloc.lower() == host.lower():
        return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return location


class SecurityHeadersMiddleware:
    """Adds the headers of the module doc to every HTTP response."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
        https = get_settings().base_url.lower().startswith("https://")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("content-security-policy", DOCS_CSP if path.startswith(_DOCS_PATHS) else ADMIN_CSP)
                headers.setdefault("x-frame-options", "DENY")
                headers.setdefault("x-content-type-options", "nosniff")
                headers.setdefault("referrer-policy", "no-referrer")
                headers.setdefault("cross-origin-opener-policy", "same-origin")
                if path.startswith(_CACHEABLE):
                    headers.setdefault("cache-control", "public, max-age=3600")
                elif path.startswith(_NO_STORE):
                    headers.setdefault("cache-control", "no-store")
                if https:
                    headers.setdefault("strict-transport-security", "max-age=31536000")
                if "location" in headers and host:
                    headers["location"] = _relative(headers["location"], host)
            await send(message)

        await self.app(scope, receive, send_with_headers)
