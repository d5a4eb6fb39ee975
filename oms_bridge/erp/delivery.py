"""ERP delivery: due ``erp`` outbox rows → completed iDempiere sales orders, exactly once.

One run (:func:`run_erp_delivery`) repeats, until nothing is due, for a lease of rows split into
batches per ERP connection (the connection's ``batch_size``, default ``Settings.erp_batch_size``):

1. **pre-check** (one queryData): the C_Orders with the orders' references
   (:mod:`oms_bridge.erp.reference`, unique per channel, always short enough to survive the ERP), their
   recorded C_Order_IDs, and the bare numbers an older bridge wrote. :mod:`oms_bridge.erp.matching`
   decides which C_Order is whose; an order the ERP already has (a crash after the ERP committed, a lost
   answer) is recorded as sent instead of being created twice; a cancellation finds its C_Order here;
2. **products**: ``oms_sku_map`` (channel-specific wins over global) → M_Product_ID; unmapped SKUs
   and mapped search keys are looked up by ``M_Product.Value`` once per run; none → held
   ``missing_sku:<SKU>`` (``oms-bridge sku map`` re-arms exactly these rows);
3. **one compositeOperation** with one ``<operations>`` group per order (and per cancellation);
   each group's outcome decides its row: sent / held (the failing operation and the ERP's text made
   actionable by :func:`oms_bridge.erp.holds.classify_error`) — a bad order never stops the others;
4. a whole-call failure stops that connection for the rest of the run (its other rows stay due):
   login refused → the batch's rows stay due, untried, and the refusal is remembered on the connection
   (no login with the same data until it is edited or ``erp check`` logs in); network/5xx/SOAP fault →
   the batch's rows ``mark_retry`` (backoff; ``dead`` after ``Settings.delivery_max_attempts``); the
   composite type refused → the batch's rows held. The run's error text says why and how many wait.

Per lease (the rows of ``Settings.erp_lease_batches`` composites, so the store work is shared by them): a
short store transaction leases the rows (:func:`oms_bridge.store.outbox.lease_due`, the outbox's one claim
mechanism; a lease is never stolen, not even by an admin retry) and loads what they need; the ERP
calls run outside any store transaction (a slow ERP never blocks GetOrder); a second short
transaction records every outcome while the lease still holds
(:func:`~oms_bridge.store.outbox.leased_rows`, one read for all rows). A worker that dies mid-lease leaves
leased rows that fall due when the lease ends (the pre-check then finds what the ERP committed); no call
starts once a lease is (nearly) over. The lease covers every composite of its rows (:func:`_lease_seconds`).
``oms-bridge erp deliver`` and the scheduler share one run lock, so two deliveries never run side by side.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select
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
from oms_bridge.erp.config import REQUIRED_OUTPUTS, ChannelMapping, ErpConfigError, ErpOptions
from oms_bridge.erp.connections import login_refusal, record_login_refusal
from oms_bridge.erp.exchange import answer_text, request_text
from oms_bridge.erp.holds import channel_of_code, classify_error, sku_of_code
from oms_bridge.erp.lookup import erp_orders
from oms_bridge.erp.mapping import (
    ORDER_ROLE,
    Unmappable,
    cancel_group,
    complete_group,
    order_group,
    precheck_filter,
    product_filter,
    reference_of,
)
from oms_bridge.erp.matching import find_own
from oms_bridge.erp.reference import ReferenceFormatError, legacy_reference
from oms_bridge.settings import Settings, get_settings
from oms_bridge.store import cancel_requests, outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.errors import describe_error
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
    """Deliver every due ``erp`` row (see module doc); returns the run's counts (also in oms_process_run).

    ``batch_size`` overrides every connection's orders per compositeOperation (benchmarks, tests).
    """
    settings = settings or get_settings()
    with record_run(PROCESS, settings=settings) as stats:
        run = _Run(settings, stats, now, batch_size)
        seen: set[int] = set()
        with session_scope(settings, immediate=True) as session:
            stats.details["rearmed"] = rearm_fixed(session)
            stats.details["rechecked"] = recheck_held(session, settings, now=now)
            run.stop_refused_logins(session)
        for _ in range(MAX_BATCHES_PER_RUN):
            with session_scope(settings, immediate=True) as session:
                sizes = run.batch_sizes(session)
                limit = max(sizes.values()) * settings.erp_lease_batches
                leases = outbox.lease_due(session, DESTINATION, now=now, limit=limit, exclude=seen,
                                          where=run.skip_condition(session),
                                          lease_seconds=_lease_seconds(session, sizes, limit))
                if not leases:
                    break
                seen.update(lease.delivery_id for lease in leases)
                stats.fetched += len(leases)
                batches = _prepare(session, leases, stats)
            # The ERP calls happen outside any store transaction: a slow ERP never blocks other writers.
            for batch in batches:
                size = sizes.get(batch.conn.id) or max(sizes.values())
                for start in range(0, len(batch.work), size):
                    _deliver_batch(replace(batch, work=batch.work[start:start + size]), run)
            with session_scope(settings, immediate=True) as session:
                _record(session, [w for batch in batches for w in batch.work], stats)
                run.remember_refusals(session)
        with session_scope(settings) as session:
            run.finish(session)
    return stats


@dataclass
class _Run:
    """What one delivery run carries across its batches: clients, product lookups, and stopped connections.

    A connection is *stopped* for the rest of the run after a refused login (one refused login per run at
    most, and none in later runs while the refusal stands: each one counts towards locking the ERP user), a
    connection setting the bridge cannot use, a whole-call failure (ERP down: its other orders wait for the
    next run instead of timing out one batch after another), or a refused composite type. Its unsent rows
    stay due, untouched; the run's error text says why, and how many orders wait.
    """

    settings: Settings
    stats: RunStats
    now: datetime | None
    batch_override: int | None
    clients: dict[int, ErpClient] = field(default_factory=dict)  # one zeep client (parsed WSDL) per connection
    values: dict[int, dict[str, int | None]] = field(default_factory=dict)  # per connection: M_Product.Value -> id
    stopped: dict[int, str] = field(default_factory=dict)  # connection id -> why its run stopped
    refused: dict[int, tuple[str, datetime]] = field(default_factory=dict)  # connection id -> (login text, when)

    def stop(self, conn: ErpConnection, why: str) -> None:
        self.stopped.setdefault(conn.id, why)
        log.warning("ERP delivery for connection %s stopped for this run: %s", conn.value, why)

    def stop_refused_logins(self, session: Session) -> None:
        for conn in session.scalars(select(ErpConnection).where(ErpConnection.isactive.in_([True]))):
            refusal = login_refusal(conn)
            if refusal:
                self.stop(conn, f"its login was refused: {refusal}; no new login is tried until the connection is "
                          f"fixed (oms-bridge erp connection update {conn.value} ...) or oms-bridge erp check "
                          "logs in")

    def batch_sizes(self, session: Session) -> dict[int, int]:
        """Orders per compositeOperation for each active connection (its ``batch_size`` setting, else the
        environment's ``erp_batch_size``); key 0 = the default."""
        default = self.batch_override or self.settings.erp_batch_size
        sizes = {0: default}
        for conn in session.scalars(select(ErpConnection).where(ErpConnection.isactive.in_([True]))):
            try:
                sizes[conn.id] = self.batch_override or ErpOptions.from_json(conn.settings_json).batch_size or default
            except (ErpConfigError, ValueError):
                sizes[conn.id] = default
        return sizes

    def skip_condition(self, session: Session):
        """Rows not to lease: the orders of channels whose connection stopped this run."""
        if not self.stopped:
            return None
        channel_ids = [c.id for c in session.scalars(select(Channel))
                       if (conn := resolve_connection(session, c)) is not None and conn.id in self.stopped]
        if not channel_ids:
            return None
        return Delivery.oms_order_id.notin_(select(Order.id).where(Order.oms_channel_id.in_(channel_ids)))

    def remember_refusals(self, session: Session) -> None:
        for conn_id, (text, when) in self.refused.items():
            record_login_refusal(session, conn_id, text, when)
        self.refused.clear()

    def finish(self, session: Session) -> None:
        """The run's outcome, and for each stopped connection a sentence with how many orders wait for it."""
        stats = self.stats
        if self.stopped:
            waiting = _waiting_per_connection(session)
            names = dict(session.execute(select(ErpConnection.id, ErpConnection.value)).all())
            texts = [f"ERP connection {names.get(cid, cid)}: {why}; {waiting.get(cid, 0)} order(s) wait for it"
                     for cid, why in self.stopped.items()]
            stats.error_text = "; ".join(texts)[:4000]
            stats.details["stopped"] = {str(names.get(cid, cid)): why for cid, why in self.stopped.items()}
        if (stats.failed or self.stopped) and not stats.sent:
            stats.outcome = "failed" if not stats.held else "partial"
        elif stats.failed or stats.held or self.stopped:
            stats.outcome = "partial"


def _waiting_per_connection(session: Session) -> dict[int, int]:
    """Due or retrying ``erp`` rows per ERP connection (through their channel)."""
    per_channel = dict(session.execute(
        select(Order.oms_channel_id, func.count()).join(Delivery, Delivery.oms_order_id == Order.id)
        .where(Delivery.destination == DESTINATION, Delivery.state.in_(["pending", "retry"]))
        .group_by(Order.oms_channel_id)).all())
    out: dict[int, int] = defaultdict(int)
    for channel in session.scalars(select(Channel).where(Channel.id.in_(list(per_channel)))):
        conn = resolve_connection(session, channel)
        if conn is not None:
            out[conn.id] += per_channel[channel.id]
    return dict(out)


def rearm_fixed(session: Session) -> int:
    """Re-arm held rows whose cause was edited after they were held, however it was edited (CLI, web, SQL).

    A hold code names what cures it (:mod:`oms_bridge.erp.holds`): ``config:<channel>`` and
    ``...@<channel>`` rows come back when that channel row changed since; ``missing_sku:<SKU>`` and
    ``price_list:<SKU>@...`` when a mapping of that SKU changed since; ``erp_login:<connection>`` when the
    connection row changed since. Returns how many rows were re-armed.
    """
    held = session.execute(
        select(Delivery.oms_order_id, Delivery.hold_code, Delivery.updated)
        .where(Delivery.destination == DESTINATION, Delivery.state == "held", Delivery.hold_code.is_not(None))).all()
    if not held:
        return 0
    channels = dict(session.execute(select(Channel.value, Channel.updated)).all())
    connections = dict(session.execute(select(ErpConnection.value, ErpConnection.updated)).all())
    wanted = {sku for _oid, code, _u in held if (sku := sku_of_code(code))}
    skus = dict(session.execute(select(SkuMap.sku, func.max(SkuMap.updated)).where(SkuMap.sku.in_(wanted))
                                .group_by(SkuMap.sku)).all()) if wanted else {}
    order_ids = []
    for oid, code, updated in held:
        stamps = [channels.get(channel_of_code(code)), skus.get(sku_of_code(code))]
        if code.startswith(("erp_login:", "erp_settings:")):
            stamps.append(connections.get(code.partition(":")[2]))
        if updated and any(stamp and stamp > updated for stamp in stamps):
            order_ids.append(oid)
    return outbox.rearm(session, DESTINATION, order_ids=order_ids, states=("held",)) if order_ids else 0


#: Holds whose cure happens inside iDempiere, where the bridge cannot see it (a product created with
#: Value = SKU, a price added to the list, a WS setting fixed). Login holds are not in the list:
#: re-trying a wrong password every hour could lock the ERP user.
RECHECK_PREFIXES = ("missing_sku:", "price_list:", "erp_config:", "erp_docaction@", "erp_rejected")


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
    # an open cancellation request of the order (momo 攔貨, Shopee IN_CANCEL): see _gate
    cancel_request: str | None = None
    ref: str = ""  # this order's C_Order.POReference
    legacy: str | None = None  # what a bridge before per-channel references wrote

    @property
    def row(self) -> Delivery:
        return self.lease.row


@dataclass
class _Batch:
    """The leased rows of one ERP connection, with what the I/O phase needs from the store."""

    conn: ErpConnection
    work: list[_Work]
    maps: list[SkuMap]


_OUTCOME = ("state", "attempts", "last_error", "hold_code", "cause_code", "cause_subject", "last_request",
            "last_answer", "next_attempt_at", "leased_until", "sent_at", "delivered_version", "erp_record_id",
            "erp_document_no", "external_ref")


def _lease_seconds(session: Session, sizes: dict[int, int], limit: int) -> float:
    """How long a leased row stays invisible to other workers: all the calls the leased rows may need, generously.

    A lease takes up to ``limit`` rows (``erp_lease_batches`` composites of the largest batch size); a connection
    sends them in composites of its ``batch_size`` one after another. Each composite is budgeted four call
    timeouts (pre-check, product and DocumentNo queries) plus its own timeout; the slowest active connection
    decides, plus a minute.
    """

    def budget(options: ErpOptions, size: int) -> float:
        chunks = -(-limit // max(1, size))
        return chunks * (_composite_timeout(options, size) + 4 * options.timeout_seconds)

    longest = budget(ErpOptions(), sizes[0])
    for conn in session.scalars(select(ErpConnection).where(ErpConnection.isactive.in_([True]))):
        try:
            options = ErpOptions.from_json(conn.settings_json)
        except (ErpConfigError, ValueError):
            continue
        longest = max(longest, budget(options, sizes.get(conn.id) or sizes[0]))
    return longest + 60


def _composite_timeout(options: ErpOptions, orders: int) -> float:
    """The server works through a composite's groups one after another: the call timeout plus
    ``order_seconds`` per order it carries."""
    return options.timeout_seconds + options.order_seconds * orders


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
    requests = {oid: _request_text(r) for oid, r in cancel_requests.open_requests(session, orders).items()}
    connections = {channel.id: resolve_connection(session, channel) for channel in channels.values()}
    batches: dict[int, _Batch] = {}
    for lease in leases:
        row = lease.row
        order = orders[row.oms_order_id]
        channel = channels[order.oms_channel_id]
        conn = connections[channel.id]
        if conn is None:
            _held(stats, row, "no ERP connection for channel "
                  f"{channel.value} (add one: oms-bridge erp connection add, or link the channel to one)",
                  "no_erp_connection")
            continue
        batches.setdefault(conn.id, _Batch(conn, [], [])).work.append(
            _Work(lease, order, channel, cancel_request=requests.get(order.id)))
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
    for w, fresh in zip(work, outbox.leased_rows(session, [w.lease for w in work]), strict=True):
        if fresh is None:
            superseded += 1  # the next run handles the new version; the pre-check finds what was sent
            continue
        for name in _OUTCOME:
            setattr(fresh, name, getattr(w.row, name))
    if superseded:
        stats.details["superseded"] = stats.details.get("superseded", 0) + superseded


def _deliver_batch(batch: _Batch, run: _Run) -> None:
    conn, work, stats, settings, now = batch.conn, batch.work, run.stats, run.settings, run.now
    if conn.id in run.stopped:
        _release(work, stats)
        return
    if any(w.lease.expired() for w in work):
        # Past the lease (nearly): another worker may own these rows by now, so no outside call starts for
        # them; they fall due when the lease ends and the pre-check finds whatever was sent before.
        stats.details["lease_ran_out"] = stats.details.get("lease_ran_out", 0) + len(work)
        for w in work:
            w.done = True
        return
    try:
        options = ErpOptions.from_json(conn.settings_json)
        client = run.clients.get(conn.id) or client_for(conn, settings, options)
        run.clients[conn.id] = client
    except (ErpConfigError, ValueError, VaultError) as exc:
        run.stop(conn, f"it is misconfigured: {exc} (fix it: oms-bridge erp connection update {conn.value} ...)")
        _release(work, stats)
        return
    calls_before, attempt_at = client.calls, utcnow()
    try:
        _send(client, conn, options, work, batch.maps, run)
    except ErpLoginError as exc:
        run.refused[conn.id] = (str(exc), attempt_at)  # an edit of the connection after the attempt lifts it
        run.stop(conn, f"iDempiere refused the login: {exc}; fix the login data (oms-bridge erp connection update "
                 f"{conn.value} --password, or the user/role/tenant/org/warehouse in iDempiere), then run oms-bridge "
                 "erp check")
        _release(work, stats)
    except ErpRejected as exc:
        hold = classify_error(str(exc), role_id=conn.erp_role_id)
        for w in _open(work):
            _held(stats, w.row, hold.reason, hold.code)
        run.stop(conn, f"iDempiere refused the whole call: {hold.reason}")
    except ErpTransient as exc:
        _retry_all(work, str(exc), settings, stats, now=now, failure="the ERP did not answer")
        run.stop(conn, f"the ERP did not answer: {exc} (its orders are retried by the next run)")
    except Exception as exc:  # noqa: BLE001 - an answer we cannot read must not stop other connections' batches
        log.exception("ERP delivery batch for connection %s failed unexpectedly", conn.value)
        _retry_all(work, f"unexpected error talking to the ERP: {describe_error(exc)}", settings, stats, now=now,
                   failure="unexpected error talking to the ERP")
    finally:
        stats.api_calls += client.calls - calls_before


def _release(work: list[_Work], stats: RunStats) -> None:
    """Rows this run did not try: due again for the next run, nothing counted against them."""
    for w in _open(work):
        outbox.release(w.row)
        w.done = True
        stats.fetched -= 1
        stats.details["not_tried"] = stats.details.get("not_tried", 0) + 1


def _retry_all(work: list[_Work], error: str, settings: Settings, stats: RunStats, *, now: datetime | None,
               failure: str) -> None:
    for w in _open(work):
        outbox.mark_retry(w.row, error, max_attempts=settings.delivery_max_attempts, now=now, failure=failure)
        stats.failed += 1
        w.done = True


def _open(work: Iterable[_Work]) -> list[_Work]:
    return [w for w in work if not w.done]


def _held(stats: RunStats, row: Delivery, reason: str, code: str) -> None:
    outbox.mark_held(row, reason, code=code)
    stats.held += 1
    kind = row.cause_code or "unknown"
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
          run: _Run) -> None:
    stats, now, settings = run.stats, run.now, run.settings
    for w in work:
        _gate(w, options, stats)
        if not w.done:
            _reference(w, conn, options, stats)
    work = _open(work)
    rows = _precheck(client, options, work)
    owners, rivals = _store_facts(settings, rows, work, options)
    creates: list[_Work] = []
    for w in work:
        match = find_own(rows, order_id=w.order.id, external_id=w.order.external_id, reference=w.ref,
                         legacy=w.legacy, record_id=w.row.erp_record_id, ordersource_id=w.channel.erp_ordersource_id,
                         owners=owners, rivals=rivals.get(w.order.id, 0))
        if match.ambiguous:
            _held(stats, w.row, _ambiguous(w, match.ambiguous), "erp_ambiguous")
            w.done = True
            continue
        found = match.row
        if found:
            owners[int(found["C_Order_ID"])] = w.order.id  # no other order of this batch may take it
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
    products, value_maps = _products(maps, client, options, creates, run.values.setdefault(conn.id, {}))
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
    results = client.composite(options.service_types["composite"], [w.group for w in pending],
                               timeout=_composite_timeout(options, len(pending)))
    for w, group_results in zip(pending, results, strict=True):
        outbox.record_exchange(w.row, request_text(options.service_types["composite"], w.group),
                               answer_text(w.group, group_results))
        _record_group(w, group_results, conn, stats, now=now)
    _fill_document_numbers(client, options, [w for w in pending if w.row.state == "sent"])


def _failure(w: _Work, index: int, text: str, conn: ErpConnection) -> tuple[str, str]:
    """(reason, hold code) for the group's first error: the failing operation names the line/SKU or setting.

    The server stops a group at its first error, so that error's position is the failing operation's.
    """
    op = w.group[index] if index < len(w.group) else None
    role = op.role if op is not None else ""
    sku = product_id = None
    if role.startswith("line:") and isinstance(op, CrudOp):
        line_no = role[len("line:"):]
        sku = next((line.sku for line in w.order.lines if str(line.line_no) == line_no), None)
        product = next((f.val for f in op.fields if f.column == "M_Product_ID"), "")
        product_id = int(product) if product.isdigit() else None
    hold = classify_error(text, role_id=conn.erp_role_id, channel=w.channel.value, op_role=role, sku=sku,
                          product_id=product_id)
    return hold.reason, hold.code


def _fill_document_numbers(client: ErpClient, options: ErpOptions, sent: list[_Work]) -> None:
    """DocumentNo comes back as an output field when the order type lists it; otherwise ask once per batch."""
    missing = [w for w in sent if w.row.action != "cancel" and not w.row.erp_document_no]
    if not missing:
        return
    try:
        rows = client.query(options.service_types["query_order"], "C_Order",
                            filter=precheck_filter((), (w.row.erp_record_id for w in missing if w.row.erp_record_id)))
    except (ErpTransient, ErpRejected) as exc:
        log.warning("could not read DocumentNo of %d sent order(s): %s", len(missing), exc)
        return
    by_id = {r.get("C_Order_ID"): r.get("DocumentNo") for r in rows}
    for w in missing:
        w.row.erp_document_no = by_id.get(str(w.row.erp_record_id)) or None


def _request_text(request: Any) -> str:
    since = f"{request.seen_at:%Y-%m-%d %H:%M} UTC" if request.seen_at else "recently"
    return f"since {since}" + (f" ({request.reason})" if request.reason else "")


def _gate(w: _Work, options: ErpOptions, stats: RunStats) -> None:
    """Orders that must not become a sales order (yet) are held with the reason; the rest go on."""
    if w.order.is_held:  # unreadable at intake: not a held delivery (nothing to fix here); it waits for a re-read
        outbox.mark_waiting(w.row, f"order {w.order.external_id} could not be read at intake: {w.order.held_reason}",
                            code="order_held")
        w.done = True
    elif w.cancel_request and w.row.action != "cancel" and w.order.status != "cancelled" \
            and w.row.delivered_version is None:
        outbox.mark_waiting(w.row, f"order {w.order.external_id} has an open cancellation request from the marketplace "
                            f"{w.cancel_request}: it is not sent to the ERP until the request is answered (never if "
                            "the order is intercepted and cancelled, then as usual if it was too late)",
                            code="cancel_request")
        w.done = True
    elif w.row.action != "cancel" and w.order.status != "cancelled" and w.order.status not in options.create_statuses:
        outbox.mark_waiting(w.row, f"order {w.order.external_id} is {w.order.status}; it goes to the ERP when the "
                            f"marketplace reports it {' / '.join(options.create_statuses[:2])} "
                            "(ERP setting create_statuses)", code=f"awaiting:{w.order.status}")
        w.done = True


def _reference(w: _Work, conn: ErpConnection, options: ErpOptions, stats: RunStats) -> None:
    """This order's POReference (and the old-style one an earlier bridge wrote), or a hold when none fits."""
    try:
        w.ref = reference_of(w.order, ChannelMapping.of(w.channel), options)
    except ReferenceFormatError as exc:
        _held(stats, w.row, f"{exc} (ERP connection {conn.value}: oms-bridge erp connection update {conn.value} "
              "--settings '{\"po_reference_format\": ...}')", f"erp_settings:{conn.value}")
        w.done = True
        return
    w.legacy = legacy_reference(w.order.external_id, options.po_reference_length)


def _precheck(client: ErpClient, options: ErpOptions, work: list[_Work]) -> list[dict[str, str]]:
    """C_Orders the ERP already has for these orders (one queryData): by reference, old-style reference, or id.

    Cancellations are looked up too: the ERP order may be voided already.
    """
    if not work:
        return []
    return erp_orders(client, options, (((w.ref, w.legacy), w.row.erp_record_id) for w in work))


def _store_facts(settings: Settings, rows: list[dict[str, str]], work: list[_Work],
                 options: ErpOptions) -> tuple[dict[int, int], dict[int, int]]:
    """(C_Order_ID → the store order that recorded it, store order → its rivals for an old-style reference).

    A rival is another store order, not yet recorded in the ERP, whose old-style reference (the bare order
    number as the ERP cut it) is the same: then an old-style C_Order could be either's. A short read, no
    lock: the ERP is never called inside a store transaction.
    """
    ids = {int(r["C_Order_ID"]) for r in rows if r.get("C_Order_ID")}
    legacy_hits = {r.get("POReference") for r in rows} & {w.legacy for w in work if w.legacy}
    if not ids:
        return {}, {}
    length = options.po_reference_length
    with session_scope(settings, readonly=True) as session:
        owners = dict(session.execute(
            select(Delivery.erp_record_id, Delivery.oms_order_id)
            .where(Delivery.destination == DESTINATION, Delivery.erp_record_id.in_(ids))).all())
        waiting: list[tuple[int, str]] = []
        if legacy_hits:
            waiting = list(session.execute(
                select(Order.id, func.substr(Order.external_id, 1, length))
                .join(Delivery, Delivery.oms_order_id == Order.id)
                .where(Delivery.destination == DESTINATION, Delivery.erp_record_id.is_(None),
                       func.substr(Order.external_id, 1, length).in_(legacy_hits))).all())
    rivals = {w.order.id: sum(1 for oid, ref in waiting if ref == w.legacy and oid != w.order.id) for w in work}
    return owners, rivals


def _ambiguous(w: _Work, candidates: tuple[dict[str, str], ...]) -> str:
    listed = ", ".join(f"{c.get('C_Order_ID')} (DocumentNo {c.get('DocumentNo')}, {c.get('DocStatus')})"
                       for c in candidates)
    return (f"iDempiere has C_Order(s) {listed} with POReference {w.legacy!r} written by an earlier bridge version, "
            f"and more than one store order could be theirs (order number {w.order.external_id} exists in several "
            f"channels): the bridge does not guess. In iDempiere set the POReference of this order's C_Order to "
            f"{w.ref!r} (or, if none is its, give the others their own channel's reference), then: oms-bridge erp "
            f"retry --order {w.order.external_id}")


def _products(maps: list[SkuMap], client: ErpClient, options: ErpOptions, creates: list[_Work],
              known: dict[str, int | None]) -> tuple[dict[int, dict[str, int]], dict[tuple[str, int], str]]:
    """Per channel: SKU → M_Product_ID for the lines of these orders; and (sku, channel) → mapped search key.

    A channel-specific mapping wins over the global one. ``known`` (M_Product.Value → id, None = not in
    the ERP) lives for the whole run, so a search key is asked for once per run, not once per batch.
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
        ids, values = _resolve(client, options, next(iter(chosen_of.values())), all_skus, known)
        for channel_id in skus_of:
            products[channel_id] = ids
            value_maps.update({(sku, channel_id): v for sku, v in values.items()})
        return products, value_maps
    for channel_id, chosen in chosen_of.items():
        ids, values = _resolve(client, options, chosen, skus_of[channel_id], known)
        products[channel_id] = ids
        value_maps.update({(sku, channel_id): v for sku, v in values.items()})
    return products, value_maps


def _resolve(client: ErpClient, options: ErpOptions, chosen: dict[str, SkuMap], skus: set[str],
             known: dict[str, int | None]) -> tuple[dict[str, int], dict[str, str]]:
    """(SKU → product id, SKU → mapped search key) for ``skus``; unmapped SKUs are searched as M_Product.Value
    (only the values ``known`` does not hold yet)."""
    result = {sku: m.m_product_id for sku, m in chosen.items() if sku in skus and m.m_product_id}
    value_maps = {sku: m.m_product_value for sku, m in chosen.items()
                  if sku in skus and not m.m_product_id and m.m_product_value}
    wanted = {sku: value_maps.get(sku, sku) for sku in skus if sku not in result}
    unknown = {v for v in wanted.values() if v not in known}
    if unknown:
        rows = client.query(options.service_types["query_product"], "M_Product", filter=product_filter(unknown),
                            require=REQUIRED_OUTPUTS["query_product"])
        found = {r["Value"]: int(r["M_Product_ID"]) for r in rows if r.get("M_Product_ID")}
        known.update({value: found.get(value) for value in unknown})
    for sku, value in wanted.items():
        if known.get(value) is not None:
            result[sku] = known[value]  # type: ignore[assignment]
    return result, value_maps


def _record_group(w: _Work, results: list[StdResult], conn: ErpConnection, stats: RunStats, *,
                  now: datetime | None) -> None:
    failed = next((i for i, r in enumerate(results) if r.is_error), None)
    if failed is not None:
        _held(stats, w.row, *_failure(w, failed, results[failed].error or "unknown error", conn))
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
