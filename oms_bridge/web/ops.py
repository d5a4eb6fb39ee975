"""Operations endpoints: ``/healthz`` (liveness + readiness) and Prometheus-format ``/metrics``.

``/healthz`` answers 200 when the database answers ``SELECT 1`` and, where this instance runs a
scheduler, the scheduler is healthy; otherwise 503 with the failing part named. The body is JSON
(``{"status", "database", "scheduler"}``, plus ``"reason"`` when something is wrong), so a load
balancer and a person can both read it. Scheduler states (:meth:`scheduler.builder.BridgeScheduler.health`):
``running``, ``disabled`` (this instance runs none), and the unhealthy ones ``stopped``, ``dead`` (its
thread ended), ``failing`` (its job store errors), ``stalled`` (no round, or a due job not started, for
``scheduler_stall_seconds``). Channels whose jobs cannot be scheduled are listed under
``"jobs_not_scheduled"`` (the other channels' jobs run; the status stays ``ok``).

``/metrics`` (readable as ``metrics_access`` allows: see :mod:`oms_bridge.web.ops_access`) is
computed from the store on each scrape (the numbers are shared by every instance,
so any instance can be scraped):

- ``oms_bridge_process_last_success_timestamp_seconds{channel,process}``: end of the last
  successful GetOrder/RefreshToken run per channel;
- ``oms_bridge_channel_lag_seconds{channel}``: now minus the channel's order watermark (how far
  behind the marketplace the store may be);
- ``oms_bridge_channel_auth_ok{channel,auth_state}``: 1 when the channel is authorized (``active``);
- ``oms_bridge_deliveries{destination,state}``: outbox rows per destination and state (``held`` and
  ``dead`` are the ones to alert on);
- ``oms_bridge_process_runs_lost{process}``: rows still ``running`` whose heartbeat stopped (the run
  died: ``kill -9``, a crash, a lost host; see :func:`oms_bridge.store.runs.effective_outcome`);
- ``oms_bridge_delivery_oldest_pending_age_seconds{destination}``: age of the oldest row still to be
  delivered (``pending`` or ``retry``), measured from when it was armed (0 when none waits);
- ``oms_bridge_scheduler_running``: 1 when this instance's scheduler runs *and is healthy* (0 when its
  thread died, its job store fails or due jobs stopped running); a scheduler paused on purpose is
  healthy (1): it is alive and will run jobs once resumed;
- ``oms_bridge_scheduler_last_round_timestamp_seconds``: when its loop last completed a round.

Besides these, the output carries this process's own counters and histograms (prometheus_client's
default registry: :mod:`oms_bridge.store.telemetry`, :mod:`oms_bridge.remote.telemetry`, plus the standard
``process_*``/``python_*`` metrics): orders fetched, delivery outcomes, API calls and latency, run durations.
They count the work *this* instance did since it started; scrape every instance and sum in the query.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import func, select, text

from oms_bridge.remote import telemetry as _api_metrics  # noqa: F401 - registers the API call counters
from oms_bridge.settings import get_settings
from oms_bridge.store import telemetry as _work_metrics  # noqa: F401 - registers this process's counters
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
from oms_bridge.store.models import DELIVERY_STATES, DESTINATIONS, Channel, Delivery, ProcessRun
from oms_bridge.store.runs import lost_clause
from oms_bridge.web.ops_access import access_guard

__all__ = ["router", "scheduler_state", "scheduler_health", "StoreCollector"]

router = APIRouter(tags=["ops"])


def scheduler_health(request: Request) -> Any:
    """This instance's :class:`scheduler.builder.SchedulerHealth`, or None when it runs no scheduler."""
    scheduler = getattr(request.app.state, "scheduler", None)
    return None if scheduler is None else scheduler.health()


def scheduler_state(request: Request) -> str:
    """``running``, ``disabled`` (this instance runs no scheduler), or why not (see module doc)."""
    health = scheduler_health(request)
    return "disabled" if health is None else health.state


