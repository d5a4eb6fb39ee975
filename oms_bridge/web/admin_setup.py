"""Admin pages for configuration: platforms and channels (masked secrets), the Authorize button, and a
channel's health with "Run GetOrder now" and backfill (started in the background, see
:mod:`oms_bridge.web.background`; the page shows their runs and the backfill's progress).

Forms call :mod:`oms_bridge.configure` (the functions behind ``oms-bridge platform/channel``), so the
validation and its messages are the CLI's. Authorize: an OAuth channel goes to the marketplace's
consent page (:func:`channels.authorization.start_authorization`) and comes back to
``/oauth/callback/<platform>``; a credential channel is checked on the spot
(:func:`channels.authorization.check_credentials`).
"""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData

from channels.authorization import AuthorizationError, check_credentials, start_authorization
from channels.backfill import backfill_range
from channels.binding import needs_token_refresh
from oms_bridge.configure import channels as channel_config
from oms_bridge.configure import platforms as platform_config
from oms_bridge.configure.checks import ConfigError, NotFound
from oms_bridge.configure.lookups import get_channel, get_platform, list_channels, list_platforms
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
from oms_bridge.store.models import utcnow
from oms_bridge.vault import VaultError
from oms_bridge.web import background, pages
from oms_bridge.web.channel_health import channel_health
from oms_bridge.web.dashboard import channel_statuses
from oms_bridge.web.security import SessionInfo
from platforms.registry import platform_types

__all__ = ["router", "ERP_FIELDS"]

router = APIRouter()

ERP_FIELDS = ("erp_org_id", "erp_warehouse_id", "erp_doctype_id", "erp_pricelist_id", "erp_bpartner_id",
              "erp_ordersource_id")


