"""Audit: the ERP login password never leaves encrypted, neither on a rejected login nor on a good one.

A delivery runs against the iDempiere sandbox (real SOAP via zeep) with DEBUG logging on for the root logger
(zeep, urllib3 and ours). The password must be absent from the log, from every stored ``oms_process_run`` and
``oms_delivery`` text, from the ``repr`` of the connection row, the zeep login object and the client.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from sqlalchemy import select

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "erp"))

from erp_helpers import make_env  # noqa: E402

from oms_bridge.erp.delivery import client_for, run_erp_delivery  # noqa: E402
from oms_bridge.store.db import session_scope  # noqa: E402
from oms_bridge.store.models import Delivery, ErpConnection, ProcessRun  # noqa: E402
from sandboxes.idempiere.server import ErpSandbox  # noqa: E402

RIGHT = "R1ght-Pa55word-audit"
WRONG = "Wr0ng-Pa55word-audit"


def _stored_texts(settings) -> list[str]:
    with session_scope(settings) as s:
        runs = s.scalars(select(ProcessRun)).all()
        rows = s.scalars(select(Delivery)).all()
        texts = [str(vars(r)) for r in runs] + [str(vars(d)) for d in rows]
        conn = s.scalars(select(ErpConnection)).one()
        client = client_for(conn, settings)
        texts += [repr(conn), str(vars(conn)), repr(client), str(vars(client))]
        login = getattr(client, "login", None)
        texts += [repr(login)] if login is not None else []
    return texts


def test_audit_erp_password_absent_everywhere_on_wrong_and_right_login(sqlite_settings, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("zeep", "urllib3", "oms_bridge"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    sandbox = ErpSandbox().start()
    try:
        realm = sandbox.realm.users
        realm["WebService"] = (RIGHT, realm["WebService"][1])
        env = make_env(sqlite_settings, sandbox)
        env.update_connection(password=WRONG)
        first = env.add_order()
        refused_run = run_erp_delivery(settings=sqlite_settings)
        refused = env.delivery(first)
        # the wrong login really failed, with a reason (on the run: the order itself stays due)
        assert refused.state != "sent" and "Error login - User invalid" in (refused_run.error_text or "")
        env.update_connection(password=RIGHT)
        second = env.add_order()
        run_erp_delivery(settings=sqlite_settings)
        assert env.erp_orders(second)  # the right login really logged in (so zeep logged the login envelope)
        texts = _stored_texts(sqlite_settings)
    finally:
        sandbox.stop()
    assert "ADLoginRequest" in caplog.text
    haystack = "\n".join([caplog.text, *texts, *(repr(r.args) for r in caplog.records)])
    for secret in (RIGHT, WRONG):
        assert secret not in haystack, [line for line in haystack.splitlines() if secret in line][:3]
