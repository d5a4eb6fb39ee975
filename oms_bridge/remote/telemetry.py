"""Per-process Prometheus metrics of outside API calls: how many, with what outcome, how fast.

Why per process: a counter is incremented where the call happens (:class:`oms_bridge.remote.http.HttpClient`,
the ERP's SOAP client), in the process that makes it, and exposed by that process's ``/metrics``.
Prometheus scrapes every instance and ``rate()``/``increase()`` absorb restarts (a counter that starts
again at 0 is a reset, not a drop), which is what Prometheus expects of a counter per scraped instance;
summing over instances in a query gives the whole installation.

Metrics (on prometheus_client's default registry):

- ``oms_bridge_api_calls_total{platform,outcome}``: requests sent (every attempt, retries included);
  ``outcome`` is :data:`OUTCOMES`;
- ``oms_bridge_api_latency_seconds{platform}``: round-trip time of each request (until the answer's
  headers arrived, or the failure).

A leaf module (prometheus_client only), so the store, channels and the ERP client may all import it.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

__all__ = ["API_CALLS", "API_LATENCY", "OUTCOMES", "observe_call"]

#: ok: an answer the caller accepted; rate_limited: 429 / quota; auth: the credentials or token were refused;
#: timeout; unreachable: no connection; transient: 5xx, malformed body, SOAP fault; rejected: any other
#: refusal (4xx, an error envelope the caller will not retry).
OUTCOMES = ("ok", "rate_limited", "auth", "timeout", "unreachable", "transient", "rejected")

API_CALLS = Counter("oms_bridge_api_calls", "Outside API requests sent, per platform and outcome",
                    ["platform", "outcome"])
API_LATENCY = Histogram("oms_bridge_api_latency_seconds", "Round-trip time of outside API requests",
                        ["platform"], buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60))


def observe_call(platform: str, outcome: str, seconds: float) -> None:
    """Count one request and its latency (``outcome`` outside :data:`OUTCOMES` counts as ``rejected``)."""
    API_CALLS.labels(platform, outcome if outcome in OUTCOMES else "rejected").inc()
    API_LATENCY.labels(platform).observe(max(0.0, seconds))
