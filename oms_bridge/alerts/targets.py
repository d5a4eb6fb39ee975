"""Alert targets: apprise URLs, encrypted at rest, masked in every output.

An apprise URL names the service and carries its secret in the same string
(``mailtos://user:password@mail.example.com?to=ops@example.com``, ``slack://T000/B000/XXXX``,
``tgram://<bot token>/<chat id>``, ``json://hooks.example.com/<key>``), so the whole URL is a secret:
it is stored in ``oms_alert_target.url_enc`` (the vault) and never printed. What outputs show is
:func:`url_hint`: the scheme, and for services addressed by a host name the host and port, everything
else ``****``. A URL apprise cannot use is refused when it is added, with the scheme named (never the URL).

The CLI (``oms-bridge alerts target ...``) and the admin page (/admin/alerts) call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

import apprise
from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.store.models import AlertTarget
from oms_bridge.vault import Vault

__all__ = ["TargetError", "TargetView", "url_hint", "add_target", "remove_target", "list_targets", "target_urls",
           "check_url", "HOST_SCHEMES"]

#: schemes whose host part is a real host name (shown in the hint); for every other service (Slack, Telegram,
#: LINE, Teams, ...) the "host" part of the URL is itself a token and is masked
HOST_SCHEMES = frozenset({"json", "jsons", "xml", "xmls", "form", "forms", "mailto", "mailtos", "ntfy", "ntfys",
                          "apprise", "apprises", "gotify", "gotifys", "mattermost", "mmost", "mmosts",
                          "rocket", "rockets", "matrix", "matrixs"})
VALUE_MAX = 60


class TargetError(Exception):
    """A target cannot be added, found or used; the message is for the admin (it never quotes the URL)."""


@dataclass(frozen=True)
class TargetView:
    """A target as outputs show it (no secret)."""

    id: int
    value: str
    url: str
    service: str
    description: str | None
    active: bool
    last_sent: datetime | None
    last_error: str | None


def _scheme(url: str) -> str:
    return url.split("://", 1)[0].lower() if "://" in url else ""


def check_url(url: str) -> str:
    """The service name of an apprise URL (``JSON``, ``Slack``); :class:`TargetError` when apprise cannot use it."""
    url = url.strip()
    scheme = _scheme(url)
    if not scheme:
        raise TargetError("an alert target is an apprise URL such as mailtos://user:password@mail.example.com"
                          "?to=ops@example.com or slack://TokenA/TokenB/TokenC (see docs/alerts.md)")
    plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if plugin is None:
        raise TargetError(f"apprise cannot use this {scheme}:// URL: the scheme is unknown or a required part is "
                          "missing (see https://github.com/caronc/apprise/wiki for the URL of each service)")
    return str(getattr(plugin, "service_name", None) or scheme)


def url_hint(url: str) -> str:
    """The masked form of an apprise URL: ``json://hooks.example.com:8080/****``, ``slack://****``."""
    scheme = _scheme(url) or "?"
    if scheme in HOST_SCHEMES:
        try:
            parts = urlsplit(url.strip())
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
        except ValueError:
            host, port = "", ""
        if host:
            return f"{scheme}://{host}{port}/****"
    return f"{scheme}://****"


def add_target(session: Session, vault: Vault, value: str, url: str, *, description: str | None = None) -> TargetView:
    """Store a new target (the URL encrypted); refuses a taken name or a URL apprise cannot use."""
    value = (value or "").strip()
    if not value or len(value) > VALUE_MAX or any(c.isspace() or c == "/" for c in value):
        raise TargetError(f"a target name is 1 to {VALUE_MAX} characters without spaces or '/', got {value!r}")
    check_url(url)
    if session.scalar(select(AlertTarget.id).where(AlertTarget.value == value)) is not None:
        raise TargetError(f"an alert target named {value!r} exists already (remove it first to replace its URL)")
    row = AlertTarget(value=value, url_enc=vault.encrypt(url.strip()), url_hint=url_hint(url),
                      description=(description or "").strip() or None)
    session.add(row)
    session.flush()
    return _view(row)


def remove_target(session: Session, value: str) -> None:
    row = session.scalar(select(AlertTarget).where(AlertTarget.value == value))
    if row is None:
        raise TargetError(f"no alert target named {value!r} (`oms-bridge alerts target list` shows them)")
    session.delete(row)


def _view(row: AlertTarget) -> TargetView:
    service = _scheme(row.url_hint)
    return TargetView(id=row.id, value=row.value, url=row.url_hint, service=service, description=row.description,
                      active=bool(row.isactive), last_sent=row.last_sent, last_error=row.last_error)


def list_targets(session: Session) -> list[TargetView]:
    return [_view(r) for r in session.scalars(select(AlertTarget).order_by(AlertTarget.value))]


def target_urls(session: Session, vault: Vault, *, only: str | None = None) -> dict[int, tuple[str, str]]:
    """``{target id: (name, decrypted URL)}`` of the active targets (or the one named ``only``)."""
    stmt = select(AlertTarget).order_by(AlertTarget.id)
    stmt = stmt.where(AlertTarget.value == only) if only else stmt.where(AlertTarget.isactive.is_(True))
    rows = session.scalars(stmt).all()
    if only and not rows:
        raise TargetError(f"no alert target named {only!r} (`oms-bridge alerts target list` shows them)")
    return {r.id: (r.value, vault.decrypt(r.url_enc, what=f"alert target {r.value!r} URL") or "") for r in rows}
