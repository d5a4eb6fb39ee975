"""Running a reconciliation: gather the four sides, compare, store the result.

:func:`reconcile_channel` reconciles one channel over a range of Asia/Taipei days:

1. **marketplace**: the adapter's list-only pass (:meth:`platforms.base.Adapter.list_orders`, no detail
   calls) over ``[first day 00:00, now)``: an order created on a day of the range may have changed
   since, so the listing runs until now and orders are counted on the day they were created. The
   adapter is bound (and an OAuth token refreshed first when due) by :class:`channels.pulling.ChannelPuller`,
   exactly as GetOrder does; a platform without ``list_orders`` is compared on the other sides only.
   A listing that shows no time (Shopee's ``get_order_list`` gives order numbers only) is completed from
   the store (the creation time GetOrder read); an order the store lacks is placed by listing the range
   again in windows cut at each Taipei midnight and at the lag cutoff (:func:`_locate`): the day of its
   last change, and whether that change is inside the expected lag. That costs one more list pass, spent
   only when such an order is missing;
2. **store**: the channel's orders created in the range with their delivery rows (one query each);
3. **ERP**: the stored orders looked up by their per-channel POReference (:func:`oms_bridge.erp.mapping.reference_of`)
   and by the C_Order_ID the delivery recorded, one ``queryData`` per ``reconcile_erp_batch_size`` keys
   (:func:`oms_bridge.erp.lookup.erp_orders`, the delivery's own pre-check);
4. **OMS**: what the OMS took, from the ``oms`` delivery rows (sent = read by the OMS for its version).

Only destinations of ``monitored_destinations`` that are connected are compared
(:func:`oms_bridge.store.destinations.destinations_in_use`); the report notes the others.

The result is an ``oms_reconciliation`` row (counts plus the report) and a ``reconcile`` process run.
API cost (docs/reconcile.md, ``benchmarks/bench_reconcile.py``): the marketplace's list calls for the
orders changed since the first day (plus one list pass when a time-less listing must place a missing
order), plus ceil(stored / batch) SOAP calls.

:func:`run_daily` is the scheduler's daily job: every active, authorized channel over the last
``reconcile_days`` days and today so far.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, replace
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from channels.backfill import taipei_day_start
from channels.binding import load_channel
from channels.pulling import ChannelPuller
from oms_bridge.erp.client import ErpClient, ErpError
from oms_bridge.erp.config import ChannelMapping, ErpConfigError, ErpOptions
from oms_bridge.erp.delivery import client_for, resolve_connection
from oms_bridge.erp.lookup import erp_orders
from oms_bridge.erp.mapping import reference_of
from oms_bridge.reconcile.compare import DeliveryState, Inputs, Report, StoredOrder, compare, day_of
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.destinations import destinations_in_use
from oms_bridge.store.models import Channel, Delivery, Order, Reconciliation, utcnow
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import VaultError
from platforms.base import NotSupported, OrderRef, PlatformError

__all__ = ["PROCESS", "ReconcileError", "Outcome", "reconcile_channel", "run_daily", "REPORT_LIMIT"]

log = logging.getLogger("oms_bridge.reconcile")
#: order number -> the listing window ``[from, to)`` that showed an order whose listing gives no time
Located = dict[str, tuple[datetime, datetime]]
PROCESS = "reconcile"
#: differences kept in the stored report (the counts always cover all of them)
REPORT_LIMIT = 1000


class ReconcileError(Exception):
    """The reconciliation could not be done; the message says why and what to do."""


@dataclass
class Outcome:
    """One reconciliation: the stored row's id, the report (None when it failed) and the error."""

    id: int | None
    report: Report | None
    error: str | None = None

    @property
    def outcome(self) -> str:
        return "failed" if self.report is None else self.report.outcome


