"""The OMS delivery run: due ``oms`` outbox rows → whisperer-style order events (``order_notify = "push"``).

How the OMS learns of Seller Center orders is not public (seed 000 turns off Omnitron's
``order.created`` / ``order.updated`` webhooks and lists an ``orders`` endpoint the OMS reads). So
``[oms_bridge.oms] order_notify`` chooses: ``pull`` (default; :mod:`oms_bridge.oms.orders`) or
``push``, where this run sends each order version as the event Omnitron would have sent:

- ``POST <push_url><push_path_created|push_path_updated>`` with the body
  ``{"event": {"type": "order.created"|"order.updated", "uuid"}, "payload": <order as orders/<pk>/
  serves it>}``, serialized and signed as dj-whisperer does (``X-Whisperer-Event``,
  ``X-Whisperer-Signature: sha256=<hex HMAC-SHA256(push secret, body)>`` when a secret is set,
  ``Authorization: Token <OMS token>`` when one is set, plus ``push_headers``);
- only a 2xx counts as delivered (whisperer's rule, tasks.py): the row is ``sent``, the event
  acknowledged. A package webhook for the order acknowledges it too (:mod:`oms_bridge.oms.events`);
- **a resend repeats the same event**: the version's uuid and exact body are stored
  (``oms_order_event``) before the first attempt and reused for every retry. Why resending after a
  lost answer is safe although the push changes state on the OMS: the receiver deduplicates by
  event uuid. That is the contract of every whisperer receiver, because whisperer itself resends
  the *stored* payload with the *same* uuid after any non-2xx, timeouts and dropped connections
  included; the OMS receives Omnitron's own ``order.created`` this way. There is no OMS read call
  to ask "did you get it", so the uuid is what makes the repeat harmless. A new order version is a
  new event (``order.updated``, new uuid);
- outcomes go through the ONE outbox (:mod:`oms_bridge.store.outbox`): leases as for the ERP and
  the logistics push (no HTTP call inside a store transaction); network errors, 5xx, lost answers
  and 429 → ``retry`` with backoff (``dead`` after ``delivery_max_attempts``); 401/403 → ``held``
  ``oms_push_auth`` (``oms push-auth`` re-arms); other 4xx → ``held`` ``oms_push_rejected:<status>``;
  no ``push_url`` → ``held`` ``oms_push_config`` (re-armed by the first run that finds it set);
- ``oms.product_reference = "hold"``: an order with a SKU lacking an Omnitron product id is held
  ``omnitron_product:<SKU>`` instead of pushed (:mod:`oms_bridge.oms.products`).

In pull mode the run only applies ``product_reference = "hold"`` to orders the OMS has not read yet,
so the admin sees them held with the reason before the OMS would have read them.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests
from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.model.errors import OutcomeUnknown, PermanentError, RateLimited, TransientError
from oms_bridge.oms import auth
from oms_bridge.oms.config import PUSH_SECRET_NAME, PUSH_TOKEN_NAME, SIGNATURE_HEADER, OmsConfig, oms_config
from oms_bridge.oms.events import envelope_body, events_for
from oms_bridge.oms.orders import order_payloads
from oms_bridge.oms.products import hold_missing
from oms_bridge.remote.http import HttpClient, RetryPolicy, parse_retry_after
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, Order, utcnow
from oms_bridge.store.models.oms import OmsApiToken
from oms_bridge.store.models.oms_notify import PRODUCT_HOLD_PREFIX, OmsOrderEvent
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import Vault

__all__ = ["run_oms_delivery", "PROCESS", "DESTINATION", "CONFIG_HOLD", "AUTH_HOLD", "REJECTED_HOLD"]

log = logging.getLogger(__name__)
PROCESS = "oms_delivery"
DESTINATION = "oms"
CONFIG_HOLD = "oms_push_config"
AUTH_HOLD = "oms_push_auth"
REJECTED_HOLD = "oms_push_rejected:"
MAX_BATCHES_PER_RUN = 1000


@dataclass(frozen=True)
class _Credentials:
    token: str | None
    secret: str | None


@dataclass
class _Work:
    """One leased row between the phases: the event to send (phase 1) and what happened (phase 2)."""

    lease: outbox.Lease
    number: str
    event_id: int
    event_type: str
    event_uuid: str
    body: str
    path: str
    outcome: str = ""  # sent | retry | held | skipped
    message: str = ""
    code: str | None = None
    status: int | None = None
    retry_after: float | None = None
    offered: bool = False  # the OMS may have received it (any answer, or a lost one)
    attempted: bool = False


def run_oms_delivery(*, settings: Settings | None = None, now: datetime | None = None,
                     session: requests.Session | None = None) -> RunStats:
    """One OMS delivery run (see module doc); returns its counts (also in ``oms_process_run``)."""
    settings = settings or get_settings()
    config = oms_config(settings)
    with record_run(PROCESS, settings=settings) as stats:
        stats.details["order_notify"] = config.order_notify
        with session_scope(settings, immediate=True) as db:
            stats.details.update(_before(db, config))
        if config.order_notify == "push":
            _push(settings, config, stats, now=now, session=session)
        if stats.failed and not stats.sent:
            stats.outcome = "failed" if not stats.held else "partial"
        elif stats.failed or stats.held:
            stats.outcome = "partial"
    return stats


def _before(session: Session, config: OmsConfig) -> dict[str, int]:
    """Re-arm what a settings change cured; in pull mode, hold unread orders per ``product_reference``."""
    counts: dict[str, int] = {}
    if config.product_reference != "hold":
        counts["rearmed_product"] = outbox.rearm_held(session, DESTINATION, code_prefix=PRODUCT_HOLD_PREFIX)
    if config.order_notify == "push" and config.push_url:
        counts["rearmed_config"] = outbox.rearm_held(session, DESTINATION, code=CONFIG_HOLD)
    if config.order_notify == "pull" and config.product_reference == "hold":
        rows = list(session.scalars(select(Delivery).where(Delivery.destination == DESTINATION,
                                                           Delivery.state == "pending")))
        counts.update({f"product_{k}": v for k, v in hold_missing(session, rows, config).items()})
    return counts


def _credentials(settings: Settings) -> _Credentials:
    """The push token and signing secret (decrypted only when stored: no key is needed without them)."""
    with session_scope(settings) as session:
        stored = session.scalars(select(OmsApiToken.endpoint).where(
            OmsApiToken.endpoint.in_((PUSH_TOKEN_NAME, PUSH_SECRET_NAME)), OmsApiToken.secret_enc.is_not(None))).all()
        if not stored:
            return _Credentials(None, None)
        vault = Vault.from_settings(settings)
        return _Credentials(auth.read_secret(session, vault, PUSH_TOKEN_NAME),
                            auth.read_secret(session, vault, PUSH_SECRET_NAME))


def _lease_seconds(config: OmsConfig) -> float:
    """Long enough for one batch of calls, each with its retries, plus a minute."""
    return config.push_batch_size * (config.push_timeout_seconds * 2 + 5) + 60


def _push(settings: Settings, config: OmsConfig, stats: RunStats, *, now: datetime | None,
          session: requests.Session | None) -> None:
    creds = _credentials(settings)
    client = HttpClient(config.push_url or "http://127.0.0.1:9", platform="oms", classify=_classify, session=session,
                        policy=RetryPolicy(max_attempts=2, backoff_initial=0.2, backoff_max=2.0, retry_after_cap=5.0,
                                           connect_timeout=min(5.0, config.push_timeout_seconds),
                                           read_timeout=config.push_timeout_seconds))
    seen: set[int] = set()
    warned: set[str | None] = set()
    for _ in range(MAX_BATCHES_PER_RUN):
        with session_scope(settings, immediate=True) as db:
            leases = outbox.lease_due(db, DESTINATION, lease_seconds=_lease_seconds(config), now=now,
                                      limit=config.push_batch_size, exclude=seen)
            if not leases:
                break
            seen.update(lease.delivery_id for lease in leases)
            stats.fetched += len(leases)
            work = _prepare(db, leases, config, stats, warned)
        for w in work:  # no store transaction is open here
            if w.lease.expired():
                w.outcome = "skipped"  # another worker may own the row now; it falls due when the lease ends
                continue
            _send(client, w, creds, config)
        stats.api_calls = client.calls
        with session_scope(settings, immediate=True) as db:
            _record(db, work, stats, settings, now=now)


def _prepare(session: Session, leases: list[outbox.Lease], config: OmsConfig, stats: RunStats,
             warned: set[str | None]) -> list[_Work]:
    """Decide what needs no call (held), and give every other row its event (uuid + exact body, kept)."""
    rows = {lease.delivery_id: lease.row for lease in leases}
    orders = {o.id: o for o in session.scalars(select(Order).where(
        Order.id.in_([r.oms_order_id for r in rows.values()])))}
    ready: list[outbox.Lease] = []
    for lease in leases:
        row, order = lease.row, orders[lease.row.oms_order_id]
        if order.is_held:  # unreadable at intake: not a held delivery; it waits for the re-read that maps it
            outbox.mark_waiting(row, f"order {order.external_id} could not be read at intake: {order.held_reason}",
                                code="order_held")
        elif not config.push_url:
            _held(stats, row, "oms.order_notify is \"push\" but [oms_bridge.oms] push_url is not set (the OMS base "
                  "URL); set it and the next run re-arms this order", CONFIG_HOLD)
        else:
            ready.append(lease)
    if config.product_reference != "off" and ready:
        hold_missing(session, [lease.row for lease in ready], config, warned=warned)
        for lease in ready:
            if lease.row.state == "held":
                _held(stats, lease.row, lease.row.last_error or "", lease.row.hold_code or PRODUCT_HOLD_PREFIX)
        ready = [lease for lease in ready if lease.row.state != "held"]
    by_order = events_for(session, [orders[lease.row.oms_order_id] for lease in ready], "push",
                          versions={lease.row.oms_order_id: lease.order_version for lease in ready})
    events = {lease.delivery_id: by_order[lease.row.oms_order_id] for lease in ready}
    need_body = [lease for lease in ready if events[lease.delivery_id].body is None]
    if need_body:
        payloads = order_payloads(session, [orders[lease.row.oms_order_id] for lease in need_body], config)
        for lease, payload in zip(need_body, payloads, strict=True):
            event = events[lease.delivery_id]
            event.body = envelope_body(event.event_type, event.event_uuid, payload)
    session.flush()
    work = []
    for lease in ready:
        event = events[lease.delivery_id]
        path = config.push_path_created if event.event_type == "order.created" else config.push_path_updated
        work.append(_Work(lease, orders[lease.row.oms_order_id].external_id, event.id, event.event_type,
                          event.event_uuid, event.body or "", path))
    return work


def _classify(response: requests.Response) -> int:
    """2xx → the status; 429 → RateLimited; 408/5xx → TransientError; other 4xx → PermanentError."""
    status = response.status_code
    if 200 <= status < 300:
        return status
    if status == 429:
        raise RateLimited("the OMS asked to slow down (HTTP 429)", status=429,
                          retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500 or status == 408:
        raise TransientError(f"the OMS answered HTTP {status}", status=status)
    raise PermanentError(f"the OMS refused the event: HTTP {status}{_summary(response)}", status=status)


def _summary(response: requests.Response) -> str:
    """What the OMS said, without quoting values: a ``detail`` text or the names of the refused fields."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        if isinstance(body.get("detail"), str):
            return f" ({body['detail'][:160]})"
        return f" (fields: {', '.join(sorted(str(k) for k in body)[:10])})" if body else ""
    return ""