@router.get("/", include_in_schema=False)
def root() -> RedirectResponse:
    """A person opening the bare address lands on the admin pages."""
    return RedirectResponse("/admin/", status_code=307)


@router.get("/healthz")
def healthz(request: Request) -> JSONResponse:
    try:
        with session_scope(get_settings(), readonly=True) as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means "not ready", reported by name
        database = f"error: {describe_error(exc)}"
    body: dict[str, Any] = {"database": database}
    try:
        health = scheduler_health(request)
    except Exception as exc:  # noqa: BLE001 - e.g. the job table unreadable: the database line says why
        health = None
        body["scheduler"], body["reason"] = "unknown", f"cannot read the scheduler state: {type(exc).__name__}"
    if health is not None:
        body["scheduler"] = health.state
        if health.reason:
            body["reason"] = health.reason
    body.setdefault("scheduler", "disabled" if getattr(request.app.state, "scheduler", None) is None else "unknown")
    problems = getattr(getattr(request.app.state, "scheduler", None), "sync_problems", None)
    if problems:
        body["jobs_not_scheduled"] = dict(problems)
    scheduler_ok = health.ok if health is not None else body["scheduler"] == "disabled"
    workers = getattr(request.app.state, "worker_processes", None)  # `run --processes N`: this one's workers
    if workers is not None:
        body["processes"] = workers.summary()
        problem = workers.problem()
        if problem:
            scheduler_ok = False
            body["reason"] = f"{body['reason']}; {problem}" if body.get("reason") else problem
    healthy = database == "ok" and scheduler_ok
    status = "ok" if healthy else ("unhealthy" if database != "ok" else "degraded")
    return JSONResponse({"status": status, **body}, status_code=200 if healthy else 503)


class StoreCollector(Collector):
    """Gauges read from the store at scrape time."""

    def __init__(self, scheduler_running: bool | None, last_round: datetime | None = None):
        self.scheduler_running = scheduler_running
        self.last_round = last_round

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
        lost = GaugeMetricFamily("oms_bridge_process_runs_lost",
                                 "Runs recorded running whose heartbeat stopped (the run died), per process",
                                 labels=["process"])
        oldest = GaugeMetricFamily("oms_bridge_delivery_oldest_pending_age_seconds",
                                   "Age of the oldest row still to be delivered (pending or retry), per destination",
                                   labels=["destination"])
        settings = get_settings()
        with session_scope(settings, readonly=True) as session:
            for process, n in session.execute(select(ProcessRun.process, func.count())
                                              .where(lost_clause(settings, now)).group_by(ProcessRun.process)):
                lost.add_metric([process], float(n))
            armed = dict(session.execute(
                select(Delivery.destination, func.min(func.coalesce(Delivery.armed_at, Delivery.created)))
                .where(Delivery.state.in_(("pending", "retry"))).group_by(Delivery.destination)).all())
            for dest in DESTINATIONS:
                since = armed.get(dest)
                oldest.add_metric([dest], max(0.0, now.timestamp() - _epoch(since)) if since is not None else 0.0)
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
        yield from (last_ok, lag, auth, deliveries, lost, oldest)
        if self.scheduler_running is not None:
            yield GaugeMetricFamily("oms_bridge_scheduler_running",
                                    "1 when this instance's scheduler runs and is healthy",
                                    value=1.0 if self.scheduler_running else 0.0)
        if self.last_round is not None:
            yield GaugeMetricFamily("oms_bridge_scheduler_last_round_timestamp_seconds",
                                    "When this instance's scheduler loop last completed a round",
                                    value=_epoch(self.last_round))


def _epoch(value: datetime) -> float:
    if value.tzinfo is None:  # SQLite hands back what UtcDateTime stored; keep it aware UTC
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


@router.get("/metrics", dependencies=[Depends(access_guard("metrics"))])
def metrics(request: Request) -> Response:
    health = scheduler_health(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StoreCollector(None if health is None else health.state in ("running", "paused"),
                                     None if health is None else health.last_round_at))
    # this process's counters/histograms first, then the store's gauges (names never overlap)
    return Response(generate_latest(REGISTRY) + generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