def _stored(session: Session, channel_id: int, start: datetime, end: datetime) -> list[StoredOrder]:
    """Orders of the channel created in [start, end) (or, without a creation time, updated then)."""
    orders = session.scalars(select(Order).where(
        Order.oms_channel_id == channel_id,
        ((Order.order_created >= start) & (Order.order_created < end))
        | (Order.order_created.is_(None) & (Order.order_updated >= start) & (Order.order_updated < end)))).all()
    rows: dict[int, dict[str, DeliveryState]] = {o.id: {} for o in orders}
    ids = list(rows)
    for chunk in range(0, len(ids), 500):
        for d in session.scalars(select(Delivery).where(Delivery.oms_order_id.in_(ids[chunk:chunk + 500]))):
            rows[d.oms_order_id][d.destination] = DeliveryState(
                state=d.state, hold_code=d.hold_code, last_error=d.last_error, armed_at=d.armed_at or d.created,
                erp_record_id=d.erp_record_id, external_ref=d.external_ref)
    return [StoredOrder(external_id=o.external_id, reference="", created=o.order_created,
                        updated=o.order_updated, status=o.status, is_held=bool(o.is_held), held_reason=o.held_reason,
                        deliveries=rows[o.id]) for o in orders]


def _listing(settings: Settings, channel_id: int, start: datetime, now: datetime, lag_cutoff: datetime,
             now_fn: Any, policy: Any, notes: list[str]) -> tuple[list[OrderRef] | None, Located, int]:
    """The marketplace's list-only pass over ``[start, now)``: (refs or None when the platform cannot list, where
    the time-less refs the store lacks were located, API calls)."""
    stats = RunStats(process=PROCESS, channel_id=channel_id)
    puller = ChannelPuller(channel_id, stats, settings, now_fn, policy)
    refs: list[OrderRef] | None = None
    located: Located = {}
    unsupported = False
    with puller.guard():  # platform errors become stats.outcome / error_text, as in GetOrder
        if puller.prepare():
            try:
                refs = list(puller.adapter.list_orders(start, now))
            except NotSupported:
                unsupported = True
            else:
                refs, lacking = _with_store_times(settings, channel_id, refs)
                if lacking:
                    located = _locate(puller.adapter, lacking, _cuts(start, lag_cutoff, now))
    if unsupported:
        notes.append(f"{puller.adapter.display_name} cannot list orders without reading them yet (list_orders is "
                     "not implemented): the marketplace side was not compared")
        return None, {}, puller.api_calls
    if refs is None:
        raise ReconcileError(f"the marketplace listing failed: {stats.error_text or stats.outcome}")
    return refs, located, puller.api_calls


def _with_store_times(settings: Settings, channel_id: int, refs: list[OrderRef]) -> tuple[list[OrderRef], set[str]]:
    """Refs whose listing shows no time (Shopee's lists order numbers only) take the creation time GetOrder stored
    for them, so they count on their order's day; returns the refs and the time-less ones the store lacks."""
    untimed = {r.external_id for r in refs if r.created_at is None and r.updated_at is None}
    if not untimed:
        return refs, set()
    times: dict[str, datetime] = {}
    with session_scope(settings, readonly=True) as session:
        ids = sorted(untimed)
        for chunk in range(0, len(ids), 500):
            for number, created, updated in session.execute(
                    select(Order.external_id, Order.order_created, Order.order_updated).where(
                        Order.oms_channel_id == channel_id, Order.external_id.in_(ids[chunk:chunk + 500]))):
                if created or updated:
                    times[number] = created or updated
    refs = [replace(r, created_at=times[r.external_id]) if r.external_id in times else r for r in refs]
    return refs, untimed - set(times)


def _cuts(start: datetime, lag_cutoff: datetime, now: datetime) -> list[tuple[datetime, datetime]]:
    """The windows that place an order without a listed time: cut at each Taipei midnight and at the lag cutoff."""
    edges = {start, now} | ({lag_cutoff} if start < lag_cutoff < now else set())
    day = day_of(start) + timedelta(days=1)
    while taipei_day_start(day) < now:
        edges.add(taipei_day_start(day))
        day += timedelta(days=1)
    ordered = sorted(edges)
    return [(a, b) for a, b in zip(ordered, ordered[1:], strict=False) if a < b]


