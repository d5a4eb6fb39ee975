"""Logistics push-back: due ``logistics`` outbox rows → the marketplace learns the tracking number.

The OMS reports a shipped package by webhook; :mod:`oms_bridge.oms.webhooks` queues its tracking
number and cargo company in ``oms_package_push`` and arms the order's ``logistics`` row
(``action="ship"``). One run (:func:`run_logistics_delivery`) takes the due rows, and for every
pending push of the order:

1. maps the OMS cargo company through ``oms_carrier`` (per platform type; the seed's cargo-company
   step). An unmapped carrier holds the row with code ``carrier:<platform>:<carrier>``, which
   ``oms-bridge oms carriers set`` re-arms. A package without a cargo company ships with the
   platform's default (``Shipment.carrier=None``);
2. calls the channel's adapter ``ship(order, Shipment(...))`` (Shopee ship_order, Cyberbiz
   custom_shipping, momo unsendCompanyConfirm, Shopline shipment — the adapter's business) and
   marks the push ``sent`` with what the marketplace reported back.

Outcomes per row, like the ERP destination: all pushes done → ``sent``; an error the admin must
fix (cancelled order, unknown carrier, order not ready to ship, rejected credentials,
re-authorization required) → ``held`` with the sentence to read; network/5xx/rate limit →
``retry`` with backoff (``dead`` after ``Settings.delivery_max_attempts``). An access token
rejected mid-run is refreshed once, single-flight, after the batch commits, and the row is
tried again in the same run. ``oms-bridge oms retry-shipments`` re-arms held/dead rows.

Claim, calls and recording happen in one store transaction per batch (SQLite: BEGIN IMMEDIATE;
PostgreSQL: FOR UPDATE SKIP LOCKED), so two workers never push the same package.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from channels.binding import BindingError, adapter_for, channel_label, load_channel
from channels.tokens import refresh_channel_tokens
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Delivery, Order, OrderLine, utcnow
from oms_bridge.store.models.oms import OmsCarrier, OmsPackagePush, carrier_hold_code
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import Vault, VaultError
from platforms.base import (
    CANONICAL_STATUSES,
    Adapter,
    Address,
    AuthExpired,
    Buyer,
    PermanentError,
    RateLimited,
    ReauthRequired,
    Shipment,
    TransientError,
)
from platforms.base import Order as CanonicalOrder
from platforms.base import OrderLine as CanonicalLine

__all__ = ["run_logistics_delivery", "canonical_order", "PROCESS", "DESTINATION"]

log = logging.getLogger(__name__)
PROCESS = "logistics_delivery"
DESTINATION = "logistics"
BATCH_SIZE = 10
MAX_BATCHES_PER_RUN = 1000


def canonical_order(order: Order, lines: list[OrderLine], channel_value: str) -> CanonicalOrder:
    """The stored order as the contract's canonical Order (what ``Adapter.ship`` takes). Pure."""
    try:
        raw = json.loads(order.raw_payload) if order.raw_payload else {}
    except ValueError:
        raw = {}
    created = order.order_created or order.created
    return CanonicalOrder(
        external_id=order.external_id,
        status=order.status if order.status in CANONICAL_STATUSES else "paid",
        platform_status=order.platform_status or "", created_at=created, updated_at=order.order_updated or created,
        currency=order.currency or "", total=order.total_amount, paid_at=order.paid_at,
        lines=tuple(CanonicalLine(sku=ln.sku, name=ln.name, qty=ln.qty, unit_price=ln.unit_price,
                                  discount=ln.discount if ln.discount is not None else Decimal(0),
                                  external_line_id=ln.external_line_id)
                    for ln in lines),
        payment_method=order.payment_method,
        buyer=Buyer(id=order.buyer_id, name=order.buyer_name, email=order.buyer_email, phone=order.buyer_phone),
        shipping_address=Address(name=order.ship_name, phone=order.ship_phone, country=order.ship_country,
                                 state=order.ship_state, city=order.ship_city, district=order.ship_district,
                                 zip=order.ship_zip, line1=order.ship_address1, line2=order.ship_address2),
        raw=raw if isinstance(raw, dict) else {}, channel=channel_value,
    )


@dataclass
class _Run:
    settings: Settings
    stats: RunStats
    now: datetime | None
    policy: Any
    clock: Callable[[], datetime] | None
    vault: Vault | None = None
    adapters: dict[int, Adapter] = field(default_factory=dict)
    # channel id -> token version whose access token was rejected (refresh after the batch)
    expired: dict[int, int] = field(default_factory=dict)
    refreshed: set[int] = field(default_factory=set)


def run_logistics_delivery(*, settings: Settings | None = None, now: datetime | None = None, policy: Any = None,
                           clock: Callable[[], datetime] | None = None, batch_size: int = BATCH_SIZE) -> RunStats:
    """Push every due shipment to its marketplace (see module doc); counts also in ``oms_process_run``."""
    settings = settings or get_settings()
    with record_run(PROCESS, settings=settings) as stats:
        run = _Run(settings, stats, now, policy, clock)
        seen: set[int] = set()
        for _ in range(MAX_BATCHES_PER_RUN):
            with session_scope(settings, immediate=True) as session:
                rows = [r for r in outbox.claim_due(session, DESTINATION, now=now, limit=batch_size)
                        if r.id not in seen]
                if not rows:
                    break
                seen.update(r.id for r in rows)
                stats.fetched += len(rows)
                retry_after_refresh = [r.id for r in rows if _deliver(session, r, run)]
            for channel_id, version in list(run.expired.items()):
                _refresh(run, channel_id, version)
            run.expired.clear()
            seen.difference_update(retry_after_refresh)  # one more try with the refreshed token
        stats.api_calls += sum(a.api_calls for a in run.adapters.values())
        if stats.failed and not stats.sent:
            stats.outcome = "failed" if not stats.held else "partial"
        elif stats.failed or stats.held:
            stats.outcome = "partial"
    return stats


