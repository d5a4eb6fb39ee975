"""Storing ERP connections (``oms_erp_connection``): one place that encrypts the password and checks options.

Used by ``oms-bridge erp connection add`` and by anything that wires a connection programmatically
(the demo: ``save_connection(session, vault, "gw", **ErpSandbox().connection_fields())``).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.erp.config import ErpOptions
from oms_bridge.store import outbox
from oms_bridge.store.models import ErpConnection
from oms_bridge.vault import Vault

__all__ = ["save_connection"]


def save_connection(session: Session, vault: Vault, name: str, *, url: str, username: str, password: str | None,
                    client_id: int, role_id: int, org_id: int, warehouse_id: int, lang: str = "en_US",
                    stage: int = 9, settings: dict[str, Any] | None = None) -> ErpConnection:
    """Create or replace connection ``name``; re-arms orders held for a missing connection or its login."""
    options = ErpOptions.from_json(None if settings is None else json.dumps(settings))
    conn = session.scalars(select(ErpConnection).where(ErpConnection.value == name)).first()
    if conn is None:
        conn = ErpConnection(value=name)
        session.add(conn)
    conn.url, conn.username = url.rstrip("/"), username
    conn.password_enc = vault.encrypt(password)
    conn.erp_client_id, conn.erp_role_id, conn.erp_org_id, conn.erp_warehouse_id = client_id, role_id, org_id, \
        warehouse_id
    conn.lang, conn.stage = lang, stage
    conn.settings_json = options.to_json() if settings is not None else conn.settings_json
    session.flush()
    outbox.rearm_held(session, "erp", code="no_erp_connection")
    outbox.rearm_held(session, "erp", code=f"erp_login:{name}")
    return conn