def _locate(adapter: Any, lacking: set[str], windows: list[tuple[datetime, datetime]]) -> Located:
    """Where orders whose listing shows no time were last changed: the same list-only pass once more, cut into
    these windows (about one more pass's list calls, spent only when the store lacks such an order). The last
    window that lists an order wins (an order changed during the pass moves forward); one no window lists any
    more changed after the listing's end (it left them all): it is placed there, inside the lag."""
    located: Located = {}
    for window in windows:
        for ref in adapter.list_orders(*window):
            if ref.external_id in lacking:
                located[ref.external_id] = window
    if not windows:
        return {}
    end = windows[-1][1]
    return {number: located.get(number, (end, end)) for number in lacking}


def _erp_side(settings: Settings, channel: Channel, stored: list[StoredOrder],
              notes: list[str]) -> tuple[dict[str, list[dict[str, str]]] | None, int, list[StoredOrder]]:
    """The ERP's C_Orders of the stored orders, keyed by each order's POReference (None when there is no ERP),
    the SOAP calls, and the stored orders with their references (they follow the connection's format)."""
    with session_scope(settings, readonly=True) as session:
        conn = resolve_connection(session, session.get(Channel, channel.id))
    if conn is None:
        notes.append(f"channel {channel.value} has no ERP connection: the ERP side was not compared")
        return None, 0, stored
    try:
        options = ErpOptions.from_json(conn.settings_json)
        mapping = ChannelMapping.of(channel)
        stored = [replace(o, reference=reference_of(o, mapping, options)) for o in stored]
        client: ErpClient = client_for(conn, settings, options)
    except (ErpConfigError, ValueError, VaultError) as exc:
        raise ReconcileError(f"ERP connection {conn.value} is misconfigured: {exc}") from exc
    recorded = {o.deliveries["erp"].erp_record_id: o for o in stored
                if "erp" in o.deliveries and o.deliveries["erp"].erp_record_id}
    try:
        rows = erp_orders(client, options, (((o.reference,), o.deliveries["erp"].erp_record_id if "erp" in o.deliveries
                                             else None) for o in stored),
                          batch_size=settings.reconcile_erp_batch_size)
    except ErpError as exc:
        raise ReconcileError(f"the ERP could not be asked (connection {conn.value}): {exc}") from exc
    finally:
        calls = client.calls
    by_reference: dict[str, list[dict[str, str]]] = {}
    for row in rows:  # a row is the order's by its reference, or by the C_Order_ID its delivery recorded
        owner = recorded.get(int(row["C_Order_ID"])) if row.get("C_Order_ID") else None
        keys = {row.get("POReference", "")} | ({owner.reference} if owner is not None else set())
        for key in keys:
            by_reference.setdefault(key, []).append(row)
    return by_reference, calls, stored