@router.get("/platforms")
def platforms_page(request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    vault = pages.vault()
    with session_scope(pages.settings(), readonly=True) as session:
        views = [platform_config.platform_view(p, vault) for p in list_platforms(session)]
    return pages.render(request, "platforms.html", admin=admin, platforms=views, types=platform_types())


@router.post("/platforms")
def add_platform(request: Request, admin: SessionInfo = Depends(pages.current_admin),
                 form: FormData = Depends(pages.csrf_form)) -> Response:
    try:
        with session_scope(pages.settings(), immediate=True) as session:
            platform_config.add_platform(session, pages.vault(), value=pages.text(form, "value"),
                                   name=pages.text(form, "name") or None,
                                   platform_type=pages.text(form, "platform_type"), host=pages.text(form, "host"),
                                   app_id=pages.text(form, "app_id") or None,
                                   app_secret=str(form.get("app_secret") or "") or None,
                                   settings=pages.json_or_none(form, "settings_json"))
    except (ConfigError, VaultError) as exc:
        return pages.back("/admin/platforms", err=str(exc))
    return pages.back("/admin/platforms", msg=f"platform {pages.text(form, 'value')} added")


@router.get("/platforms/{value}")
def platform_page(value: str, request: Request,
                  admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    try:
        with session_scope(pages.settings(), readonly=True) as session:
            view = platform_config.platform_view(get_platform(session, value), pages.vault())
    except NotFound as exc:
        return pages.render(request, "message.html", status_code=404, admin=admin, title="Not found", error=str(exc))
    return pages.render(request, "platform.html", admin=admin, platform=view, types=platform_types())


@router.post("/platforms/{value}")
def update_platform(value: str, request: Request,
                    admin: SessionInfo = Depends(pages.current_admin),
                    form: FormData = Depends(pages.csrf_form)) -> Response:
    changes: dict[str, Any] = {"name": pages.text(form, "name"), "host": pages.text(form, "host"),
                               "app_id": pages.text(form, "app_id") or None}
    if form.get("app_secret"):  # empty: keep the stored secret
        changes["app_secret"] = str(form.get("app_secret"))
    try:
        changes["settings"] = pages.json_or_none(form, "settings_json")
        with session_scope(pages.settings(), immediate=True) as session:
            platform_config.update_platform(session, pages.vault(), value, **changes)
    except (ConfigError, VaultError) as exc:
        return pages.back(f"/admin/platforms/{quote(value)}", err=str(exc))
    return pages.back(f"/admin/platforms/{quote(value)}", msg="saved")


# ------------------------------------------------------------------------------ channels
HEALTH_FILTERS = {"stale": "with a stale sync", "failing": "failing (credentials, authorization or last run)"}


@router.get("/channels")
def channels_page(request: Request, health: str = "",
                  admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    """Every channel with its health; ``?health=stale|failing`` shows only those (the dashboard tiles link here)."""
    settings, now = pages.settings(), utcnow()
    with session_scope(settings, readonly=True) as session:
        views = [channel_config.channel_view(c) for c in list_channels(session)]
        platforms = [p.value for p in list_platforms(session)]
        statuses = {s.value: s for s in channel_statuses(session, settings, now)}
    if health in HEALTH_FILTERS:
        views = [v for v in views if getattr(statuses.get(v["value"]), health, False)]
    return pages.render(request, "channels.html", admin=admin, channels=views, platforms=platforms,
                        statuses=statuses, health=health if health in HEALTH_FILTERS else "",
                        health_filters=HEALTH_FILTERS, now=now)


@router.post("/channels")
def add_channel(request: Request, admin: SessionInfo = Depends(pages.current_admin),
                form: FormData = Depends(pages.csrf_form)) -> Response:
    value = pages.text(form, "value")
    try:
        with session_scope(pages.settings(), immediate=True) as session:
            channel_config.add_channel(session, pages.vault(), value=value, platform=pages.text(form, "platform"),
                                  name=pages.text(form, "name") or None, shop_id=pages.text(form, "shop_id") or None,
                                  getorder_interval_minutes=pages.int_or_none(form, "getorder_interval_minutes"),
                                  settings=pages.json_or_none(form, "settings_json"))
    except (ConfigError, VaultError) as exc:
        return pages.back("/admin/channels", err=str(exc))
    return pages.back(f"/admin/channels/{quote(value)}",
                      msg=f"channel {value} added; enter its credentials and authorize it")


def _channel_context(session, value: str) -> dict[str, Any]:
    vault = pages.vault()
    channel = get_channel(session, value)
    view = channel_config.channel_view(channel, vault)
    try:  # the credentials this channel's auth model needs (a Cyberbiz token channel: its API token only)
        fields = channel_config.required_credentials(channel.platform, view["settings"], view["credentials"])
    except ConfigError:
        try:
            fields = channel_config.credential_fields(channel.platform.platform_type)
        except ConfigError:
            fields = {}
    try:
        oauth = needs_token_refresh(channel, session)
    except Exception:  # noqa: BLE001 - a misconfigured platform: show the page, Authorize reports why
        oauth = True
    return {"channel": view, "credential_fields": fields, "oauth": oauth,
            "health": channel_health(session, channel, pages.settings(), utcnow()), "now": utcnow(),
            "erp": {name: getattr(channel, name) for name in ERP_FIELDS},
            "platforms": [p.value for p in list_platforms(session)]}


@router.get("/channels/{value}")
def channel_page(value: str, request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    try:
        with session_scope(pages.settings(), readonly=True) as session:
            context = _channel_context(session, value)
    except (NotFound, VaultError) as exc:
        return pages.render(request, "message.html", status_code=404, admin=admin, title="Channel", error=str(exc))
    return pages.render(request, "channel.html", admin=admin, **context)


@router.post("/channels/{value}")
def update_channel(value: str, request: Request,
                   admin: SessionInfo = Depends(pages.current_admin),
                   form: FormData = Depends(pages.csrf_form)) -> Response:
    page = f"/admin/channels/{quote(value)}"
    try:
        with session_scope(pages.settings(), immediate=True) as session:
            channel = get_channel(session, value)
            fields = channel_config.credential_fields(channel.platform.platform_type)
            # Only fields the admin filled in change; an empty field keeps the stored secret.
            credentials = {k: str(form.get(f"cred_{k}")) for k in fields if form.get(f"cred_{k}")}
            erp = {name: pages.int_or_none(form, name) for name in ERP_FIELDS}
            channel_config.update_channel(session, pages.vault(), value, name=pages.text(form, "name"),
                                     shop_id=pages.text(form, "shop_id") or None, credentials=credentials or None,
                                     getorder_interval_minutes=pages.int_or_none(form, "getorder_interval_minutes"),
                                     settings=pages.json_or_none(form, "settings_json"), **erp)
    except (ConfigError, VaultError) as exc:
        return pages.back(page, err=str(exc))
    return pages.back(page, msg="saved")


@router.post("/channels/{value}/active")
def set_channel_active(value: str, request: Request,
                       admin: SessionInfo = Depends(pages.current_admin),
                       form: FormData = Depends(pages.csrf_form)) -> Response:
    active = pages.text(form, "active") == "Y"
    try:
        with session_scope(pages.settings(), immediate=True) as session:
            channel_config.set_channel_active(session, value, active)
    except ConfigError as exc:
        return pages.back("/admin/channels", err=str(exc))
    return pages.back(f"/admin/channels/{quote(value)}",
                      msg="enabled" if active else "disabled: no process runs for it")


@router.post("/channels/{value}/authorize")
def authorize_channel(value: str, request: Request,
                      admin: SessionInfo = Depends(pages.current_admin),
                      _form: FormData = Depends(pages.csrf_form)) -> Response:
    """OAuth platforms: off to the marketplace's consent page; credential platforms: check them now."""
    page = f"/admin/channels/{quote(value)}"
    settings = pages.settings()
    try:
        with session_scope(settings, readonly=True) as session:
            oauth = needs_token_refresh(get_channel(session, value), session)
        if oauth:  # a page that moves on by itself: CSP form-action 'self' forbids a form's off-site redirect
            return pages.render(request, "consent.html", admin=admin, channel=value,
                                url=start_authorization(value, settings=settings))
        ok, message = check_credentials(value, settings=settings)
    except (AuthorizationError, ConfigError, VaultError) as exc:
        return pages.back(page, err=str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. a platform misconfiguration: say it, no 500
        return pages.back(page, err=f"cannot authorize channel {value}: {describe_error(exc)}")
    return pages.back(page, msg=message) if ok else pages.back(page, err=message)


@router.post("/channels/{value}/getorder")
def getorder_now(value: str, request: Request, admin: SessionInfo = Depends(pages.current_admin),
                 _form: FormData = Depends(pages.csrf_form)) -> Response:
    """Run GetOrder for this channel now, in the background; the run shows on the page when it ends."""
    page = f"/admin/channels/{quote(value)}"
    settings = pages.settings()
    try:
        with session_scope(settings, readonly=True) as session:
            channel = get_channel(session, value)
            channel_id, active = channel.id, bool(channel.isactive)
    except NotFound as exc:
        return pages.back("/admin/channels", err=str(exc))
    if not active:
        return pages.back(page, err=f"channel {value} is disabled: enable it first")
    if background.start_getorder(channel_id, settings) is None:
        return pages.back(page, err=f"a GetOrder of channel {value} started here is still running; wait for it")
    return pages.back(page, msg=f"GetOrder of channel {value} started; its run appears under Recent runs")


@router.post("/channels/{value}/backfill")
def backfill_channel(value: str, request: Request, admin: SessionInfo = Depends(pages.current_admin),
                     form: FormData = Depends(pages.csrf_form)) -> Response:
    """Read the channel's orders from a day (in Asia/Taipei, the merchants' day) until now, in the background."""
    page = f"/admin/channels/{quote(value)}"
    settings = pages.settings()
    try:
        since = date.fromisoformat(pages.text(form, "since"))
    except ValueError:
        return pages.back(page, err="enter the first day as YYYY-MM-DD")
    start, end = backfill_range(since, None, utcnow())
    if start >= end:
        return pages.back(page, err="nothing to backfill: the day is in the future")
    try:
        with session_scope(settings, readonly=True) as session:
            channel_id = get_channel(session, value).id
    except NotFound as exc:
        return pages.back("/admin/channels", err=str(exc))
    if background.start_backfill(channel_id, start, end, settings) is None:
        return pages.back(page, err=f"a backfill of channel {value} started here is still running; wait for it")
    return pages.back(page, msg=f"backfill of channel {value} from {since} started; its progress shows below")
