"""ERP delivery: due ``erp`` outbox rows → completed iDempiere sales orders, exactly once.

One run (:func:`run_erp_delivery`) repeats, until nothing is due, for a batch of rows per ERP
connection:

1. **pre-check** (one queryData, ``POReference IN (...)``): an order the ERP already has (a crash
   after the ERP committed but before we recorded it, or a lost answer) is recorded as sent with
   its C_Order_ID/DocumentNo instead of being created twice; a cancellation finds its C_Order here
   when the row has no record id yet;
2. **products**: ``oms_sku_map`` (channel-specific wins over global) → M_Product_ID; unmapped SKUs
   and mapped search keys are looked up by ``M_Product.Value`` in one queryData; none → held
   ``missing_sku:<SKU>`` (``oms-bridge sku map`` re-arms exactly these rows);
3. **one compositeOperation** with one ``<operations>`` group per order (and per cancellation);
   each group's outcome decides its row: sent / held (the ERP's text made actionable by
   :func:`oms_bridge.erp.mapping.classify_error`) — a bad order never stops the others;
4. a whole-call failure: login refused → every row held ``erp_login:<connection>`` with the login
   text (re-armed by ``erp connection update``); network/5xx/SOAP fault → every open row
   ``mark_retry`` (backoff; ``dead`` after ``Settings.delivery_max_attempts``).

Per batch: a short store transaction leases the rows (:func:`oms_bridge.store.outbox.lease_due`,
the outbox's one claim mechanism: state ``retry`` until the lease ends, so no other worker takes
them); the ERP calls run outside any store transaction (a slow ERP never blocks GetOrder); a second
short transaction records each outcome while the lease still holds
(:func:`~oms_bridge.store.outbox.leased_row`), not when GetOrder re-armed the row meanwhile (then
the next run handles the new version, and the pre-check finds what this one sent). A worker that
dies mid-batch leaves leased rows that fall due when the lease ends. The lease lasts six ERP
timeouts plus a minute, for the longest-waiting active connection.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import or_, select
from sqlalchemy.orm import Session, selectinload

from oms_bridge.erp.client import (
    CrudOp,
    ErpClient,
    ErpLoginError,
    ErpRejected,
    ErpTransient,
    Login,
    Operation,
    StdResult,
)
from oms_bridge.erp.config import ChannelMapping, ErpConfigError, ErpOptions
from oms_bridge.erp.lookup import orders_by_reference, source_matches
from oms_bridge.erp.mapping import (
    ORDER_ROLE,
    Unmappable,
    cancel_group,
    classify_error,
    complete_group,
    order_group,
    po_filter,
    po_reference,
    product_filter,
)
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, ErpConnection, Order, SkuMap, utcnow
from oms_bridge.store.runs import RunStats, record_run
from oms_bridge.vault import Vault, VaultError

__all__ = ["run_erp_delivery", "client_for", "resolve_connection", "rearm_fixed", "recheck_held", "PROCESS"]

log = logging.getLogger("oms_bridge.erp.delivery")
PROCESS = "erp_delivery"
DESTINATION = "erp"
MAX_BATCHES_PER_RUN = 1000


def client_for(conn: ErpConnection, settings: Settings, options: ErpOptions | None = None) -> ErpClient:
    """An :class:`ErpClient` for a stored connection (password decrypted from the vault)."""
    options = options or ErpOptions.from_json(conn.settings_json)
    password = Vault.from_settings(settings).decrypt(conn.password_enc, what=f"ERP connection {conn.value} password")
    login = Login(user=conn.username, password=password or "", client_id=conn.erp_client_id,
                  role_id=conn.erp_role_id, org_id=conn.erp_org_id, warehouse_id=conn.erp_warehouse_id,
                  lang=conn.lang, stage=conn.stage)
    return ErpClient(conn.url, login, cache_dir=settings.cache_dir, timeout=options.timeout_seconds)


def resolve_connection(session: Session, channel: Channel) -> ErpConnection | None:
    """The channel's ERP connection, or the only active one when the channel names none."""
    if channel.oms_erp_connection_id:
        return session.get(ErpConnection, channel.oms_erp_connection_id)
    conns = session.scalars(select(ErpConnection).where(ErpConnection.isactive.in_([True]))).all()
    return conns[0] if len(conns) == 1 else None


