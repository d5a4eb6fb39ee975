"""Admin pages (server-rendered FastAPI + Jinja2): dashboard, platforms, channels, orders, held
orders, SKU mappings, process runs.

Every page needs a logged-in admin (:mod:`oms_bridge.web.security`: scrypt password, signed session
cookie) and every form carries a CSRF token checked before anything changes. Pages call the same
service functions as the CLI (:mod:`oms_bridge.configure`, :mod:`channels.authorization`,
:mod:`oms_bridge.store.outbox`, :mod:`oms_bridge.store.orders`), so the rules and error messages
are the same in both places. Every form handler writes in an immediate transaction (SQLite:
``BEGIN IMMEDIATE``), so a read-then-write never meets a stale snapshot while the scheduler writes.
Secrets are never rendered: forms show the masked value and keep the stored one when the field is
left empty.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import func, select
from starlette.datastructures import FormData

from channels.authorization import AuthorizationError, check_credentials, start_authorization
from channels.binding import needs_token_refresh
from oms_bridge import configure
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import DELIVERY_STATES, AdminUser, Channel, Delivery, Order, ProcessRun, SkuMap
from oms_bridge.store.orders import OrderNotFound, list_orders, order_detail
from oms_bridge.vault import Vault, VaultError
from oms_bridge.web import security
from oms_bridge.web.dashboard import channel_statuses, delivery_counts
from platforms.registry import platform_types

__all__ = ["router"]

router = APIRouter(prefix="/admin", tags=["admin"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))

ERP_FIELDS = ("erp_org_id", "erp_warehouse_id", "erp_doctype_id", "erp_pricelist_id", "erp_bpartner_id",
              "erp_ordersource_id")


# ------------------------------------------------------------------------------ plumbing
def _settings() -> Settings:
    return get_settings()


def current_admin(request: Request) -> security.SessionInfo:
    """The logged-in admin, or a redirect to the login page."""
    info = security.read_session(request.cookies.get(security.SESSION_COOKIE), settings=_settings())
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
                            secure=_settings().base_url.startswith("https"), path="/admin")
    return response


def back(path: str, *, msg: str | None = None, err: str | None = None) -> RedirectResponse:
    """Post/redirect/get with a one-line message."""
    query = "&".join(f"{k}={quote(v)}" for k, v in (("msg", msg), ("err", err)) if v)
    return RedirectResponse(f"{path}?{query}" if query else path, status_code=303)


def _vault() -> Vault:
    return Vault.from_settings(_settings())


def _text(form: FormData, name: str) -> str:
    return str(form.get(name) or "").strip()


def _int_or_none(form: FormData, name: str) -> int | None:
    raw = _text(form, name)
    if not raw:
        return None
    try:
        return int(raw)
    except ValueError:
        raise configure.ConfigError(f"{name.replace('_', ' ')} must be a whole number, got {raw!r}") from None


def _json_or_none(form: FormData, name: str) -> dict[str, Any] | None:
    raw = _text(form, name)
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError as exc:
        raise configure.ConfigError(f"{name.replace('_', ' ')} is not valid JSON: {exc}") from None
    if not isinstance(value, dict):
        raise configure.ConfigError(f"{name.replace('_', ' ')} must be a JSON object")
    return value


# ------------------------------------------------------------------------------ login
@router.get("/login")
def login_page(request: Request, next: str = "/admin/") -> HTMLResponse:  # noqa: A002 - query name
    with session_scope(_settings()) as session:
        has_admin = session.scalar(select(func.count()).select_from(AdminUser)) > 0
    return render(request, "login.html", next=next, has_admin=has_admin)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await csrf_form(request)
    target = _text(form, "next") or "/admin/"
    if not target.startswith("/admin"):
        target = "/admin/"  # never redirect off-site after login
    user_id = security.authenticate(_text(form, "username"), str(form.get("password") or ""), settings=_settings())
    if user_id is None:
        return render(request, "login.html", status_code=401, next=target, has_admin=True,
                      error="Wrong user name or password.")
    response = RedirectResponse(target, status_code=303)
    settings = _settings()
    response.set_cookie(security.SESSION_COOKIE, security.issue_session(user_id, settings=settings), httponly=True,
                        samesite="lax", secure=settings.base_url.startswith("https"), path="/",
                        max_age=int(security.session_hours(settings) * 3600))
    return response


@router.post("/logout")
async def logout(request: Request, _form: FormData = Depends(csrf_form)) -> Response:
    response = RedirectResponse("/admin/login", status_code=303)
    response.delete_cookie(security.SESSION_COOKIE, path="/")
    return response


# ------------------------------------------------------------------------------ dashboard
@router.get("/")
def dashboard(request: Request, admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    settings = _settings()
    now = datetime.now(UTC)
    with session_scope(settings) as session:
        statuses = channel_statuses(session, settings, now)
        counts = delivery_counts(session)
    scheduler = getattr(request.app.state, "scheduler", None)
    state = "disabled" if scheduler is None else ("running" if scheduler.running else "stopped")
    return render(request, "dashboard.html", admin=admin, channels=statuses, counts=counts, now=now,
                  states=list(DELIVERY_STATES),
                  scheduler_state=state, warnings=[w for s in statuses for w in s.warnings])


# ------------------------------------------------------------------------------ platforms
@router.get("/platforms")
def platforms_page(request: Request, admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    vault = _vault()
    with session_scope(_settings()) as session:
        views = [configure.platform_view(p, vault) for p in configure.list_platforms(session)]
    return render(request, "platforms.html", admin=admin, platforms=views, types=platform_types())


@router.post("/platforms")
async def add_platform(request: Request, admin: security.SessionInfo = Depends(current_admin)) -> Response:
    form = await csrf_form(request)
    try:
        with session_scope(_settings(), immediate=True) as session:
            configure.add_platform(session, _vault(), value=_text(form, "value"), name=_text(form, "name") or None,
                                   platform_type=_text(form, "platform_type"), host=_text(form, "host"),
                                   app_id=_text(form, "app_id") or None,
                                   app_secret=str(form.get("app_secret") or "") or None,
                                   settings=_json_or_none(form, "settings_json"))
    except (configure.ConfigError, VaultError) as exc:
        return back("/admin/platforms", err=str(exc))
    return back("/admin/platforms", msg=f"platform {_text(form, 'value')} added")


@router.get("/platforms/{value}")
def platform_page(value: str, request: Request,
                  admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    try:
        with session_scope(_settings()) as session:
            view = configure.platform_view(configure.get_platform(session, value), _vault())
    except configure.NotFound as exc:
        return render(request, "message.html", status_code=404, admin=admin, title="Not found", error=str(exc))
    return render(request, "platform.html", admin=admin, platform=view, types=platform_types())


@router.post("/platforms/{value}")
async def update_platform(value: str, request: Request,
                          admin: security.SessionInfo = Depends(current_admin)) -> Response:
    form = await csrf_form(request)
    changes: dict[str, Any] = {"name": _text(form, "name"), "host": _text(form, "host"),
                               "app_id": _text(form, "app_id") or None}
    if form.get("app_secret"):  # empty: keep the stored secret
        changes["app_secret"] = str(form.get("app_secret"))
    try:
        changes["settings"] = _json_or_none(form, "settings_json")
        with session_scope(_settings(), immediate=True) as session:
            configure.update_platform(session, _vault(), value, **changes)
    except (configure.ConfigError, VaultError) as exc:
        return back(f"/admin/platforms/{quote(value)}", err=str(exc))
    return back(f"/admin/platforms/{quote(value)}", msg="saved")


# ------------------------------------------------------------------------------ channels
@router.get("/channels")
def channels_page(request: Request, admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    with session_scope(_settings()) as session:
        views = [configure.channel_view(c) for c in configure.list_channels(session)]
        platforms = [p.value for p in configure.list_platforms(session)]
    return render(request, "channels.html", admin=admin, channels=views, platforms=platforms)


@router.post("/channels")
async def add_channel(request: Request, admin: security.SessionInfo = Depends(current_admin)) -> Response:
    form = await csrf_form(request)
    value = _text(form, "value")
    try:
        with session_scope(_settings(), immediate=True) as session:
            configure.add_channel(session, _vault(), value=value, platform=_text(form, "platform"),
                                  name=_text(form, "name") or None, shop_id=_text(form, "shop_id") or None,
                                  getorder_interval_minutes=_int_or_none(form, "getorder_interval_minutes"),
                                  settings=_json_or_none(form, "settings_json"))
    except (configure.ConfigError, VaultError) as exc:
        return back("/admin/channels", err=str(exc))
    return back(f"/admin/channels/{quote(value)}", msg=f"channel {value} added; enter its credentials and authorize it")


def _channel_context(session, value: str) -> dict[str, Any]:
    vault = _vault()
    channel = configure.get_channel(session, value)
    view = configure.channel_view(channel, vault)
    try:
        fields = configure.credential_fields(channel.platform.platform_type)
    except configure.ConfigError:
        fields = {}
    try:
        oauth = needs_token_refresh(channel, session)
    except Exception:  # noqa: BLE001 - a misconfigured platform: show the page, Authorize reports why
        oauth = True
    return {"channel": view, "credential_fields": fields, "oauth": oauth,
            "erp": {name: getattr(channel, name) for name in ERP_FIELDS},
            "platforms": [p.value for p in configure.list_platforms(session)]}


@router.get("/channels/{value}")
def channel_page(value: str, request: Request, admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    try:
        with session_scope(_settings()) as session:
            context = _channel_context(session, value)
    except (configure.NotFound, VaultError) as exc:
        return render(request, "message.html", status_code=404, admin=admin, title="Channel", error=str(exc))
    return render(request, "channel.html", admin=admin, **context)


@router.post("/channels/{value}")
async def update_channel(value: str, request: Request,
                         admin: security.SessionInfo = Depends(current_admin)) -> Response:
    form = await csrf_form(request)
    page = f"/admin/channels/{quote(value)}"
    try:
        with session_scope(_settings(), immediate=True) as session:
            channel = configure.get_channel(session, value)
            fields = configure.credential_fields(channel.platform.platform_type)
            # Only fields the admin filled in change; an empty field keeps the stored secret.
            credentials = {k: str(form.get(f"cred_{k}")) for k in fields if form.get(f"cred_{k}")}
            erp = {name: _int_or_none(form, name) for name in ERP_FIELDS}
            configure.update_channel(session, _vault(), value, name=_text(form, "name"),
                                     shop_id=_text(form, "shop_id") or None, credentials=credentials or None,
                                     getorder_interval_minutes=_int_or_none(form, "getorder_interval_minutes"),
                                     settings=_json_or_none(form, "settings_json"), **erp)
    except (configure.ConfigError, VaultError) as exc:
        return back(page, err=str(exc))
    return back(page, msg="saved")


@router.post("/channels/{value}/active")
async def set_channel_active(value: str, request: Request,
                             admin: security.SessionInfo = Depends(current_admin)) -> Response:
    form = await csrf_form(request)
    active = _text(form, "active") == "Y"
    try:
        with session_scope(_settings(), immediate=True) as session:
            configure.set_channel_active(session, value, active)
    except configure.ConfigError as exc:
        return back("/admin/channels", err=str(exc))
    return back(f"/admin/channels/{quote(value)}", msg="enabled" if active else "disabled: no process runs for it")


@router.post("/channels/{value}/authorize")
async def authorize_channel(value: str, request: Request,
                            admin: security.SessionInfo = Depends(current_admin)) -> Response:
    """OAuth platforms: off to the marketplace's consent page; credential platforms: check them now."""
    await csrf_form(request)
    page = f"/admin/channels/{quote(value)}"
    settings = _settings()
    try:
        with session_scope(settings) as session:
            oauth = needs_token_refresh(configure.get_channel(session, value), session)
        if oauth:
            return RedirectResponse(start_authorization(value, settings=settings), status_code=303)
        ok, message = check_credentials(value, settings=settings)
    except (AuthorizationError, configure.ConfigError, VaultError) as exc:
        return back(page, err=str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. a platform misconfiguration: say it, no 500
        return back(page, err=f"cannot authorize channel {value}: {exc}")
    return back(page, msg=message) if ok else back(page, err=message)


# ------------------------------------------------------------------------------ orders
@router.get("/orders")
def orders_page(request: Request, channel: str = "", status: str = "", held: str = "", limit: int = 100,
                admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    with session_scope(_settings()) as session:
        rows = list_orders(session, channel=channel or None, status=status or None,
                           held={"Y": True, "N": False}.get(held), limit=max(1, min(limit, 1000)))
        channels = [c.value for c in configure.list_channels(session)]
    return render(request, "orders.html", admin=admin, orders=rows, channels=channels,
                  filters={"channel": channel, "status": status, "held": held})


@router.get("/orders/{channel}/{number}")
def order_page(channel: str, number: str, request: Request,
               admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    try:
        with session_scope(_settings()) as session:
            detail = order_detail(session, number, channel=channel)
            raw = session.scalar(select(Order.raw_payload).join(Channel, Channel.id == Order.oms_channel_id)
                                 .where(Channel.value == channel, Order.external_id == number))
    except OrderNotFound as exc:
        return render(request, "message.html", status_code=404, admin=admin, title="Order", error=str(exc))
    try:
        raw_pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=False) if raw else ""
    except ValueError:
        raw_pretty = raw
    return render(request, "order.html", admin=admin, order=detail, raw_payload=raw_pretty)


# ------------------------------------------------------------------------------ held orders
@router.get("/held")
def held_page(request: Request, destination: str = "", limit: int = 500,
              admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    with session_scope(_settings()) as session:
        where = [Delivery.state.in_(("held", "dead"))]
        if destination:
            where.append(Delivery.destination == destination)
        total = session.scalar(select(func.count()).select_from(Delivery).where(*where))
        stmt = (select(Delivery, Order.external_id, Channel.value)
                .join(Order, Order.id == Delivery.oms_order_id).join(Channel, Channel.id == Order.oms_channel_id)
                .where(*where).order_by(Delivery.id).limit(max(1, min(limit, 5000))))
        rows = [{"id": d.id, "destination": d.destination, "state": d.state, "reason": d.last_error,
                 "code": d.hold_code, "attempts": d.attempts, "order": number, "channel": chan, "updated": d.updated}
                for d, number, chan in session.execute(stmt)]
        unmappable = [{"order": o.external_id, "channel": chan, "reason": o.held_reason}
                      for o, chan in session.execute(select(Order, Channel.value)
                                                     .join(Channel, Channel.id == Order.oms_channel_id)
                                                     .where(Order.is_held == True).order_by(Order.id)  # noqa: E712 - YesNo binds True as 'Y'
                                                     .limit(max(1, min(limit, 5000))))]
    return render(request, "held.html", admin=admin, rows=rows, unmappable=unmappable, destination=destination,
                  total=total)


@router.post("/held/{delivery_id}/retry")
async def retry_held(delivery_id: int, request: Request,
                     admin: security.SessionInfo = Depends(current_admin)) -> Response:
    await csrf_form(request)
    with session_scope(_settings(), immediate=True) as session:
        row = session.get(Delivery, delivery_id)
        if row is None:
            return back("/admin/held", err=f"no delivery {delivery_id}; it may have been retried already")
        number = session.scalar(select(Order.external_id).where(Order.id == row.oms_order_id))
        count = outbox.rearm(session, row.destination, order_ids=[row.oms_order_id])
    if not count:
        return back("/admin/held", err=f"order {number} is no longer held for {row.destination}")
    return back("/admin/held", msg=f"order {number} queued again for {row.destination}")


# ------------------------------------------------------------------------------ SKU mappings
def _unmapped(session) -> list[dict[str, Any]]:
    prefix = "missing_sku:"
    rows = session.execute(select(Delivery.hold_code, func.count()).where(
        Delivery.state == "held", Delivery.hold_code.startswith(prefix)).group_by(Delivery.hold_code))
    return [{"sku": code[len(prefix):], "orders": n} for code, n in sorted(rows)]


@router.get("/skus")
def skus_page(request: Request, admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    with session_scope(_settings()) as session:
        channels = {c.id: c.value for c in configure.list_channels(session)}
        maps = [{"id": m.id, "sku": m.sku, "channel": channels.get(m.scope_channel_id, "(all channels)"),
                 "product_id": m.m_product_id, "product_value": m.m_product_value}
                for m in session.scalars(select(SkuMap).order_by(SkuMap.sku))]
        unmapped = _unmapped(session)
    return render(request, "skus.html", admin=admin, maps=maps, unmapped=unmapped, channels=sorted(channels.values()))


@router.post("/skus")
async def map_sku(request: Request, admin: security.SessionInfo = Depends(current_admin)) -> Response:
    """Map a SKU (or change its mapping) and re-queue the orders held for it."""
    form = await csrf_form(request)
    sku = _text(form, "sku")
    try:
        product_id = _int_or_none(form, "m_product_id")
    except configure.ConfigError as exc:
        return back("/admin/skus", err=str(exc))
    product_value = _text(form, "m_product_value") or None
    if not sku or (product_id is None and not product_value):
        return back("/admin/skus", err="enter the SKU and either the ERP product id or its search key (Value)")
    with session_scope(_settings(), immediate=True) as session:
        scope = 0
        if _text(form, "channel"):
            try:
                scope = configure.get_channel(session, _text(form, "channel")).id
            except configure.NotFound as exc:
                return back("/admin/skus", err=str(exc))
        row = session.scalar(select(SkuMap).where(SkuMap.sku == sku, SkuMap.scope_channel_id == scope))
        if row is None:
            row = SkuMap(sku=sku, scope_channel_id=scope)
            session.add(row)
        row.m_product_id, row.m_product_value = product_id, product_value
        requeued = outbox.rearm_held(session, "erp", code=f"missing_sku:{sku}")
    return back("/admin/skus", msg=f"SKU {sku} mapped; {requeued} held order(s) queued again for the ERP")


@router.post("/skus/{map_id}/delete")
async def unmap_sku(map_id: int, request: Request, admin: security.SessionInfo = Depends(current_admin)) -> Response:
    await csrf_form(request)
    with session_scope(_settings(), immediate=True) as session:
        row = session.get(SkuMap, map_id)
        if row is None:
            return back("/admin/skus", err="that mapping no longer exists")
        sku = row.sku
        session.delete(row)
    return back("/admin/skus", msg=f"mapping of SKU {sku} removed")


# ------------------------------------------------------------------------------ process runs
@router.get("/runs")
def runs_page(request: Request, channel: str = "", process: str = "", limit: int = 100,
              admin: security.SessionInfo = Depends(current_admin)) -> HTMLResponse:
    with session_scope(_settings()) as session:
        names = {c.id: c.value for c in configure.list_channels(session)}
        stmt = select(ProcessRun).order_by(ProcessRun.id.desc()).limit(max(1, min(limit, 1000)))
        if process:
            stmt = stmt.where(ProcessRun.process == process)
        if channel:
            ids = [cid for cid, value in names.items() if value == channel]
            stmt = stmt.where(ProcessRun.oms_channel_id.in_(ids))
        runs = [{"id": r.id, "process": r.process, "channel": names.get(r.oms_channel_id, ""), "started": r.started,
                 "ended": r.ended, "outcome": r.outcome, "fetched": r.fetched, "new": r.new, "changed": r.changed,
                 "unchanged": r.unchanged, "held": r.held, "sent": r.sent, "failed": r.failed,
                 "api_calls": r.api_calls, "error": r.error_text} for r in session.scalars(stmt)]
    return render(request, "runs.html", admin=admin, runs=runs, channels=sorted(names.values()),
                  filters={"channel": channel, "process": process})
