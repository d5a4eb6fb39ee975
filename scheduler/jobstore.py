"""The shared job table, claimed one due job at a time under a lease (issue 18).

APScheduler 3's own round reads *every* due job of the store, advances each one's next run time and
queues them all in its executor. With several instances on one store, the first to wake took every
due job of the cycle into its own queue and the others idled (100 runs / 0 runs), and one instance's
queue waited behind its few worker threads while the others had nothing to do.

Here an instance claims a due job only when one of its workers is free, one job per short transaction:

- **claim**: ``SELECT … WHERE next_run_time <= now ORDER BY next_run_time LIMIT 1 FOR UPDATE SKIP LOCKED``
  (PostgreSQL: concurrent claimers skip each other's row instead of queueing on it; SQLite: the
  transaction holds the write lock, so claims are serialised anyway), then the row's ``next_run_time``
  (column and pickled state alike, so every reader, the start-up catch-up spread included, sees the
  job as not due) is set to the **lease end** (now + ``scheduler_lease_seconds``). The scheduled time
  that was claimed stays with the claim in memory.
- **renew**: while the run goes on, the claiming instance moves the lease end forward (every scheduler
  round, at least every third of the lease), but only if the row still holds *its* lease end
  (compare-and-set on the column).
- **release**: after the run, the row gets the trigger's next fire time (column and pickled state),
  again only if it still holds this instance's lease end; a job re-timed or re-taken meanwhile keeps
  what the other writer put there.
- **a lease that ends** (the instance was killed mid-run, or hung): the row falls due at the lease
  end and any instance claims it again and runs it at once (the lease end is its run time, well
  inside the misfire grace).

The run locks (:mod:`scheduler.locks`) still guard every job body, so a job re-taken while its first
run in fact goes on is skipped, never run twice at once; deliveries lease their outbox rows as before.
"""

from __future__ import annotations

import pickle
from dataclasses import dataclass
from datetime import datetime, timedelta

from apscheduler.job import Job
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.util import datetime_to_utc_timestamp
from sqlalchemy import select

__all__ = ["BridgeJobStore", "Claim", "one_line"]

@dataclass
class Claim:
    """A job this instance took from the store: what to run, and the lease it holds on the row."""

    job: Job
    run_times: list[datetime]
    lease_until: float  # the row's next_run_time while this instance holds the job
    lost: bool = False  # the row was re-timed or re-taken meanwhile: no more renewals, nothing to release


def one_line(exc: BaseException) -> str:
    """An error as one log/health line: its type and the first line of its text."""
    text_ = str(exc)
    return f"{type(exc).__name__}: {text_.splitlines()[0] if text_ else ''}"


class BridgeJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store on the bridge's shared engine, with claims (see module doc).

    Its ``shutdown`` would dispose that engine (every pooled connection of the process): the engine is
    not the job store's to close.
    """

    def claim_due_job(self, now: datetime, lease_seconds: float, *, coalesce: bool = True) -> Claim | None:
        """Take the earliest due job not being claimed by anyone else, or None when nothing is due."""
        t = self.jobs_t
        query = (select(t.c.id, t.c.job_state).where(t.c.next_run_time <= datetime_to_utc_timestamp(now))
                 .order_by(t.c.next_run_time).limit(1).with_for_update(skip_locked=True))
        with self.engine.begin() as conn:
            while True:
                row = conn.execute(query).first()
                if row is None:
                    return None
                try:
                    job = self._reconstitute_job(row.job_state)
                except Exception:  # noqa: BLE001 - an unreadable job: APScheduler's rule, remove it
                    self._logger.exception('Unable to restore job "%s" -- removing it', row.id)
                    conn.execute(t.delete().where(t.c.id == row.id))
                    continue
                run_times = job._get_run_times(now) or [now]
                claim = Claim(job, run_times[-1:] if coalesce else run_times, 0.0)
                claim.lease_until = self._write_lease(conn, claim, now, lease_seconds, None)
                return claim

    def renew(self, claim: Claim, now: datetime, lease_seconds: float) -> bool:
        """Move the lease end forward; False when the row no longer holds this claim's lease."""
        with self.engine.begin() as conn:
            until = self._write_lease(conn, claim, now, lease_seconds, claim.lease_until)
        if until is None:
            claim.lost = True
            return False
        claim.lease_until = until
        return True

    def _write_lease(self, conn, claim: Claim, now: datetime, lease_seconds: float, held: float | None) -> float | None:
        """Set the row's next run time (column and pickled state) to the lease end; ``held``: only if the column
        still holds that lease end. The lease end or None when the row was not this claim's any more."""
        until = now + timedelta(seconds=lease_seconds)
        job = claim.job
        job._modify(next_run_time=until)
        t = self.jobs_t
        mine = t.c.id == job.id if held is None else (t.c.id == job.id) & (t.c.next_run_time == held)
        done = conn.execute(t.update().where(mine).values(
            next_run_time=datetime_to_utc_timestamp(until),
            job_state=pickle.dumps(job.__getstate__(), self.pickle_protocol))).rowcount
        return datetime_to_utc_timestamp(until) if done else None

    def release(self, claim: Claim, now: datetime) -> bool:
        """Give the job its next fire time after the run (or remove a job with none); False when the row no
        longer holds this claim's lease (re-timed, removed or re-taken meanwhile: their value stands)."""
        if claim.lost:
            return False
        job = claim.job
        next_run = job.trigger.get_next_fire_time(claim.run_times[-1], now)
        t = self.jobs_t
        mine = (t.c.id == job.id) & (t.c.next_run_time == claim.lease_until)
        with self.engine.begin() as conn:
            if next_run is None:
                return bool(conn.execute(t.delete().where(mine)).rowcount)
            job._modify(next_run_time=next_run)
            state = pickle.dumps(job.__getstate__(), self.pickle_protocol)
            return bool(conn.execute(t.update().where(mine).values(
                next_run_time=datetime_to_utc_timestamp(next_run), job_state=state)).rowcount)

    def retime_if_unchanged(self, job: Job, until: datetime) -> bool:
        """Move the job's next run time to ``until`` only while its row still holds the next run time ``job`` was
        read with: a claim (lease end) or a release (next interval) written since by another instance stands.
        False when it did (or the job is gone)."""
        t = self.jobs_t
        held = t.c.next_run_time == datetime_to_utc_timestamp(job.next_run_time)
        job._modify(next_run_time=until)
        with self.engine.begin() as conn:
            return bool(conn.execute(t.update().where((t.c.id == job.id) & held).values(
                next_run_time=datetime_to_utc_timestamp(until),
                job_state=pickle.dumps(job.__getstate__(), self.pickle_protocol))).rowcount)

    def shutdown(self) -> None:
        """Nothing to close: the engine belongs to the bridge."""