def _headers(w: _Work, creds: _Credentials, config: OmsConfig, body: bytes) -> dict[str, str]:
    headers = {"Content-Type": "application/json", "X-Whisperer-Event": w.event_type, **config.push_headers}
    if creds.secret:
        headers[SIGNATURE_HEADER] = auth.sign(creds.secret, body)
    if creds.token:
        headers["Authorization"] = f"Token {creds.token}"
    return headers


def _send(client: HttpClient, w: _Work, creds: _Credentials, config: OmsConfig) -> None:
    """POST one event; the outcome goes onto ``w`` (recorded by :func:`_record`)."""
    body = w.body.encode("utf-8")
    w.attempted = True
    try:
        w.status = client.request("POST", w.path, data=body, headers=_headers(w, creds, config, body),
                                  idempotent=False)
    except RateLimited as exc:
        w.outcome, w.message, w.retry_after, w.status, w.offered = "retry", str(exc), exc.retry_after, 429, True
    except OutcomeUnknown as exc:
        w.outcome, w.status, w.offered = "retry", exc.status, True
        w.message = (f"{exc.message}; the same event ({w.event_type} {w.event_uuid}) is sent again, which the OMS "
                     "deduplicates by uuid")
    except TransientError as exc:  # never reached the OMS (connection refused)
        w.outcome, w.message, w.offered = "retry", str(exc), bool(getattr(exc, "request_sent", False))
    except PermanentError as exc:
        w.offered, w.status = True, exc.status
        if exc.status in (401, 403):
            w.outcome, w.code = "held", AUTH_HOLD
            w.message = (f"the OMS refused the push credentials (HTTP {exc.status}): set its API token with "
                         "`oms-bridge oms push-auth --token-stdin` (this re-arms the order)")
        else:
            w.outcome, w.code = "held", f"{REJECTED_HOLD}{exc.status}"
            w.message = (f"order {w.number}: {exc.message} at {config.push_url.rstrip('/')}/{w.path.lstrip('/')} "
                         f"(check push_path_created / push_path_updated); after fixing, `oms-bridge oms retry-orders`")
    else:
        w.outcome, w.offered = "sent", True


