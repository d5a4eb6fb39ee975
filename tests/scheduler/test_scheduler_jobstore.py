"""The shared job table's compare-and-set writes: a start-up re-time never overwrites another instance's claim.

Regression for the race found in issue 18: a second instance starting up read an overdue job, the first instance
claimed it (its row now holding the lease end), and the second's catch-up spread then re-timed the row with a blind
write, so the job fell due again and ran twice in one cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import select

from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.store.db import session_scope
from oms_bridge.vault import Vault
from scheduler.builder import build_scheduler
from scheduler.config import ScheduleConfig
from scheduler.jobstore import BridgeJobStore
from scheduler.sync import reconcile

CFG = ScheduleConfig(getorder_minutes=5, refreshtoken_minutes=30, delivery_seconds=60, sync_seconds=0.2,
                     first_run_delay_seconds=3600)
LEASE = 600.0


def _scheduler(settings):
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        add_platform(s, vault, value="momo-app", platform_type="momo", host="http://127.0.0.1:9")
        channel = add_channel(s, vault, value="momo-a", platform="momo-app", shop_id="42")
        channel.auth_state = "active"
        job_id = f"getorder:{channel.id}"
    sched = build_scheduler(settings, CFG)
    sched.start(paused=True)
    reconcile(sched, settings, CFG)
    return sched, job_id


def _store(sched) -> BridgeJobStore:
    store = sched._lookup_jobstore("default")
    assert isinstance(store, BridgeJobStore)
    return store


def _row_time(store: BridgeJobStore, job_id: str) -> float:
    t = store.jobs_t
    with store.engine.connect() as conn:
        return conn.execute(select(t.c.next_run_time).where(t.c.id == job_id)).scalar_one()


def _overdue(sched, job_id: str) -> datetime:
    an_hour_ago = datetime.now(UTC) - timedelta(hours=1)
    sched.modify_job(job_id, jobstore="default", next_run_time=an_hour_ago)
    return an_hour_ago


def test_retime_applies_while_the_row_is_as_read(store_settings):
    sched, job_id = _scheduler(store_settings)
    try:
        _overdue(sched, job_id)
        store = _store(sched)
        job = store.lookup_job(job_id)
        until = datetime.now(UTC) + timedelta(seconds=90)
        assert store.retime_if_unchanged(job, until)
        assert _row_time(store, job_id) == datetime_to_utc_timestamp(until)
        assert store.lookup_job(job_id).next_run_time == until  # the pickled state agrees with the column
    finally:
        sched.shutdown(wait=False)


def test_retime_leaves_a_claim_made_since_the_read(store_settings):
    sched, job_id = _scheduler(store_settings)
    try:
        _overdue(sched, job_id)
        store = _store(sched)
        stale = store.lookup_job(job_id)  # what the starting instance read
        claim = store.claim_due_job(datetime.now(UTC), LEASE)  # the running instance takes it meanwhile
        assert claim is not None and claim.job.id == job_id
        assert not store.retime_if_unchanged(stale, datetime.now(UTC) + timedelta(seconds=5))
        assert _row_time(store, job_id) == claim.lease_until  # still the claim's lease: not due again
        assert store.claim_due_job(datetime.now(UTC) + timedelta(seconds=10), LEASE) is None
        assert store.release(claim, datetime.now(UTC))  # and the claimer can still release it
    finally:
        sched.shutdown(wait=False)


def test_retime_of_a_removed_job_is_a_no_op(store_settings):
    sched, job_id = _scheduler(store_settings)
    try:
        store = _store(sched)
        job = store.lookup_job(job_id)
        sched.remove_job(job_id, jobstore="default")
        assert not store.retime_if_unchanged(job, datetime.now(UTC) + timedelta(seconds=5))
        assert store.lookup_job(job_id) is None
    finally:
        sched.shutdown(wait=False)


def test_start_up_spread_keeps_a_lease_taken_between_its_read_and_its_write(store_settings, monkeypatch):
    """The whole start-up path: reconcile reads the jobs, another instance claims one, the spread must not undo it."""
    sched, job_id = _scheduler(store_settings)
    try:
        _overdue(sched, job_id)
        store = _store(sched)
        claims = []
        read_jobs = sched.get_jobs

        def read_then_other_instance_claims(*args, **kwargs):
            jobs = read_jobs(*args, **kwargs)
            claims.append(store.claim_due_job(datetime.now(UTC), LEASE))
            return jobs

        monkeypatch.setattr(sched, "get_jobs", read_then_other_instance_claims)
        reconcile(sched, store_settings, CFG, spread_overdue=True)
        assert claims and claims[0] is not None and claims[0].job.id == job_id
        assert _row_time(store, job_id) == claims[0].lease_until
    finally:
        sched.shutdown(wait=False)