def _refresh(run: _Run, channel_id: int, version: int) -> None:
    result = refresh_channel_tokens(channel_id, settings=run.settings, clock=run.clock, force=True,
                                    policy=run.policy, if_version=version)
    run.refreshed.add(channel_id)
    stale = run.adapters.pop(channel_id, None)
    if stale is not None:
        run.stats.api_calls += stale.api_calls
    log.info("logistics: refreshed tokens of channel %s: %s", channel_id, result.message)


def _held(run: _Run, row: Delivery, reason: str, code: str) -> None:
    outbox.mark_held(row, reason, code=code)
    run.stats.held += 1
    log.warning("logistics: order %s held: %s", row.oms_order_id, reason)


def _retry(run: _Run, row: Delivery, error: str, retry_after: float | None = None) -> None:
    outbox.mark_retry(row, error, max_attempts=run.settings.delivery_max_attempts, now=run.now,
                      retry_after=retry_after)
    run.stats.failed += 1


def _adapter(session: Session, run: _Run, channel_id: int) -> Adapter:
    if channel_id not in run.adapters:
        if run.vault is None:
            run.vault = Vault.from_settings(run.settings)
        channel = load_channel(session, channel_id)
        run.adapters[channel_id] = adapter_for(channel, run.vault, policy=run.policy, clock=run.clock,
                                               session=session)
    return run.adapters[channel_id]


def _deliver(session: Session, row: Delivery, run: _Run) -> bool:
    """Work one row; True when it waits for a token refresh and should be tried again this run."""
    order = session.get(Order, row.oms_order_id)
    channel = load_channel(session, order.oms_channel_id)
    label = channel_label(channel)
    platform_type = channel.platform.platform_type
    pushes = session.scalars(select(OmsPackagePush).where(OmsPackagePush.oms_order_id == order.id,
                                                          OmsPackagePush.state == "pending")
                             .order_by(OmsPackagePush.id)).all()
    if not pushes:
        outbox.mark_sent(row, now=run.now, external_ref=row.external_ref)
        run.stats.sent += 1
        return False
    if order.status in ("cancelled", "returned"):
        _held(run, row, f"order {order.external_id} is {order.status} on {platform_type}; its shipment was not "
                        "reported to the marketplace", "order_cancelled")
        return False
    lines = list(session.scalars(select(OrderLine).where(OrderLine.oms_order_id == order.id)
                                 .order_by(OrderLine.line_no)))
    canonical = canonical_order(order, lines, label)
    try:
        adapter = _adapter(session, run, channel.id)
    except (BindingError, VaultError) as exc:
        _held(run, row, f"channel {label}: {exc}", f"binding:{label}")
        return False
    done: list[str] = []
    for push in pushes:
        carrier = None
        if push.carrier:
            mapped = session.scalars(select(OmsCarrier).where(OmsCarrier.platform_type == platform_type,
                                                              OmsCarrier.oms_carrier == push.carrier)).one_or_none()
            if mapped is None or not mapped.isactive:
                _held(run, row, f"the OMS cargo company {push.carrier!r} has no {platform_type} carrier: run "
                                f"`oms-bridge oms carriers set {platform_type} '{push.carrier}' <carrier code>`",
                      carrier_hold_code(platform_type, push.carrier))
                return False
            carrier = mapped.platform_carrier
        shipment = Shipment(tracking_number=push.tracking_number or "", carrier=carrier,
                            shipped_at=run.now or utcnow())
        try:
            result = adapter.ship(canonical, shipment)
        except AuthExpired as exc:
            if channel.id in run.refreshed:
                _held(run, row, f"{label}: the marketplace rejects the refreshed access token ({exc}); "
                                "re-authorize the channel", f"reauth:{label}")
                return False
            run.expired[channel.id] = channel.token_version
            # Not a failure yet: the row waits for the refresh after this batch and is tried again.
            outbox.mark_retry(row, f"access token expired ({exc}); refreshing", now=run.now, retry_after=0,
                              max_attempts=run.settings.delivery_max_attempts)
            run.stats.details["token_refreshes"] = run.stats.details.get("token_refreshes", 0) + 1
            return True
        except ReauthRequired as exc:
            _held(run, row, f"{label}: {exc}; re-authorize the channel (oms-bridge channel authorize {label})",
                  f"reauth:{label}")
            return False
        except RateLimited as exc:
            _retry(run, row, str(exc), retry_after=exc.retry_after)
            return False
        except TransientError as exc:
            _retry(run, row, str(exc))
            return False
        except PermanentError as exc:
            _held(run, row, f"{platform_type} refused the shipment of order {order.external_id}: {exc}",
                  f"ship_rejected:{order.id}")
            return False
        push.state, push.pushed_at = "sent", run.now or utcnow()
        push.platform_tracking = result.tracking_number
        done.append(result.tracking_number or push.tracking_number or "")
    outbox.mark_sent(row, now=run.now, external_ref=",".join(t for t in done if t)[:255] or None)
    run.stats.sent += 1
    return False
