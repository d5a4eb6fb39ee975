"""OAuth callback route: ``GET /oauth/callback/{platform}``, where the marketplace sends the merchant back.

The merchant is a person in a browser, so every answer is a short HTML page: success names the
channel; a failure says what went wrong and what the admin should do (start again with
``oms-bridge channel authorize NAME``). No error becomes a 500 with a traceback: authorization
problems answer 400, marketplace failures 502, and anything unexpected is logged for the admin and
answered with a plain 400 page. Query parameters (``code``, tokens) are never echoed or logged.
"""

from __future__ import annotations

import html
import logging

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from channels.authorization import AuthorizationError, complete_authorization
from oms_bridge.settings import SettingsError, get_settings
from oms_bridge.vault import VaultError
from platforms.base import PlatformError

__all__ = ["router"]

log = logging.getLogger("oms_bridge.web.oauth")
router = APIRouter()

_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:40em;margin:4em auto;line-height:1.5}}
h1{{color:{color}}}</style></head>
<body><h1>{title}</h1><p>{body}</p></body></html>"""


def _page(title: str, body: str, status: int, ok: bool = False) -> HTMLResponse:
    return HTMLResponse(_PAGE.format(title=html.escape(title), body=html.escape(body),
                                     color="#1a7f37" if ok else "#b42318"), status_code=status)


@router.get("/oauth/callback/{platform}", response_class=HTMLResponse)
def oauth_callback(platform: str, request: Request) -> HTMLResponse:
    """Finish an authorization started with ``oms-bridge channel authorize``."""
    params = dict(request.query_params)
    try:
        channel = complete_authorization(platform, params, settings=get_settings())
    except AuthorizationError as exc:
        log.warning("OAuth callback for %s refused: %s", platform, exc)
        return _page("Authorization not completed", str(exc), 400)
    except PlatformError as exc:
        log.warning("OAuth callback for %s: marketplace error: %s", platform, exc)
        return _page("Authorization not completed", f"The marketplace answered with an error: {exc}", 502)
    except (VaultError, SettingsError) as exc:
        log.error("OAuth callback for %s: configuration problem: %s", platform, exc)
        return _page("Authorization not completed", f"The bridge is not configured correctly: {exc}", 400)
    except Exception:  # noqa: BLE001 - the merchant gets a page, the admin gets the traceback in the log
        log.exception("OAuth callback for %s failed unexpectedly", platform)
        return _page("Authorization not completed",
                     "Something unexpected went wrong; the administrator can see the details in the bridge's log. "
                     "Please ask them to start the authorization again.", 400)
    label = channel.value if channel.name in (None, "", channel.value) else f"{channel.value} ({channel.name})"
    return _page("Authorization complete", f"Channel {label} is now connected. You can close this window.", 200,
                 ok=True)
