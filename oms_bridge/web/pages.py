"""What every admin page shares: templates, the login check, the CSRF-checked form, messages.

:func:`current_admin` (a dependency) sends anonymous visitors to the login page; :func:`csrf_form`
returns a submitted form only after its CSRF token matched the cookie (403 otherwise);
:func:`render` renders a template and hands the browser the CSRF cookie its forms echo; :func:`back`
is the post/redirect/get answer with a one-line message.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from oms_bridge import configure
from oms_bridge.settings import Settings, get_settings
from oms_bridge.vault import Vault
from oms_bridge.web import security

__all__ = ["templates", "settings", "vault", "current_admin", "csrf_form", "render", "back", "text", "int_or_none",
           "json_or_none"]

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
TAIPEI = ZoneInfo("Asia/Taipei")


def taipei(when: datetime | None) -> str:
    """A stored (aware UTC) time as the admins read it: ``2026-03-15 12:00`` in Asia/Taipei ('' when unknown)."""
    if when is None:
        return ""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M")


templates.env.filters["taipei"] = taipei


def settings() -> Settings:
    """Read per request, so a test or a demo that re-points the environment is seen at once."""
    return get_settings()


def current_admin(request: Request) -> security.SessionInfo:
    """The logged-in admin, or a redirect to the login page."""
    info = security.read_session(request.cookies.get(security.SESSION_COOKIE), settings=settings())
    if info is None:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        raise HTTPException(status_code=303, headers={"Location": f"/admin/login?next={target}"})
    return info


async def csrf_form(request: Request) -> FormData:
    """The submitted form, after checking its CSRF token against the cookie (403 otherwise)."""
    form = await request.form()
    if not security.csrf_ok(request.cookies.get(security.CSRF_COOKIE), form.get("csrf_token")):
        raise HTTPException(status_code=403, detail="The form's security (CSRF) token is missing or does not match. "
                                                    "Reload the page and submit the form again.")
    return form


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page; makes sure the browser holds a CSRF cookie the page's forms can echo."""
    token = request.cookies.get(security.CSRF_COOKIE) or security.new_csrf_token()
    context.setdefault("message", request.query_params.get("msg"))
    context.setdefault("error", request.query_params.get("err"))
    response = templates.TemplateResponse(request, template, {"csrf_token": token, **context},
                                          status_code=status_code)
    if request.cookies.get(security.CSRF_COOKIE) != token:
        response.set_cookie(security.CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=settings().base_url.startswith("https"), path="/admin")
    return response


def back(path: str, *, msg: str | None = None, err: str | None = None) -> RedirectResponse:
    """Post/redirect/get with a one-line message."""
    query = "&".join(f"{k}={quote(v)}" for k, v in (("msg", msg), ("err", err)) if v)
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def vault() -> Vault:
    """The configured vault (key file or ``OMS_BRIDGE_SECRET_KEYS``)."""
    return Vault.from_settings(settings())


def text(form: FormData, name: str) -> str:
    """A form field as stripped text ('' when absent)."""
    return str(form.get(name) or "").strip()


def int_or_none(form: FormData, name: str) -> int | None:
    """An optional whole number; anything else is a :class:`ConfigError` naming the field."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise configure.ConfigError(f"{name.replace('_', ' ')} must be a whole number, got {raw!r}") from None


def json_or_none(form: FormData, name: str) -> dict[str, Any] | None:
    """An optional JSON object (settings fields); invalid JSON is a :class:`ConfigError` naming the field."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise configure.ConfigError(f"{name.replace('_', ' ')} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise configure.ConfigError(f"{name.replace('_', ' ')} must be a JSON object")
    return value