def _record(session: Session, work: list[_Work], stats: RunStats, settings: Settings, *,
            now: datetime | None) -> None:
    """Write each outcome while the lease holds (rows first, then events: see events.acknowledge)."""
    at = now or utcnow()
    superseded = 0
    for w in work:
        if w.outcome == "skipped":
            continue
        fresh = outbox.leased_row(session, w.lease)
        event = session.get(OmsOrderEvent, w.event_id)
        if event is not None and w.attempted:
            event.attempts += 1
            event.last_attempt_at, event.last_status = at, w.status
            if w.offered and event.offered_at is None:
                event.offered_at = at
            if w.outcome == "sent" and event.acknowledged_at is None:
                event.acknowledged_at, event.acknowledged_by = at, f"HTTP {w.status}"
        if fresh is None:
            superseded += 1  # re-armed for a newer version (or acknowledged by a webhook) meanwhile
            continue
        if w.attempted:  # the body (the buyer's address) stays in the event row; the page shows what and why
            outbox.record_exchange(fresh, f"POST {w.path} ({w.event_type} event {w.event_uuid})",
                                   (f"HTTP {w.status}" if w.status else "no answer") + (f": {w.message}" if w.message
                                                                                          else ""))
        if w.outcome == "sent":
            outbox.mark_sent(fresh, now=at, external_ref=f"{w.event_type} {w.event_uuid}: HTTP {w.status}")
            stats.sent += 1
        elif w.outcome == "held":
            _held(stats, fresh, w.message, w.code or REJECTED_HOLD)
        else:
            outbox.mark_retry(fresh, w.message, max_attempts=settings.delivery_max_attempts, now=at,
                              retry_after=w.retry_after,
                              failure=f"the OMS answered HTTP {w.status}" if w.status else "the OMS did not answer")
            stats.failed += 1
            log.warning("OMS push of order %s will be retried: %s", w.number, w.message)
    if superseded:
        stats.details["superseded"] = stats.details.get("superseded", 0) + superseded


def _held(stats: RunStats, row: Delivery, reason: str, code: str) -> None:
    outbox.mark_held(row, reason, code=code)
    stats.held += 1
    kind = row.cause_code or "unknown"
    held: dict[str, Any] = stats.details.setdefault("held_by_cause", {})
    held[kind] = held.get(kind, 0) + 1
    log.warning("OMS delivery held (order row %s): %s", row.oms_order_id, reason)