def reconcile_channel(channel: str | int, first_day: date, last_day: date | None = None, *,
                      settings: Settings | None = None, now: datetime | None = None, policy: Any = None,
                      clock: Any = None) -> Outcome:
    """Reconcile one channel over ``[first_day, last_day]`` (Taipei days; last day default today); stored."""
    settings = settings or get_settings()
    now_fn = clock or utcnow
    now = now or now_fn()
    today = day_of(now)
    last_day = min(last_day or today, today)
    if last_day < first_day:
        raise ReconcileError(f"nothing to reconcile: {first_day} is after {last_day}")
    with session_scope(settings) as session:
        row = load_channel(session, channel)
        channel_id, label = row.id, row.value
        watermark = row.order_watermark
    start, end = taipei_day_start(first_day), min(taipei_day_start(last_day + timedelta(days=1)), now)
    lag_cutoff = now - timedelta(minutes=settings.reconcile_lag_minutes)
    if watermark is not None and watermark < lag_cutoff:
        lag_cutoff = watermark  # GetOrder is behind: what it has not read yet is not due (the stale alert says why)
    notes: list[str] = []
    started = utcnow()
    with record_run(PROCESS, channel_id=channel_id, settings=settings) as stats:
        stats.window_from, stats.window_to = start, end
        try:
            listed, located, market_calls = _listing(settings, channel_id, start, now, lag_cutoff, now_fn, policy,
                                                     notes)
            with session_scope(settings) as session:
                stored = _stored(session, channel_id, start, end)
                channel_row = session.get(Channel, channel_id)
                destinations = destinations_in_use(session, settings.destinations)
            for dest in settings.destinations:
                if dest in ("erp", "oms") and dest not in destinations:
                    notes.append(f"no {dest.upper()} is connected: its column was not compared "
                                 + ("(add an ERP connection)" if dest == "erp" else
                                    "(the OMS has no API token and has read no order: `oms-bridge oms rotate-token`)"))
            erp_rows, erp_calls, stored = (_erp_side(settings, channel_row, stored, notes) if "erp" in destinations
                                           else (None, 0, stored))
        except (ReconcileError, ErpError, PlatformError, VaultError) as exc:
            error = str(exc)
            stats.outcome, stats.error_text = "failed", error
            rec_id = _save(settings, channel_id, stats.id, first_day, last_day, started, None, error)
            return Outcome(rec_id, None, error)
        report = compare(Inputs(channel=label, first_day=first_day, last_day=last_day, now=now,
                                lag_cutoff=lag_cutoff, stored=stored, listed=listed, erp_rows=erp_rows,
                                erp_source=channel_row.erp_ordersource_id, destinations=destinations,
                                located=located))
        report.notes, report.api_calls_marketplace, report.api_calls_erp = notes, market_calls, erp_calls
        stats.fetched, stats.api_calls = report.listed or 0, market_calls + erp_calls
        stats.failed = report.missing
        stats.details.update({"outcome": report.outcome, "stored": report.stored, "in_erp": report.in_erp,
                              "oms_taken": report.oms_taken, "differences": len(report.differences)})
        if report.missing:
            stats.outcome = "partial"
            stats.error_text = f"{report.missing} order(s) missing (see the reconciliation report)"
        rec_id = _save(settings, channel_id, stats.id, first_day, last_day, started, report, None)
    return Outcome(rec_id, report)


def _save(settings: Settings, channel_id: int, run_id: int | None, first_day: date, last_day: date,
          started: datetime, report: Report | None, error: str | None) -> int:
    with session_scope(settings) as session:
        row = Reconciliation(oms_channel_id=channel_id, oms_process_run_id=run_id, first_day=first_day,
                             last_day=last_day, started=started, ended=utcnow(),
                             outcome="failed" if report is None else report.outcome, error_text=error)
        if report is not None:
            row.listed, row.stored, row.in_erp, row.oms_taken = (report.listed, report.stored, report.in_erp,
                                                                 report.oms_taken)
            row.missing, row.differences_total = report.missing, len(report.differences)
            row.api_calls_marketplace, row.api_calls_erp = report.api_calls_marketplace, report.api_calls_erp
            row.report_json = json.dumps(report.as_dict(limit=REPORT_LIMIT), ensure_ascii=False)
        session.add(row)
        session.flush()
        return row.id


def run_daily(*, settings: Settings | None = None, now: datetime | None = None) -> list[Outcome]:
    """The scheduled reconciliation: every active, authorized channel, ``reconcile_days`` back and today."""
    settings = settings or get_settings()
    now = now or utcnow()
    today = day_of(now)
    first = date.fromordinal(today.toordinal() - settings.reconcile_days)
    with session_scope(settings) as session:
        channels = [c.value for c in session.scalars(select(Channel).options(selectinload(Channel.platform))
                                                     .order_by(Channel.value))
                    if c.isactive and c.platform is not None and c.platform.isactive and c.auth_state != "new"]
    outcomes = []
    for value in channels:
        try:
            outcomes.append(reconcile_channel(value, first, today, settings=settings, now=now))
        except Exception:  # noqa: BLE001 - one channel's failure must not stop the others; it is in its run row
            log.exception("reconciliation of channel %s failed", value)
    return outcomes
