"""The dashboard (status tiles, warnings, channels with their sync lag, deliveries, charts) and the
JSON endpoints its charts read (``/admin/charts/...``, login required like every admin page).

The page reads only aggregates (:mod:`oms_bridge.web.dashboard`, :mod:`oms_bridge.web.charts`) in a
read-only session, in FastAPI's worker threads (sync handlers), never on the event loop. It reloads
itself every :data:`REFRESH_SECONDS` while its "refresh" box is ticked (``/admin/static/admin.js``; a
meta refresh cannot be paused, which WCAG 2.2.1 and axe-core refuse); the charts are drawn by
``/admin/static/charts.js`` with the vendored Chart.js.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from oms_bridge.store import cancel_requests
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import DELIVERY_STATES
from oms_bridge.web import charts, pages
from oms_bridge.web.dashboard import (
    channel_statuses,
    dashboard_warnings,
    delivery_counts,
    oldest_pending,
    status_tiles,
)
from oms_bridge.web.ops import scheduler_state
from oms_bridge.web.security import SessionInfo

__all__ = ["router", "REFRESH_SECONDS"]

router = APIRouter()

#: How often the dashboard reloads itself.
REFRESH_SECONDS = 60
Hours = Annotated[int, Query(ge=1, le=24 * 31)]


@router.get("/")
def dashboard(request: Request, admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    settings = pages.settings()
    now = datetime.now(UTC)
    with session_scope(settings, readonly=True) as session:
        statuses = channel_statuses(session, settings, now)
        counts = delivery_counts(session)
        oldest = oldest_pending(session)
        open_requests = cancel_requests.count_open(session)
    tiles = status_tiles(counts, statuses, oldest, settings, now)
    return pages.render(request, "dashboard.html", admin=admin, channels=statuses, counts=counts, now=now,
                        states=list(DELIVERY_STATES), open_requests=open_requests, tiles=tiles,
                        scheduler_state=scheduler_state(request), warnings=dashboard_warnings(tiles, statuses),
                        refresh_seconds=REFRESH_SECONDS)


@router.get("/charts/orders")
def orders_chart(hours: Hours = 24, admin: SessionInfo = Depends(pages.current_admin)) -> dict[str, Any]:
    """Orders per hour per channel over the last ``hours`` hours."""
    with session_scope(pages.settings(), readonly=True) as session:
        return charts.orders_per_hour(session, datetime.now(UTC), hours)


@router.get("/charts/backlog")
def backlog_chart(hours: Hours = 24, admin: SessionInfo = Depends(pages.current_admin)) -> dict[str, Any]:
    """Delivery backlog and held count at the end of each hour."""
    with session_scope(pages.settings(), readonly=True) as session:
        return charts.backlog_over_time(session, datetime.now(UTC), hours)


@router.get("/charts/runs")
def runs_chart(hours: Hours = 24, process: Annotated[str, Query(max_length=30)] = "",
               admin: SessionInfo = Depends(pages.current_admin)) -> dict[str, Any]:
    """Durations of the recent runs, per process (of one process when given: the runs page's filter)."""
    with session_scope(pages.settings(), readonly=True) as session:
        return charts.run_durations(session, datetime.now(UTC), hours, process=process or None)
