"""Admin pages for watching without watching: alerts (targets, "send test", what is on, history) and
reconciliation (recent runs, one run's report, run one now).

Thin on purpose: the pages call :mod:`oms_bridge.alerts` and :mod:`oms_bridge.reconcile`, the same
functions as ``oms-bridge alerts ...`` and ``oms-bridge reconcile``, so rules and messages are the CLI's.
A target's URL is a secret: the form field is a password field, and pages show only the masked hint.
"""

from __future__ import annotations

import json
from datetime import date

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from channels.binding import BindingError
from oms_bridge.alerts.engine import send_test
from oms_bridge.alerts.state import current_alerts, notice_history
from oms_bridge.alerts.targets import TargetError, add_target, list_targets, remove_target
from oms_bridge.configure.lookups import list_channels
from oms_bridge.reconcile.compare import day_of
from oms_bridge.reconcile.run import ReconcileError, reconcile_channel
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Reconciliation, utcnow
from oms_bridge.vault import VaultError
from oms_bridge.web import pages
from oms_bridge.web.security import SessionInfo

__all__ = ["router"]

router = APIRouter()


# ------------------------------------------------------------------------------ alerts
@router.get("/alerts")
def alerts_page(request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    with session_scope(pages.settings(), readonly=True) as session:
        alerts = current_alerts(session, include_resolved=True, limit=20)
        targets = list_targets(session)
        history = notice_history(session, limit=50)
    return pages.render(request, "alerts.html", admin=admin, alerts=alerts, targets=targets, history=history)


@router.post("/alerts/targets")
def add_alert_target(request: Request, admin: SessionInfo = Depends(pages.current_admin),
        form: FormData = Depends(pages.csrf_form)) -> Response:
    name = pages.text(form, "value")
    try:
        with session_scope(pages.settings(), immediate=True) as session:
            view = add_target(session, pages.vault(), name, str(form.get("url") or ""),
                              description=pages.text(form, "description") or None)
    except (TargetError, VaultError) as exc:
        return pages.back("/admin/alerts", err=str(exc))
    return pages.back("/admin/alerts", msg=f"alert target {view.value} added ({view.url}); send it a test")


@router.post("/alerts/targets/{name}/test")
def test_alert_target(name: str, request: Request, admin: SessionInfo = Depends(pages.current_admin),
        _form: FormData = Depends(pages.csrf_form)) -> Response:
    try:
        results = send_test(settings=pages.settings(), target=name)
    except (TargetError, VaultError) as exc:
        return pages.back("/admin/alerts", err=str(exc))
    failed = [r for r in results if not r.ok]
    if failed:
        return pages.back("/admin/alerts", err=f"test to {name} failed: {failed[0].error}")
    return pages.back("/admin/alerts", msg=f"test notification sent to {name}")


@router.post("/alerts/targets/{name}/delete")
def delete_alert_target(name: str, request: Request, admin: SessionInfo = Depends(pages.current_admin),
        _form: FormData = Depends(pages.csrf_form)) -> Response:
    try:
        with session_scope(pages.settings(), immediate=True) as session:
            remove_target(session, name)
    except TargetError as exc:
        return pages.back("/admin/alerts", err=str(exc))
    return pages.back("/admin/alerts", msg=f"alert target {name} removed")


# ------------------------------------------------------------------------------ reconciliation
@router.get("/reconcile")
def reconcile_page(request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    with session_scope(pages.settings(), readonly=True) as session:
        names = {c.id: c.value for c in list_channels(session)}
        rows = session.scalars(select(Reconciliation).order_by(Reconciliation.id.desc()).limit(100)).all()
        runs = [{"id": r.id, "channel": names.get(r.oms_channel_id, ""), "first_day": r.first_day,
                 "last_day": r.last_day, "ended": r.ended, "outcome": r.outcome, "listed": r.listed,
                 "stored": r.stored, "in_erp": r.in_erp, "oms_taken": r.oms_taken, "missing": r.missing,
                 "differences": r.differences_total, "error": r.error_text} for r in rows]
    return pages.render(request, "reconcile.html", admin=admin, runs=runs, channels=sorted(names.values()),
                        today=day_of(utcnow()))


@router.post("/reconcile")
def run_reconciliation(request: Request, admin: SessionInfo = Depends(pages.current_admin),
        form: FormData = Depends(pages.csrf_form)) -> Response:
    try:
        first = date.fromisoformat(pages.text(form, "since"))
        last = date.fromisoformat(pages.text(form, "until")) if pages.text(form, "until") else None
    except ValueError:
        return pages.back("/admin/reconcile", err="enter the days as YYYY-MM-DD (Asia/Taipei)")
    try:
        outcome = reconcile_channel(pages.text(form, "channel"), first, last, settings=pages.settings())
    except (ReconcileError, BindingError, VaultError) as exc:
        return pages.back("/admin/reconcile", err=str(exc))
    if outcome.report is None:
        return pages.back(f"/admin/reconcile/{outcome.id}", err=f"the reconciliation failed: {outcome.error}")
    return pages.back(f"/admin/reconcile/{outcome.id}", msg=f"reconciled: {outcome.report.outcome}")


@router.get("/reconcile/{rec_id}")
def reconciliation_page(rec_id: pages.RowId, request: Request,
                        admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    with session_scope(pages.settings(), readonly=True) as session:
        row = session.get(Reconciliation, rec_id)
        if row is None:
            return pages.render(request, "message.html", status_code=404, admin=admin, title="Reconciliation",
                                error=f"no reconciliation {rec_id}")
        channel = session.scalar(select(Channel.value).where(Channel.id == row.oms_channel_id))
        try:
            report = json.loads(row.report_json or "{}")
        except ValueError:
            report = {}
        run = {"id": row.id, "channel": channel, "first_day": row.first_day, "last_day": row.last_day,
               "ended": row.ended, "outcome": row.outcome, "error": row.error_text, "missing": row.missing,
               "differences_total": row.differences_total, "api_marketplace": row.api_calls_marketplace,
               "api_erp": row.api_calls_erp}
    return pages.render(request, "reconciliation.html", admin=admin, run=run, report=report)
