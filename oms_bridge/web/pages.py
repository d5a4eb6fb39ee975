"""What every admin page shares: templates, the login check, the CSRF-checked form, messages.

:func:`current_admin` (a dependency) sends anonymous visitors to the login page; :func:`csrf_form`
returns a submitted form only after its CSRF token matched (bound to the session, see
:mod:`oms_bridge.web.security`; 403 otherwise) and every field passed :func:`form_problem` (400 naming
the field otherwise); :func:`render` renders a template with the CSRF token its forms echo; :func:`back`
is the post/redirect/get answer with a one-line message.

Messages never travel in the URL: a link could otherwise make the page show an attacker's text.
:func:`back` hands the message to the next page in a short-lived cookie (``omsb_flash``, HttpOnly,
SameSite=Strict, only ever set by the server from its own text); the login page takes a message
*code* (``?m=signed_out``) from a fixed table.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path as FilePath
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import HTTPException, Path, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData, UploadFile

from oms_bridge.configure.checks import ConfigError
from oms_bridge.settings import Settings, get_settings
from oms_bridge.vault import Vault
from oms_bridge.web import display, security
from oms_bridge.web.request_text import text_problem

__all__ = ["templates", "settings", "vault", "current_admin", "session_of", "csrf_form", "render", "back", "text",
           "int_or_none", "json_or_none", "RowId", "LOGIN_MESSAGES", "FLASH_COOKIE", "form_problem", "NAV"]

templates = Jinja2Templates(directory=str(FilePath(__file__).parent / "templates"))

FLASH_COOKIE = "omsb_flash"
#: The only texts the login page shows from its URL (``?m=<code>``).
LOGIN_MESSAGES = {
    "signed_out": "You are signed out.",
    "session_ended": "Your session ended (signed out, expired or the password changed). Please log in again.",
}
#: The admin menu, in order: (path, label). base.html draws it (the current page marked), the error pages
#: take the way back from it. A new page group adds its entry here.
NAV = (("/admin/", "Dashboard"), ("/admin/platforms", "Platforms"), ("/admin/channels", "Channels"),
       ("/admin/orders", "Orders"), ("/admin/held", "Held"), ("/admin/skus", "SKU mapping"),
       ("/admin/oms-products", "OMS products"), ("/admin/runs", "Process runs"), ("/admin/alerts", "Alerts"),
       ("/admin/reconcile", "Reconciliation"))
#: A row id in an admin URL: PostgreSQL's integer range (a bigger number is a 422, not a database error).
RowId = Annotated[int, Path(ge=1, le=2**31 - 1)]

# The longest value each form field may hold (the database column's length where there is one).
_FIELD_LIMITS = {"value": 60, "platform": 60, "channel": 60, "username": 60, "platform_type": 40, "name": 120,
                 "sku": 120, "m_product_value": 120, "shop_id": 255, "host": 255, "app_id": 255, "description": 255,
                 "settings_json": 16_384, "next": 2048, "password": 1024, "csrf_token": 200,
                 "csv": 60_000, "note": 1000}
_DEFAULT_FIELD_LIMIT = 4096  # secrets (app_secret, cred_*) and anything else
_MULTILINE = ("settings_json", "csv", "note")  # text areas: line breaks allowed
templates.env.filters["localtime"] = display.localtime
templates.env.filters["ago"] = display.ago
templates.env.filters["json_text"] = display.json_text
templates.env.filters["web_wording"] = display.web_wording
templates.env.globals["zone_label"] = display.zone_label
templates.env.globals["nav_items"] = NAV


def settings() -> Settings:
    """Read per request, so a test or a demo that re-points the environment is seen at once."""
    return get_settings()


def session_of(request: Request) -> security.SessionInfo | None:
    """The request's admin session (looked up once per request), or None."""
    if not hasattr(request.state, "admin_session"):
        request.state.admin_session = security.read_session(request.cookies.get(security.SESSION_COOKIE),
                                                            settings=settings())
    return request.state.admin_session