def run_erp_delivery(*, settings: Settings | None = None, batch_size: int | None = None,
                     now: datetime | None = None) -> RunStats:
    """Deliver every due ``erp`` row (see module doc); returns the run's counts (also in oms_process_run)."""
    settings = settings or get_settings()
    with record_run(PROCESS, settings=settings) as stats:
        seen: set[int] = set()
        clients: dict[int, ErpClient] = {}  # one zeep client (parsed WSDL) per connection for the whole run
        with session_scope(settings, immediate=True) as session:
            stats.details["rearmed"] = rearm_fixed(session)
            stats.details["rechecked"] = recheck_held(session, settings, now=now)
        for _ in range(MAX_BATCHES_PER_RUN):
            with session_scope(settings, immediate=True) as session:
                size = batch_size or settings.erp_batch_size
                leases = outbox.lease_due(session, DESTINATION, now=now, limit=size, exclude=seen,
                                          lease_seconds=_lease_seconds(session))
                if not leases:
                    break
                seen.update(lease.delivery_id for lease in leases)
                stats.fetched += len(leases)
                batches = _prepare(session, leases, stats)
            # The ERP calls happen outside any store transaction: a slow ERP never blocks other writers.
            for batch in batches:
                _deliver_batch(batch, settings, stats, clients, now=now)
            with session_scope(settings, immediate=True) as session:
                _record(session, [w for batch in batches for w in batch.work], stats)
        if stats.failed and not stats.sent:
            stats.outcome = "failed" if not stats.held else "partial"
        elif stats.failed or stats.held:
            stats.outcome = "partial"
    return stats


def rearm_fixed(session: Session) -> int:
    """Re-arm held rows whose cause was edited after they were held, however it was edited (CLI, web, SQL).

    ``config:<channel>`` rows come back when the channel row changed since; ``erp_login:<connection>``
    rows when the connection row changed since. Returns how many rows were re-armed.
    """
    held = session.execute(
        select(Delivery.oms_order_id, Delivery.hold_code, Delivery.updated)
        .where(Delivery.destination == DESTINATION, Delivery.state == "held",
               Delivery.hold_code.startswith("config:") | Delivery.hold_code.startswith("erp_login:"))).all()
    if not held:
        return 0
    changed = {f"config:{c.value}": c.updated for c in session.scalars(select(Channel))}
    changed.update({f"erp_login:{c.value}": c.updated for c in session.scalars(select(ErpConnection))})
    order_ids = [oid for oid, code, updated in held if code in changed and updated and changed[code] > updated]
    return outbox.rearm(session, DESTINATION, order_ids=order_ids, states=("held",)) if order_ids else 0


#: Holds whose cure happens inside iDempiere, where the bridge cannot see it (a product created with
#: Value = SKU, a price added to the list, a WS setting fixed). Login holds are not in the list:
#: re-trying a wrong password every hour could lock the ERP user.
RECHECK_PREFIXES = ("missing_sku:", "price_list:", "erp_config:", "erp_rejected")


def recheck_held(session: Session, settings: Settings, *, now: datetime | None = None) -> int:
    """Re-arm rows held for an ERP-side cause longer than ``erp_recheck_held_minutes`` (config file, default 60;
    0 = never), so a fix made in iDempiere is picked up without an admin running ``erp retry``."""
    minutes = int(settings.extra.get("erp_recheck_held_minutes", 60))
    if minutes <= 0:
        return 0
    cutoff = (now or utcnow()) - timedelta(minutes=minutes)
    prefixes = [Delivery.hold_code.startswith(p) for p in RECHECK_PREFIXES]
    order_ids = list(session.scalars(select(Delivery.oms_order_id).where(
        Delivery.destination == DESTINATION, Delivery.state == "held", Delivery.updated < cutoff,
        or_(*prefixes))))
    return outbox.rearm(session, DESTINATION, order_ids=order_ids, states=("held",)) if order_ids else 0


