"""Storing ERP connections (``oms_erp_connection``): one place that encrypts the password and checks options.

Used by ``oms-bridge erp connection add`` and by anything that wires a connection programmatically
(the demo: ``save_connection(session, vault, "gw", **ErpSandbox().connection_fields())``).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from oms_bridge.erp.config import ErpOptions
from oms_bridge.store import outbox
from oms_bridge.store.models import Channel, ErpConnection
from oms_bridge.vault import Vault

__all__ = ["ErpConnectionError", "check_url", "save_connection", "remove_connection", "login_refusal",
           "record_login_refusal", "clear_login_refusal"]


class ErpConnectionError(ValueError):
    """A connection the admin asked for cannot be stored or removed (the message says why)."""


def check_url(url: str) -> str:
    """The ADInterface base URL without a trailing slash; refuses anything but an http(s) URL with a host.

    A typo here (``ftp://``, a bare host name) would otherwise only surface as a WSDL error at the
    first delivery, long after the admin typed it.
    """
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ErpConnectionError(f"ERP URL {url!r} is not an http(s) URL, e.g. "
                                 "https://erp.example.com:8443/ADInterface/services")
    return url.strip().rstrip("/")


def save_connection(session: Session, vault: Vault, name: str, *, url: str, username: str, password: str | None,
                    client_id: int, role_id: int, org_id: int, warehouse_id: int, lang: str = "en_US",
                    stage: int = 9, settings: dict[str, Any] | None = None) -> ErpConnection:
    """Create or replace connection ``name``; re-arms orders held for a missing connection or its login."""
    url = check_url(url)
    options = ErpOptions.from_json(None if settings is None else json.dumps(settings))
    conn = session.scalars(select(ErpConnection).where(ErpConnection.value == name)).first()
    if conn is None:
        conn = ErpConnection(value=name)
        session.add(conn)
    conn.url, conn.username = url, username
    conn.password_enc = vault.encrypt(password)
    conn.erp_client_id, conn.erp_role_id, conn.erp_org_id, conn.erp_warehouse_id = client_id, role_id, org_id, \
        warehouse_id
    conn.lang, conn.stage = lang, stage
    conn.settings_json = options.to_json() if settings is not None else conn.settings_json
    session.flush()
    outbox.rearm_held(session, "erp", code="no_erp_connection")
    outbox.rearm_held(session, "erp", code=f"erp_login:{name}")
    return conn


def remove_connection(session: Session, name: str) -> None:
    """Delete connection ``name``; refused while channels still send their orders to it.

    Their delivery rows would otherwise be held with "no ERP connection" for no visible reason.
    """
    conn = session.scalars(select(ErpConnection).where(ErpConnection.value == name)).first()
    if conn is None:
        raise ErpConnectionError(f"no ERP connection named {name!r} (see: oms-bridge erp connection list)")
    users = list(session.scalars(select(Channel.value).where(Channel.oms_erp_connection_id == conn.id)
                                 .order_by(Channel.value)))
    if users:
        raise ErpConnectionError(
            f"ERP connection {name!r} is used by channel(s) {', '.join(users)}; move them first "
            f"(oms-bridge channel update CHANNEL --erp-connection OTHER)")
    others = session.scalar(select(func.count()).select_from(ErpConnection).where(ErpConnection.id != conn.id))
    session.delete(conn)
    session.flush()
    if others == 1:
        # Channels without an explicit connection use the only one left: release what waited for it.
        outbox.rearm_held(session, "erp", code="no_erp_connection")


def login_refusal(conn: ErpConnection) -> str | None:
    """The refused login that still stands for ``conn``: the server's text and when, or None.

    iDempiere counts every refused login towards locking the user (Login.java, USER_LOCKING_MAX_LOGIN_ATTEMPT),
    so after one refusal deliveries stop logging in with the same data. It stands until the connection row is
    edited (any edit: CLI, web, SQL that sets ``updated``) or ``oms-bridge erp check`` logs in successfully.
    """
    if not conn.login_error or conn.login_error_at is None or conn.updated is None:
        return None
    if conn.updated > conn.login_error_at:
        return None
    return f"{conn.login_error} (since {conn.login_error_at:%Y-%m-%d %H:%M} UTC)"


def record_login_refusal(session: Session, connection_id: int, text: str, at: datetime) -> None:
    """Remember a refused login without touching ``updated`` (an edit of the row is what lifts it)."""
    session.execute(update(ErpConnection).where(ErpConnection.id == connection_id)
                    .values(login_error=text[:2000], login_error_at=at, updated=ErpConnection.updated)
                    .execution_options(synchronize_session=False))


def clear_login_refusal(session: Session, connection_id: int) -> None:
    """The login works again (``erp check`` logged in): deliveries may log in."""
    session.execute(update(ErpConnection).where(ErpConnection.id == connection_id)
                    .values(login_error=None, login_error_at=None, updated=ErpConnection.updated)
                    .execution_options(synchronize_session=False))
