"""Per-process Prometheus counters and histograms of the work itself: orders fetched, delivery outcomes,
run durations.

Each is incremented where the work happens, in the process that does it (see :mod:`oms_bridge.remote.telemetry`
for why per-process counters, and ``docs/running.md`` for how to scrape several instances):

- ``oms_bridge_orders_fetched_total{channel}``: orders read from a marketplace by GetOrder and backfill,
  counted as each batch is committed (:func:`channels.pulling.store_orders`);
- ``oms_bridge_deliveries_total{destination,state}``: delivery outcomes recorded on the outbox
  (:mod:`oms_bridge.store.outbox`: ``sent``, ``held``, ``waiting``, ``retry``, ``dead``);
- ``oms_bridge_run_duration_seconds{process}``: how long each process run took
  (:func:`oms_bridge.store.runs.record_run`).

Gauges that every instance reads alike from the store (backlogs, lag, the oldest undelivered row) are not
here: ``/metrics`` computes them at scrape time (:mod:`oms_bridge.web.ops`).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["ORDERS_FETCHED", "DELIVERIES", "RUN_DURATION", "OUTCOME_STATES", "count_delivery", "count_fetched",
           "observe_run"]

#: the delivery outcomes counted (the outbox states a worker records)
OUTCOME_STATES = ("sent", "held", "waiting", "retry", "dead")

ORDERS_FETCHED = Counter("oms_bridge_orders_fetched", "Orders read from a marketplace, per channel", ["channel"])
DELIVERIES = Counter("oms_bridge_deliveries", "Delivery outcomes recorded, per destination and state",
                     ["destination", "state"])
RUN_DURATION = Histogram("oms_bridge_run_duration_seconds", "Duration of process runs, per process", ["process"],
                         buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 3600))

for _destination in ("erp", "oms", "logistics"):  # every series exists from the start (a graph shows 0, not gaps)
    for _state in OUTCOME_STATES:
        DELIVERIES.labels(_destination, _state)


def count_fetched(channel: str, n: int) -> None:
    """``n`` orders of ``channel`` were read and committed."""
    if n > 0:
        ORDERS_FETCHED.labels(channel).inc(n)


def count_delivery(destination: str, state: str, n: int = 1) -> None:
    """``n`` delivery outcomes were recorded."""
    if n:
        DELIVERIES.labels(destination, state).inc(n)


def observe_run(process: str, seconds: float) -> None:
    """A process run ended after ``seconds``."""
    RUN_DURATION.labels(process).observe(max(0.0, seconds))
