"""Admin pages for process runs: the list (filters, paging, empty delivery runs hidden by default) and
one run's detail (counts, duration, window, error, the run's recorded details).

Delivery processes run every minute and most rounds find nothing due: such a run (every count zero,
outcome ``success``) says only that the worker is alive, so the list hides them unless asked
(``?empty=1``); the dashboard's scheduler state says the same thing once.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy import ColumnElement, and_, func, not_, or_, select

from oms_bridge.configure.lookups import list_channels
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import ProcessRun, utcnow
from oms_bridge.store.models.backfill import Backfill
from oms_bridge.store.runs import COUNTS, effective_outcome, lost_clause
from oms_bridge.web import pages
from oms_bridge.web.security import SessionInfo

__all__ = ["router", "DELIVERY_PROCESSES", "PAGE_SIZE", "empty_run"]

router = APIRouter()

#: the processes that deliver the outbox (one run a minute, most of them with nothing due)
DELIVERY_PROCESSES = ("erp_delivery", "oms_delivery", "logistics_delivery", "cancel_answers")
PROCESSES = ("getorder", "refreshtoken", "backfill", *DELIVERY_PROCESSES, "alerts", "reconcile")
#: the outcomes the "failed" filter shows
FAILED_OUTCOMES = ("failed", "partial", "reauth_required", "interrupted")
PAGE_SIZE = 50


def empty_run() -> ColumnElement[bool]:
    """A delivery run that found nothing to do: every count zero, outcome success."""
    return and_(ProcessRun.process.in_(DELIVERY_PROCESSES), ProcessRun.outcome == "success",
                *[getattr(ProcessRun, name) == 0 for name in COUNTS if name != "api_calls"])


def _row(r: ProcessRun, names: dict[int, str], settings, now) -> dict[str, Any]:
    return {"id": r.id, "process": r.process, "channel": names.get(r.oms_channel_id, ""), "started": r.started,
            "ended": r.ended, "outcome": effective_outcome(r, settings, now), "fetched": r.fetched, "new": r.new,
            "changed": r.changed, "unchanged": r.unchanged, "held": r.held, "sent": r.sent, "failed": r.failed,
            "api_calls": r.api_calls, "error": r.error_text,
            "duration": (r.ended - r.started).total_seconds() if r.ended else None}


@router.get("/runs")
def runs_page(request: Request, channel: str = "", process: str = "", outcome: str = "", empty: str = "",
              page: Annotated[int, Query(ge=1, le=100_000)] = 1,
              admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    """Newest first, :data:`PAGE_SIZE` a page; ``outcome=failed`` shows only runs that went wrong."""
    settings, now = pages.settings(), utcnow()
    with session_scope(settings, readonly=True) as session:
        names = {c.id: c.value for c in list_channels(session)}
        where: list[ColumnElement[bool]] = []
        if process:
            where.append(ProcessRun.process == process)
        if channel:
            where.append(ProcessRun.oms_channel_id.in_([cid for cid, value in names.items() if value == channel]))
        if outcome == "failed":
            where.append(or_(ProcessRun.outcome.in_(FAILED_OUTCOMES), lost_clause(settings, now)))
        hidden = 0 if empty == "1" else session.scalar(
            select(func.count()).select_from(ProcessRun).where(empty_run(), *where)) or 0
        if empty != "1":
            where.append(not_(empty_run()))
        total = session.scalar(select(func.count()).select_from(ProcessRun).where(*where)) or 0
        rows = session.scalars(select(ProcessRun).where(*where).order_by(ProcessRun.id.desc())
                               .offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE))
        runs = [_row(r, names, settings, now) for r in rows]
    pages_total = max(1, -(-total // PAGE_SIZE))
    filters = {"channel": channel, "process": process, "outcome": outcome, "empty": empty}
    return pages.render(request, "runs.html", admin=admin, runs=runs, channels=sorted(names.values()),
                        processes=PROCESSES, filters=filters, page=page, pages_total=pages_total, total=total,
                        hidden=hidden, query={k: v for k, v in filters.items() if v}, now=now)


@router.get("/runs/{run_id}")
def run_page(run_id: pages.RowId, request: Request,
             admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    settings, now = pages.settings(), utcnow()
    with session_scope(settings, readonly=True) as session:
        r = session.get(ProcessRun, run_id)
        if r is None:
            return pages.render(request, "error.html", status_code=404, admin=admin, title="Run not found",
                                status=404, detail=f"There is no process run {run_id}.",
                                section=("/admin/runs", "Process runs"))
        names = {c.id: c.value for c in list_channels(session)}
        run = _row(r, names, settings, now)
        run.update(window_from=r.window_from, window_to=r.window_to, heartbeat=r.heartbeat)
        try:
            details = json.loads(r.details_json) if r.details_json else {}
        except ValueError:
            details = {"text": r.details_json}
        backfill = session.scalar(select(Backfill.id).where(Backfill.oms_process_run_id == r.id))
    return pages.render(request, "run.html", admin=admin, run=run, now=now, backfill=backfill,
                        details=json.dumps(details, indent=2, ensure_ascii=False, sort_keys=True) if details else "")