def current_admin(request: Request) -> security.SessionInfo:
    """The logged-in admin, or a redirect to the login page (a relative one: the Host header is never used)."""
    info = session_of(request)
    if info is None:
        target = quote(request.url.path + (f"?{request.url.query}" if request.url.query else ""))
        ended = "&m=session_ended" if request.cookies.get(security.SESSION_COOKIE) else ""
        raise HTTPException(status_code=303, headers={"Location": f"/admin/login?next={target}{ended}"})
    return info


def form_problem(name: str, value: Any) -> str | None:
    """Why a submitted form field cannot be used (no NUL/control characters, within its length), or None."""
    if isinstance(value, UploadFile):
        return "file uploads are not accepted here"
    text_value = str(value)
    if name in _MULTILINE:
        text_value = text_value.replace("\r", " ").replace("\n", " ")
    problem = text_problem(text_value)
    if problem:
        return problem
    limit = _FIELD_LIMITS.get(name, _DEFAULT_FIELD_LIMIT)
    if len(str(value)) > limit:
        return f"at most {limit} characters (got {len(str(value))})"
    return None


def _expected_csrf(request: Request) -> str | None:
    info = session_of(request)
    return info.csrf if info is not None else request.cookies.get(security.CSRF_COOKIE)


async def csrf_form(request: Request) -> FormData:
    """The submitted form, after checking its CSRF token (403) and every field (400 naming the field)."""
    form = await request.form()
    if not security.csrf_ok(_expected_csrf(request), form.get("csrf_token")):
        raise HTTPException(status_code=403, detail="The form's security (CSRF) token is missing or does not match. "
                                                    "Reload the page and submit the form again.")
    for name, value in form.multi_items():
        problem = text_problem(name) or form_problem(name, value)
        if problem:
            raise HTTPException(status_code=400, detail=f"form field {name[:60]!r}: {problem}")
    return form


def _read_flash(request: Request) -> tuple[str | None, str | None]:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None, None
    try:
        found = json.loads(base64.urlsafe_b64decode(raw.encode("ascii") + b"==="))
    except (ValueError, TypeError, UnicodeError):
        return None, None
    if not isinstance(found, dict):
        return None, None
    msg, err = found.get("msg"), found.get("err")
    return (msg if isinstance(msg, str) else None), (err if isinstance(err, str) else None)


def render(request: Request, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    """Render a page with the CSRF token its forms echo (the session's, or a double-submit cookie's)."""
    info = session_of(request)
    token = info.csrf if info is not None else (request.cookies.get(security.CSRF_COOKIE) or security.new_csrf_token())
    flash_message, flash_error = _read_flash(request)
    context.setdefault("message", flash_message)
    context.setdefault("error", flash_error)
    response = templates.TemplateResponse(request, template, {"csrf_token": token, **context},
                                          status_code=status_code)
    if info is None and request.cookies.get(security.CSRF_COOKIE) != token:
        response.set_cookie(security.CSRF_COOKIE, token, httponly=True, samesite="strict",
                            secure=settings().base_url.startswith("https"), path="/admin")
    if request.cookies.get(FLASH_COOKIE):
        response.delete_cookie(FLASH_COOKIE, path="/admin")
    return response


def back(path: str, *, msg: str | None = None, err: str | None = None) -> RedirectResponse:
    """Post/redirect/get; the messages (what was done, what went wrong: both when a form did part of its work)
    ride in the flash cookie, never in the URL."""
    response = RedirectResponse(path, status_code=303)
    messages = {kind: text[:1000] for kind, text in (("msg", msg), ("err", err)) if text}
    if messages:
        value = base64.urlsafe_b64encode(json.dumps(messages).encode()).decode().rstrip("=")
        response.set_cookie(FLASH_COOKIE, value, max_age=60, httponly=True, samesite="strict",
                            secure=settings().base_url.startswith("https"), path="/admin")
    return response


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
        raise ConfigError(f"{name.replace('_', ' ')} must be a whole number, got {raw!r}") from None


def json_or_none(form: FormData, name: str) -> dict[str, Any] | None:
    """An optional JSON object (settings fields); invalid JSON is a :class:`ConfigError` naming the field."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"{name.replace('_', ' ')} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise ConfigError(f"{name.replace('_', ' ')} must be a JSON object")
    return value
