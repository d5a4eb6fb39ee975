"""Operations endpoints: ``/healthz`` (liveness + readiness) and Prometheus-format ``/metrics``.

``/healthz`` answers 200 when the database answers ``SELECT 1`` and, where this instance runs a
scheduler, the scheduler is running; otherwise 503 with the failing part named. The body is JSON
(``{"status", "database", "scheduler"}``), so a load balancer and a person can both read it.

``/metrics`` is computed from the store on each scrape (the numbers are shared by every instance,
so any instance can be scraped):

- ``oms_bridge_process_last_success_timestamp_seconds{channel,process}``: end of the last
  successful GetOrder/RefreshToken run per channel;
- ``oms_bridge_channel_lag_seconds{channel}``: now minus the channel's order watermark (how far
  behind the marketplace the store may be);
- ``oms_bridge_channel_auth_ok{channel,auth_state}``: 1 when the channel is authorized (``active``);
- ``oms_bridge_deliveries{destination,state}``: outbox rows per destination and state (``held`` and
  ``dead`` are the ones to alert on);
- ``oms_bridge_delivery_oldest_pending_age_seconds{destination}``: age of the oldest row still to be
  delivered (``pending`` or ``retry``), measured from when it was armed (0 when none waits);
- ``oms_bridge_scheduler_running``: 1 when this instance's scheduler runs.

Besides these, the output carries this process's own counters and histograms (prometheus_client's
default registry: :mod:`oms_bridge.store.telemetry`, :mod:`platforms.telemetry`, plus the standard
``process_*``/``python_*`` metrics): orders fetched, delivery outcomes, API calls and latency, run durations.
They count the work *this* instance did since it started; scrape every instance and sum in the query.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from oms_bridge.settings import get_settings
from oms_bridge.store import telemetry as _work_metrics  # noqa: F401 - registers this process's counters
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import DELIVERY_STATES, DESTINATIONS, Channel, Delivery, ProcessRun
from platforms import telemetry as _api_metrics  # noqa: F401 - registers the API call counters

__all__ = ["router", "scheduler_state", "StoreCollector"]

router = APIRouter(tags=["ops"])


def scheduler_state(request: Request) -> str:
    """``running``, ``stopped`` or ``disabled`` (this instance runs no scheduler)."""
    scheduler = getattr(request.app.state, "scheduler", None)
    if scheduler is None:
        return "disabled"
    return "running" if scheduler.running else "stopped"


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """A person opening the bare address lands on the admin pages."""
    return RedirectResponse("/admin/", status_code=307)


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    state = scheduler_state(request)
    try:
        with session_scope(get_settings()) as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        database = f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    healthy = database == "ok" and state != "stopped"
    return JSONResponse({"status": "ok" if healthy else "unhealthy", "database": database, "scheduler": state},
                        status_code=200 if healthy else 503)


class StoreCollector(Collector):
    """Gauges read from the store at scrape time."""

    def __init__(self, scheduler_running: bool | None):
        self.scheduler_running = scheduler_running

    def collect(self) -> Iterator[GaugeMetricFamily]:
        now = datetime.now(UTC)
        last_ok = GaugeMetricFamily("oms_bridge_process_last_success_timestamp_seconds",
                                    "End of the last successful run, per channel and process",
                                    labels=["channel", "process"])
        lag = GaugeMetricFamily("oms_bridge_channel_lag_seconds",
                                "Seconds between now and the channel's order watermark", labels=["channel"])
        auth = GaugeMetricFamily("oms_bridge_channel_auth_ok", "1 when the channel is authorized",
                                 labels=["channel", "auth_state"])
        deliveries = GaugeMetricFamily("oms_bridge_deliveries", "Outbox rows per destination and state",
                                       labels=["destination", "state"])
        oldest = GaugeMetricFamily("oms_bridge_delivery_oldest_pending_age_seconds",
                                   "Age of the oldest row still to be delivered (pending or retry), per destination",
                                   labels=["destination"])
        with session_scope(get_settings()) as session:
            channels = {c.id: c for c in session.scalars(select(Channel))}
            for ch in channels.values():
                auth.add_metric([ch.value, ch.auth_state], 1.0 if ch.auth_state == "active" else 0.0)
                if ch.order_watermark is not None:
                    lag.add_metric([ch.value], max(0.0, (now - ch.order_watermark).total_seconds()))
            rows = session.execute(
                select(ProcessRun.oms_channel_id, ProcessRun.process, func.max(ProcessRun.ended))
                .where(ProcessRun.outcome == "success", ProcessRun.oms_channel_id.is_not(None))
                .group_by(ProcessRun.oms_channel_id, ProcessRun.process)
            )
            for channel_id, process, ended in rows:
                if channel_id in channels and ended is not None:
                    last_ok.add_metric([channels[channel_id].value, process], _epoch(ended))
            counts = {(d, s): 0 for d in DESTINATIONS for s in DELIVERY_STATES}
            for dest, state, n in session.execute(
                select(Delivery.destination, Delivery.state, func.count()).group_by(Delivery.destination,
                                                                                    Delivery.state)):
                counts[(dest, state)] = n
            for (dest, state), n in sorted(counts.items()):
                deliveries.add_metric([dest, state], float(n))
            armed = dict(session.execute(
                select(Delivery.destination, func.min(func.coalesce(Delivery.armed_at, Delivery.created)))
                .where(Delivery.state.in_(("pending", "retry"))).group_by(Delivery.destination)).all())
            for dest in DESTINATIONS:
                since = armed.get(dest)
                oldest.add_metric([dest], max(0.0, now.timestamp() - _epoch(since)) if since is not None else 0.0)
        yield from (last_ok, lag, auth, deliveries, oldest)
        if self.scheduler_running is not None:
            yield GaugeMetricFamily("oms_bridge_scheduler_running", "1 when this instance's scheduler runs",
                                    value=1.0 if self.scheduler_running else 0.0)


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:  # SQLite hands back what UtcDateTime stored; keep it aware UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@router.get("/metrics")
def metrics(request: Request) -> Response:
    state = scheduler_state(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(None if state == "disabled" else state == "running"))
    # this process's counters/histograms first, then the store's gauges (names never overlap)
    return Response(generate_latest(REGISTRY) + generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