@dataclass
class _Work:
    """One row on its way through a batch (``row`` is detached: the outcome is copied back by :func:`_record`)."""

    lease: outbox.Lease
    order: Order
    channel: Channel
    done: bool = False
    group: list[Operation] = field(default_factory=list)

    @property
    def row(self) -> Delivery:
        return self.lease.row


@dataclass
class _Batch:
    """The leased rows of one ERP connection, with what the I/O phase needs from the store."""

    conn: ErpConnection
    work: list[_Work]
    maps: list[SkuMap]


_OUTCOME = ("state", "attempts", "last_error", "hold_code", "next_attempt_at", "sent_at", "delivered_version",
            "erp_record_id", "erp_document_no", "external_ref")


def _lease_seconds(session: Session) -> float:
    """How long a leased row stays invisible to other workers: the calls of one batch, generously
    (six timeouts plus a minute, for the active connection with the longest timeout)."""
    timeouts = [30.0]
    for conn in session.scalars(select(ErpConnection).where(ErpConnection.isactive.in_([True]))):
        try:
            timeouts.append(ErpOptions.from_json(conn.settings_json).timeout_seconds)
        except (ErpConfigError, ValueError):
            continue
    return max(timeouts) * 6 + 60


def _prepare(session: Session, leases: list[outbox.Lease], stats: RunStats) -> list[_Batch]:
    """Load what the batch's leased rows need from the store (plain data for the ERP calls).

    A worker that dies during the ERP calls leaves leased rows; they fall due again when the lease
    ends and the POReference pre-check finds whatever the ERP already committed.
    """
    rows = [lease.row for lease in leases]
    orders = {o.id: o for o in session.scalars(
        select(Order).where(Order.id.in_([r.oms_order_id for r in rows])).options(selectinload(Order.lines)))}
    channels = {c.id: c for c in session.scalars(select(Channel).where(
        Channel.id.in_({o.oms_channel_id for o in orders.values()})))}
    batches: dict[int, _Batch] = {}
    for lease in leases:
        row = lease.row
        order = orders[row.oms_order_id]
        channel = channels[order.oms_channel_id]
        conn = resolve_connection(session, channel)
        if conn is None:
            _held(stats, row, "no ERP connection for channel "
                  f"{channel.value} (add one: oms-bridge erp connection add, or link the channel to one)",
                  "no_erp_connection")
            continue
        batches.setdefault(conn.id, _Batch(conn, [], [])).work.append(_Work(lease, order, channel))
    skus = {line.sku for o in orders.values() for line in o.lines if line.sku}
    maps = list(session.scalars(select(SkuMap).where(SkuMap.sku.in_(skus), SkuMap.isactive.in_([True])))) \
        if skus else []
    for batch in batches.values():
        batch.maps = maps
    session.flush()
    return list(batches.values())


def _record(session: Session, work: list[_Work], stats: RunStats) -> None:
    """Copy each outcome onto the stored row, unless the row changed meanwhile (re-armed for a new version)."""
    superseded = 0
    for w in work:
        fresh = outbox.leased_row(session, w.lease)
        if fresh is None:
            superseded += 1  # the next run handles the new version; the pre-check finds what was sent
            continue
        for name in _OUTCOME:
            setattr(fresh, name, getattr(w.row, name))
    if superseded:
        stats.details["superseded"] = stats.details.get("superseded", 0) + superseded


