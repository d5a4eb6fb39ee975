"""HTML error pages for the admin pages (404, 403, 405, 422, 500 ...) with a way back.

A person who follows a stale link or submits an expired form gets a page in the admin's look that
says what happened and links back (the section they were in, and the dashboard), not a bare JSON
body. Only paths under ``/admin`` get HTML: the OMS JSON API, the webhooks, ``/healthz`` and
``/metrics`` keep FastAPI's JSON answers, which their callers parse. Redirects raised as
``HTTPException`` (the login check's 303) pass through unchanged.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from oms_bridge.web import pages

__all__ = ["install_error_pages", "TITLES"]

log = logging.getLogger(__name__)

TITLES = {400: "Bad request", 403: "Not allowed", 404: "Page not found", 405: "Not allowed here",
          413: "Too large", 422: "Not a valid address or form", 429: "Too many requests",
          500: "Something went wrong", 503: "Busy"}


def _is_admin(request: Request) -> bool:
    return request.url.path == "/admin" or request.url.path.startswith("/admin/")


def _section(path: str) -> tuple[str, str] | None:
    """The menu entry a path belongs to (``/admin/channels/x`` → Channels), for the way back; None for
    paths outside every entry (the dashboard link is always there)."""
    for href, label in pages.NAV[1:]:
        if path == href or path.startswith(href + "/"):
            return href, label
    return None


def error_page(request: Request, status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    """The error page for ``status`` with ``detail`` (our own text, never a traceback)."""
    title = TITLES.get(status, f"Error {status}")
    try:
        admin = pages.session_of(request)
    except Exception:  # noqa: BLE001 - the store itself may be what failed: show the page without the menu
        admin = None
    response = pages.render(request, "error.html", status_code=status, admin=admin, title=title, status=status,
                            detail=detail, section=_section(request.url.path), message=None, error=None)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _validation_text(exc: RequestValidationError) -> str:
    problems = []
    for err in exc.errors()[:5]:
        where = " ".join(str(p) for p in err.get("loc", ()) if p not in ("path", "query", "body"))
        problems.append(f"{where}: {err.get('msg', 'not valid')}" if where else str(err.get("msg", "not valid")))
    return "; ".join(problems) or "a value in the address or the form is not valid"


def install_error_pages(app: FastAPI) -> None:
    """Register the handlers on ``app`` (after the database handlers: those keep their own statuses)."""

    async def on_http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code < 400 or not _is_admin(request):
            return await http_exception_handler(request, exc)
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "error")
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"There is no admin page at {request.url.path}."
        return error_page(request, exc.status_code, detail, exc.headers)

    async def on_invalid(request: Request, exc: RequestValidationError) -> Response:
        if not _is_admin(request):
            return await request_validation_exception_handler(request, exc)
        return error_page(request, 422, _validation_text(exc))

    async def on_crash(request: Request, exc: Exception) -> Response:
        log.error("%s %s failed: %s", request.method, request.url.path, type(exc).__name__)
        if not _is_admin(request):
            return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
        return error_page(request, 500, "The page failed on the server; it was logged. Try again, or go back.")

    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_invalid)
    app.add_exception_handler(Exception, on_crash)
