"""The outbox's lease (one claim mechanism for every destination) on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, Order, Platform

T = datetime(2026, 3, 1, 4, 0, tzinfo=UTC)


def _rows(settings: Settings, n: int, *, state: str = "pending") -> tuple[str, list[int]]:
    """``n`` orders with a delivery row each, for a destination of this test alone (the PostgreSQL
    database is shared by the module's tests). Returns (destination, order ids)."""
    tag = uuid.uuid4().hex[:8]
    dest = f"t-{tag}"
    with session_scope(settings) as s:
        platform = Platform(value=f"p-{tag}", name="P", platform_type="shopee", host="http://127.0.0.1:9")
        s.add(platform)
        s.flush()
        channel = Channel(value=f"c-{tag}", name="C", oms_platform_id=platform.id)
        s.add(channel)
        s.flush()
        ids = []
        for i in range(n):
            order = Order(oms_channel_id=channel.id, external_id=f"{tag}-{i}", status="paid")
            s.add(order)
            s.flush()
            for row in outbox.arm(s, order, [dest]):
                row.state = state
            ids.append(order.id)
    return dest, ids


def _lease(settings: Settings, dest: str, *, now: datetime, limit: int = 100, seconds: float = 60,
           exclude: tuple[int, ...] = ()) -> list[outbox.Lease]:
    with session_scope(settings, immediate=True) as s:
        return outbox.lease_due(s, dest, now=now, limit=limit, lease_seconds=seconds, exclude=exclude)


def _row(settings: Settings, delivery_id: int) -> Delivery:
    with session_scope(settings) as s:
        return s.get(Delivery, delivery_id)


def test_store_outbox_lease_hides_rows_until_the_lease_ends(store_settings: Settings):
    dest, _ = _rows(store_settings, 3)
    other_dest, _ = _rows(store_settings, 1)
    held_dest, _ = _rows(store_settings, 2, state="held")

    first = _lease(store_settings, dest, now=T)
    assert len(first) == 3 and [x.delivery_id for x in first] == sorted(x.delivery_id for x in first)
    for lease in first:
        stored = _row(store_settings, lease.delivery_id)
        assert stored.state == "retry" and stored.next_attempt_at == lease.until == T + timedelta(seconds=60)
        assert stored.attempts == 0 and lease.row.oms_order_id == stored.oms_order_id

    assert _lease(store_settings, dest, now=T + timedelta(seconds=59)) == []  # leased: nobody else takes them
    assert _lease(store_settings, held_dest, now=T + timedelta(days=1)) == []  # held rows wait for a fix

    # The worker died: when the lease ends the rows are due again, under a new lease.
    again = _lease(store_settings, dest, now=T + timedelta(seconds=61))
    assert {x.delivery_id for x in again} == {x.delivery_id for x in first}
    assert all(x.until == T + timedelta(seconds=121) for x in again)
    assert len(_lease(store_settings, other_dest, now=T)) == 1  # another destination's row was left alone


def test_store_outbox_limit_and_exclude(store_settings: Settings):
    dest, _ = _rows(store_settings, 5)
    with session_scope(store_settings) as s:
        ids = sorted(s.scalars(select(Delivery.id).where(Delivery.destination == dest)))
    assert [x.delivery_id for x in _lease(store_settings, dest, now=T, limit=2, exclude=(ids[0],))] == ids[1:3]
    assert [x.delivery_id for x in _lease(store_settings, dest, now=T, limit=10)] == [ids[0], *ids[3:]]


def test_store_outbox_outcome_is_recorded_only_under_its_own_lease(store_settings: Settings):
    dest, order_ids = _rows(store_settings, 3)
    kept, rearmed, taken = _lease(store_settings, dest, now=T)

    with session_scope(store_settings, immediate=True) as s:  # a newer order version re-arms one row
        order = s.get(Order, order_ids[1])
        order.version += 1
        outbox.arm(s, order, [dest])
    later = _lease(store_settings, dest, now=T + timedelta(seconds=61))  # another worker after the lease
    assert {x.delivery_id for x in later} == {rearmed.delivery_id, taken.delivery_id, kept.delivery_id}
    [mine_again] = [x for x in later if x.delivery_id == kept.delivery_id]

    with session_scope(store_settings, immediate=True) as s:
        assert outbox.leased_row(s, rearmed) is None  # re-armed (new version) and re-leased
        assert outbox.leased_row(s, taken) is None  # another worker's lease now
        assert outbox.leased_row(s, kept) is None  # even the same worker's old lease is over
        row = outbox.leased_row(s, mine_again)
        assert row is not None
        outbox.mark_sent(row, now=T)
    assert _row(store_settings, kept.delivery_id).state == "sent"

    with session_scope(store_settings, immediate=True) as s:  # admin retry while a lease is out
        outbox.rearm(s, dest, order_ids=[order_ids[2]])
    with session_scope(store_settings, immediate=True) as s:
        [lease] = [x for x in later if x.delivery_id == taken.delivery_id]
        assert outbox.leased_row(s, lease) is None
    assert _row(store_settings, taken.delivery_id).state == "pending"


def test_store_outbox_lease_deadline_comes_before_the_lease_ends(store_settings: Settings):
    dest, _ = _rows(store_settings, 2)
    short, long = _lease(store_settings, dest, now=T, limit=1, seconds=0.05)[0], \
        _lease(store_settings, dest, now=T, limit=1, seconds=60)[0]
    assert not long.expired()
    time.sleep(0.06)
    assert short.expired() and not long.expired()


def test_store_outbox_concurrent_workers_lease_each_row_once(store_settings: Settings):
    """PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: BEGIN IMMEDIATE. No row is leased by two workers."""
    dest, _ = _rows(store_settings, 24)
    leased: Counter[int] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            while True:
                leases = _lease(store_settings, dest, now=T, limit=2)
                if not leases:
                    return
                with lock:
                    leased.update(x.delivery_id for x in leases)
                time.sleep(0.005)  # "the I/O phase", no transaction open
                with session_scope(store_settings, immediate=True) as s:
                    for lease in leases:
                        outbox.mark_sent(outbox.leased_row(s, lease), now=T)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors, errors
    assert len(leased) == 24 and set(leased.values()) == {1}
    with session_scope(store_settings) as s:
        states = s.scalars(select(Delivery.state).where(Delivery.destination == dest)).all()
    assert states == ["sent"] * 24


def test_store_outbox_a_live_lease_is_never_stolen(store_settings: Settings):
    """An admin retry leaves a row a worker holds alone (it is "retry" while leased, like a row waiting for its
    backoff); a newer order version resets the row but keeps the lease; the worker's outcome still counts for its
    version, and a superseded lease ends at once so the new version is due."""
    now = datetime.now(UTC)
    dest, order_ids = _rows(store_settings, 3)
    waiting, flying, changed = _lease(store_settings, dest, now=now, seconds=600)
    with session_scope(store_settings, immediate=True) as s:  # the first one failed: it waits for its backoff
        outbox.mark_retry(outbox.leased_row(s, waiting), "503", max_attempts=8, now=now)
    with session_scope(store_settings, immediate=True) as s:
        assert outbox.count_leased(s, dest) == 2
        assert outbox.rearm(s, dest) == 1  # only the row waiting for its backoff
        assert outbox.rearm(s, dest, order_ids=[order_ids[1]]) == 0
        assert outbox.count_leased(s, dest, order_ids=[order_ids[1]]) == 1
        order = s.get(Order, order_ids[2])  # GetOrder stores a newer version of the third order
        order.version += 1
        outbox.arm(s, order, [dest])
    again = _lease(store_settings, dest, now=now + timedelta(seconds=1))
    assert [x.delivery_id for x in again] == [waiting.delivery_id]  # the two leased rows stay invisible
    with session_scope(store_settings, immediate=True) as s:
        row = outbox.leased_row(s, flying)
        assert row is not None and row.state == "retry"
        outbox.mark_sent(row, now=now)
        assert outbox.leased_row(s, changed) is None  # superseded by the new version: its lease ends now
    stored = _row(store_settings, flying.delivery_id)
    assert stored.state == "sent" and stored.leased_until is None
    assert [x.delivery_id for x in _lease(store_settings, dest, now=now + timedelta(seconds=2))] == \
        [changed.delivery_id]


def test_store_outbox_mark_waiting_rows_marks_each_row_seen_and_spares_a_rearmed_one(store_settings: Settings):
    """The OMS's first read marks its page's rows ``waiting`` with one executemany UPDATE (issue 18): each row gets
    its own reason, the hold code's cause, no lease and a new ``updated``, as :func:`outbox.mark_waiting` gives one
    row; a row GetOrder re-armed for a newer version after the reader looked is left pending."""
    dest, ids = _rows(store_settings, 3)
    with session_scope(store_settings) as s:
        rows = {r.oms_order_id: r for r in s.scalars(select(Delivery).where(Delivery.destination == dest))}
        seen = {oid: (rows[oid].id, rows[oid].order_version, rows[oid].updated) for oid in ids}
        rows[ids[0]].leased_until = T
    with session_scope(store_settings) as s:  # GetOrder re-arms the third order's row for version 2
        order = s.get(Order, ids[2])
        order.version = 2
        outbox.arm(s, order, [dest])
    reasons = {(row_id, version): f"read v{version} of {oid}" for oid, (row_id, version, _u) in seen.items()}
    with session_scope(store_settings) as s:
        changed = outbox.mark_waiting_rows(s, reasons, destination=dest, code="oms_unacknowledged")
    assert changed == 2
    with session_scope(store_settings) as s:
        after = {r.oms_order_id: r for r in s.scalars(select(Delivery).where(Delivery.destination == dest))}
        for oid in ids[:2]:
            row = after[oid]
            assert (row.state, row.last_error, row.hold_code) == ("waiting", f"read v1 of {oid}", "oms_unacknowledged")
            assert row.leased_until is None and row.next_attempt_at is None
            assert row.updated > seen[oid][2]
            single = Delivery(destination=dest)
            outbox.mark_waiting(single, "x", code="oms_unacknowledged")
            assert (row.cause_code, row.cause_subject) == (single.cause_code, single.cause_subject)
        assert (after[ids[2]].state, after[ids[2]].order_version) == ("pending", 2)