def _deliver_batch(batch: _Batch, settings: Settings, stats: RunStats, clients: dict[int, ErpClient], *,
                   now: datetime | None) -> None:
    conn, work = batch.conn, batch.work
    try:
        options = ErpOptions.from_json(conn.settings_json)
        client = clients.get(conn.id) or client_for(conn, settings, options)
        clients[conn.id] = client
    except (ErpConfigError, ValueError, VaultError) as exc:
        for w in work:
            _held(stats, w.row, f"ERP connection {conn.value} is misconfigured: {exc}", f"erp_login:{conn.value}")
        return
    calls_before = client.calls
    try:
        _send(client, conn, options, work, batch.maps, stats, now=now, settings=settings)
    except ErpLoginError as exc:
        for w in _open(work):
            _held(stats, w.row, f"ERP login failed for connection {conn.value}: {exc} (fix it: oms-bridge erp "
                  f"connection update {conn.value})", f"erp_login:{conn.value}")
    except ErpRejected as exc:
        hold = classify_error(str(exc), role_id=conn.erp_role_id)
        for w in _open(work):
            _held(stats, w.row, hold.reason, hold.code)
    except ErpTransient as exc:
        _retry_all(work, str(exc), settings, stats, now=now)
    except Exception as exc:  # noqa: BLE001 - an answer we cannot read must not stop other connections' batches
        log.exception("ERP delivery batch for connection %s failed unexpectedly", conn.value)
        _retry_all(work, f"unexpected error talking to the ERP: {type(exc).__name__}: {exc}", settings, stats,
                   now=now)
    finally:
        stats.api_calls += client.calls - calls_before


def _retry_all(work: list[_Work], error: str, settings: Settings, stats: RunStats, *, now: datetime | None) -> None:
    for w in _open(work):
        outbox.mark_retry(w.row, error, max_attempts=settings.delivery_max_attempts, now=now)
        stats.failed += 1
        w.done = True


def _open(work: Iterable[_Work]) -> list[_Work]:
    return [w for w in work if not w.done]


def _held(stats: RunStats, row: Delivery, reason: str, code: str) -> None:
    outbox.mark_held(row, reason, code=code)
    stats.held += 1
    kind = code.split(":", 1)[0]
    held = stats.details.setdefault("held_by_cause", {})
    held[kind] = held.get(kind, 0) + 1
    log.warning("ERP delivery held (order row %s): %s", row.oms_order_id, reason)


def _sent(stats: RunStats, w: _Work, *, record_id: int | None, document_no: str | None, now: datetime | None,
          note: str | None = None) -> None:
    outbox.mark_sent(w.row, now=now or utcnow(), erp_record_id=record_id, erp_document_no=document_no,
                     external_ref=note)
    stats.sent += 1
    w.done = True


def _send(client: ErpClient, conn: ErpConnection, options: ErpOptions, work: list[_Work], maps: list[SkuMap],
          stats: RunStats, *, now: datetime | None, settings: Settings) -> None:
    for w in work:
        _gate(w, options, stats)
    work = _open(work)
    existing = _precheck(client, options, work)
    owners = _owners(settings, existing)
    creates: list[_Work] = []
    for w in work:
        found = _match(existing, w, owners)
        if w.row.action == "cancel" or w.order.status == "cancelled":
            record_id = w.row.erp_record_id or (int(found["C_Order_ID"]) if found else None)
            if record_id is None:
                _sent(stats, w, record_id=None, document_no=None, now=now, note="cancelled before reaching the ERP")
            elif found and found.get("DocStatus") in ("VO", "CL", "RE"):
                _sent(stats, w, record_id=record_id, document_no=found.get("DocumentNo"), now=now)
            else:
                w.group = cancel_group(record_id, options)
                w.row.erp_record_id = record_id
        elif found and found.get("DocStatus") in ("DR", "IP", "IN"):
            w.row.erp_record_id, w.row.erp_document_no = int(found["C_Order_ID"]), found.get("DocumentNo")
            w.group = complete_group(w.row.erp_record_id, options)  # a draft with that POReference: finish it
        elif found:
            _sent(stats, w, record_id=int(found["C_Order_ID"]), document_no=found.get("DocumentNo"), now=now,
                  note="already in the ERP (found by POReference)")
        else:
            creates.append(w)
    products, value_maps = _products(maps, client, options, creates)
    for w in creates:
        try:
            w.group = order_group(w.order, ChannelMapping.of(w.channel), options, products.get(w.channel.id, {}),
                                  now=now)
        except Unmappable as exc:
            reason = exc.reason
            sku = exc.code.partition(":")[2] if exc.code.startswith("missing_sku:") else None
            if sku and (sku, w.channel.id) in value_maps:
                reason = (f"SKU {sku} is mapped to product value {value_maps[(sku, w.channel.id)]!r}, which iDempiere "
                          f"does not have (fix the mapping: oms-bridge sku map {sku} --product <M_Product_ID>)")
            _held(stats, w.row, reason, exc.code)
            w.done = True
    pending = [w for w in work if not w.done and w.group]
    if not pending:
        return
    results = client.composite(options.service_types["composite"], [w.group for w in pending])
    sku_of_product = {pid: sku for ids in products.values() for sku, pid in ids.items()}
    for w, group_results in zip(pending, results, strict=True):
        _record_group(w, group_results, conn, stats, now=now, sku_of_product=sku_of_product)
    _fill_document_numbers(client, options, [w for w in pending if w.row.state == "sent"])


