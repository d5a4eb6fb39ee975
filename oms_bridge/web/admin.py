"""Admin pages (server-rendered FastAPI + Jinja2): login, and the assembly of the page groups:
the dashboard (:mod:`oms_bridge.web.admin_dashboard`), configuration (:mod:`oms_bridge.web.admin_setup`),
orders (:mod:`oms_bridge.web.admin_orders`), process runs (:mod:`oms_bridge.web.admin_runs`) and
monitoring: alerts and reconciliation (:mod:`oms_bridge.web.admin_monitoring`).

Every page needs a logged-in admin (:mod:`oms_bridge.web.security`: scrypt password, signed session
cookie) and every form carries a CSRF token checked before anything changes
(:mod:`oms_bridge.web.pages`). Pages call the same service functions as the CLI
(:mod:`oms_bridge.configure`, :mod:`channels.authorization`, :mod:`oms_bridge.store.outbox`,
:mod:`oms_bridge.store.orders`), so the rules and error messages are the same in both places. Every
form handler writes in an immediate transaction (SQLite: ``BEGIN IMMEDIATE``), so a read-then-write
never meets a stale snapshot while the scheduler writes. Secrets are never rendered: forms show the
masked value and keep the stored one when the field is left empty.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import func, select
from starlette.datastructures import FormData

from oms_bridge.store.db import session_scope
from oms_bridge.store.models import AdminUser
from oms_bridge.web import pages, security
from oms_bridge.web.admin_dashboard import router as dashboard_router
from oms_bridge.web.admin_held import router as held_router
from oms_bridge.web.admin_monitoring import router as monitoring_router
from oms_bridge.web.admin_oms import router as oms_router
from oms_bridge.web.admin_orders import router as orders_router
from oms_bridge.web.admin_runs import router as runs_router
from oms_bridge.web.admin_setup import router as setup_router

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)


@router.get("/login")
def login_page(request: Request, next: str = "/admin/", m: str = "") -> HTMLResponse:  # noqa: A002 - query name
    with session_scope(pages.settings(), readonly=True) as session:
        has_admin = session.scalar(select(func.count()).select_from(AdminUser)) > 0
    # Only a message code from a fixed table: never text from the URL.
    return pages.render(request, "login.html", next=_local_target(next), has_admin=has_admin,
                        message=pages.LOGIN_MESSAGES.get(m))


def _local_target(target: str) -> str:
    """Where to go after login: a path of the admin pages only (never off-site, never another host)."""
    if not target.startswith("/admin") or target.startswith("/admin\\") or "//" in target:
        return "/admin/"
    return target


@router.post("/login")
def login(request: Request, form: FormData = Depends(pages.csrf_form)) -> Response:
    target = _local_target(pages.text(form, "next") or "/admin/")
    settings = pages.settings()
    result = security.login(pages.text(form, "username"), str(form.get("password") or ""),
                            request.client.host if request.client else "", settings=settings)
    if result.cookie is None:
        response = pages.render(request, "login.html", status_code=429 if result.retry_after else 401, next=target,
                                has_admin=True, error=result.error)
        if result.retry_after:
            response.headers["Retry-After"] = str(result.retry_after)
        return response
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(security.SESSION_COOKIE, result.cookie, httponly=True,
                        samesite="lax", secure=settings.base_url.startswith("https"), path="/",
                        max_age=int(security.session_hours(settings) * 3600))
    return response


@router.post("/logout")
def logout(request: Request, _form: FormData = Depends(pages.csrf_form)) -> Response:
    """Ends the session on the server (the cookie stops working everywhere), then drops the cookie."""
    security.end_session(request.cookies.get(security.SESSION_COOKIE), settings=pages.settings())
    response = RedirectResponse("/admin/login?m=signed_out", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response


router.include_router(dashboard_router)
router.include_router(setup_router)
router.include_router(orders_router)
router.include_router(runs_router)
router.include_router(held_router)
router.include_router(oms_router)
router.include_router(monitoring_router)
