"""Admin pages for configuration: platforms and channels (masked secrets), and the Authorize button.

Forms call :mod:`oms_bridge.configure` (the functions behind ``oms-bridge platform/channel``), so the
validation and its messages are the CLI's. Authorize: an OAuth channel goes to the marketplace's
consent page (:func:`channels.authorization.start_authorization`) and comes back to
``/oauth/callback/<platform>``; a credential channel is checked on the spot
(:func:`channels.authorization.check_credentials`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.datastructures import FormData

from channels.authorization import AuthorizationError, check_credentials, start_authorization
from channels.binding import needs_token_refresh
from oms_bridge.configure import channels as channel_config
from oms_bridge.configure import platforms as platform_config
from oms_bridge.configure.checks import ConfigError, NotFound
from oms_bridge.configure.lookups import get_channel, get_platform, list_channels, list_platforms
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
from oms_bridge.vault import VaultError
from oms_bridge.web import pages
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
@router.get("/channels")
def channels_page(request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    with session_scope(pages.settings(), readonly=True) as session:
        views = [channel_config.channel_view(c) for c in list_channels(session)]
        platforms = [p.value for p in list_platforms(session)]
    return pages.render(request, "channels.html", admin=admin, channels=views, platforms=platforms)


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
        if oauth:
            return RedirectResponse(start_authorization(value, settings=settings), status_code=303)
        ok, message = check_credentials(value, settings=settings)
    except (AuthorizationError, ConfigError, VaultError) as exc:
        return pages.back(page, err=str(exc))
    except Exception as exc:  # noqa: BLE001 - e.g. a platform misconfiguration: say it, no 500
        return pages.back(page, err=f"cannot authorize channel {value}: {describe_error(exc)}")
    return pages.back(page, msg=message) if ok else pages.back(page, err=message)