def _fill_document_numbers(client: ErpClient, options: ErpOptions, sent: list[_Work]) -> None:
    """DocumentNo comes back as an output field when the order type lists it; otherwise ask once per batch."""
    missing = [w for w in sent if w.row.action != "cancel" and not w.row.erp_document_no]
    if not missing:
        return
    try:
        rows = client.query(options.service_types["query_order"], "C_Order",
                            filter=po_filter(po_reference(w.order) for w in missing))
    except (ErpTransient, ErpRejected) as exc:
        log.warning("could not read DocumentNo of %d sent order(s): %s", len(missing), exc)
        return
    by_id = {r.get("C_Order_ID"): r.get("DocumentNo") for r in rows}
    for w in missing:
        w.row.erp_document_no = by_id.get(str(w.row.erp_record_id)) or None


def _gate(w: _Work, options: ErpOptions, stats: RunStats) -> None:
    """Orders that must not become a sales order (yet) are held with the reason; the rest go on."""
    if w.order.is_held:
        _held(stats, w.row, f"order {w.order.external_id} is held at intake: {w.order.held_reason}", "order_held")
        w.done = True
    elif w.row.action != "cancel" and w.order.status != "cancelled" and w.order.status not in options.create_statuses:
        outbox.mark_waiting(w.row, f"order {w.order.external_id} is {w.order.status}; it goes to the ERP when the "
                            f"marketplace reports it {' / '.join(options.create_statuses[:2])} "
                            "(ERP setting create_statuses)", code=f"awaiting:{w.order.status}")
        w.done = True


def _precheck(client: ErpClient, options: ErpOptions, work: list[_Work]) -> dict[str, list[dict[str, str]]]:
    """C_Orders the ERP already has for these POReferences (one queryData)."""
    # cancellations too: the ERP order may be voided already
    return orders_by_reference(client, options, [po_reference(w.order) for w in work])


def _owners(settings: Settings, existing: dict[str, list[dict[str, str]]]) -> dict[int, int]:
    """C_Order_ID → our order that already recorded it, for the C_Orders the pre-check found.

    A short read, no lock: the ERP is never called inside a store transaction.
    """
    ids = {int(r["C_Order_ID"]) for rows in existing.values() for r in rows if r.get("C_Order_ID")}
    if not ids:
        return {}
    with session_scope(settings) as session:
        return dict(session.execute(
            select(Delivery.erp_record_id, Delivery.oms_order_id)
            .where(Delivery.destination == DESTINATION, Delivery.erp_record_id.in_(ids))).all())


def _match(existing: dict[str, list[dict[str, str]]], w: _Work, owners: dict[int, int]) -> dict[str, str] | None:
    """The ERP order for this marketplace order: same POReference, (when known) the channel's order source,
    and not already recorded by another of our orders.

    Marketplace order numbers are only unique per shop (Cyberbiz #1101 exists in every shop): a C_Order
    another channel's order already owns is that order's, never a crash-recovered copy of this one.
    """
    for row in existing.get(po_reference(w.order), []):
        if not source_matches(row, w.channel.erp_ordersource_id):
            continue
        owner = owners.get(int(row["C_Order_ID"])) if row.get("C_Order_ID") else None
        if owner is not None and owner != w.order.id:
            continue
        return row
    return None


def _products(maps: list[SkuMap], client: ErpClient, options: ErpOptions,
              creates: list[_Work]) -> tuple[dict[int, dict[str, int]], dict[tuple[str, int], str]]:
    """Per channel: SKU → M_Product_ID for the lines of these orders; and (sku, channel) → mapped search key.

    A channel-specific mapping wins over the global one. Channels that resolve every SKU the same
    way share one product lookup (the usual case: one queryData per batch).
    """
    skus_of: dict[int, set[str]] = defaultdict(set)
    for w in creates:
        skus_of[w.channel.id].update(line.sku for line in w.order.lines if line.sku)
    all_skus = set().union(*skus_of.values()) if skus_of else set()
    if not all_skus:
        return {}, {}
    maps = [m for m in maps if m.sku in all_skus]
    chosen_of: dict[int, dict[str, SkuMap]] = {}
    for channel_id in skus_of:
        chosen: dict[str, SkuMap] = {}
        for m in maps:
            if m.scope_channel_id in (0, channel_id) and (m.sku not in chosen or m.scope_channel_id == channel_id):
                chosen[m.sku] = m
        chosen_of[channel_id] = chosen
    products: dict[int, dict[str, int]] = {}
    value_maps: dict[tuple[str, int], str] = {}
    if not any(m.scope_channel_id for m in maps):  # only global mappings: one lookup for every channel
        ids, values = _resolve(client, options, next(iter(chosen_of.values())), all_skus)
        for channel_id in skus_of:
            products[channel_id] = ids
            value_maps.update({(sku, channel_id): v for sku, v in values.items()})
        return products, value_maps
    for channel_id, chosen in chosen_of.items():
        ids, values = _resolve(client, options, chosen, skus_of[channel_id])
        products[channel_id] = ids
        value_maps.update({(sku, channel_id): v for sku, v in values.items()})
    return products, value_maps


def _resolve(client: ErpClient, options: ErpOptions, chosen: dict[str, SkuMap],
             skus: set[str]) -> tuple[dict[str, int], dict[str, str]]:
    """(SKU → product id, SKU → mapped search key) for ``skus``; unmapped SKUs are searched as M_Product.Value."""
    result = {sku: m.m_product_id for sku, m in chosen.items() if sku in skus and m.m_product_id}
    value_maps = {sku: m.m_product_value for sku, m in chosen.items()
                  if sku in skus and not m.m_product_id and m.m_product_value}
    wanted = {sku: value_maps.get(sku, sku) for sku in skus if sku not in result}
    if wanted:
        rows = client.query(options.service_types["query_product"], "M_Product",
                            filter=product_filter(wanted.values()))
        by_value = {r.get("Value"): int(r["M_Product_ID"]) for r in rows if r.get("M_Product_ID")}
        for sku, value in wanted.items():
            if value in by_value:
                result[sku] = by_value[value]
    return result, value_maps


def _record_group(w: _Work, results: list[StdResult], conn: ErpConnection, stats: RunStats, *,
                  now: datetime | None, sku_of_product: dict[int, str]) -> None:
    errors = [r for r in results if r.is_error]
    if errors:
        hold = classify_error(errors[0].error or "unknown error", role_id=conn.erp_role_id,
                              sku_of_product=sku_of_product)
        _held(stats, w.row, hold.reason, hold.code)
        w.done = True
        return
    if w.row.action == "cancel" or w.order.status == "cancelled":
        _sent(stats, w, record_id=w.row.erp_record_id, document_no=w.row.erp_document_no, now=now)
        return
    index = next((i for i, op in enumerate(w.group) if isinstance(op, CrudOp) and op.role == ORDER_ROLE), None)
    if index is None:  # a draft found by the pre-check was completed
        _sent(stats, w, record_id=w.row.erp_record_id, document_no=w.row.erp_document_no, now=now,
              note="draft found by POReference, completed")
        return
    order_result = results[index] if index < len(results) else None
    record_id = order_result.record_id if order_result else None
    document_no = order_result.outputs.get("DocumentNo") if order_result else None
    _sent(stats, w, record_id=record_id, document_no=document_no, now=now)
