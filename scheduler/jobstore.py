"""The shared job table, claimed one due job at a time under a lease (issue 18).

APScheduler 3's own round reads *every* due job of the store, advances each one's next run time and
queues them all in its executor. With several instances on one store, the first to wake took every
due job of the cycle into its own queue and the others idled (100 runs / 0 runs), and one instance's
queue waited behind its few worker threads while the others had nothing to do.

Here an instance claims a due job only when one of its workers is free, one job per short transaction:

- **claim**: ``SELECT … WHERE next_run_time <= now ORDER BY next_run_time LIMIT 1 FOR UPDATE SKIP LOCKED``
  (PostgreSQL: concurrent claimers skip each other's row instead of queueing on it; SQLite: the
  transaction holds the write lock, so claims are serialised anyway), then the row's ``next_run_time``
  column is set to the **lease end** (now + ``scheduler_lease_seconds``). The pickled job state keeps
  the scheduled time that was claimed. Other instances see the job as not due until the lease ends.
- **renew**: while the run goes on, the claiming instance moves the lease end forward (every scheduler
  round, at least every ``scheduler_heartbeat_seconds``), but only if the row still holds *its* lease
  end (compare-and-set on the column).
- **release**: after the run, the row gets the trigger's next fire time (column and pickled state),
  again only if it still holds this instance's lease end; a job re-timed or re-taken meanwhile keeps
  what the other writer put there.
- **a lease that ends** (the instance was killed mid-run, or hung): the row falls due at the lease
  end and any instance claims it again. Its column (the lease end) then differs from the pickled
  scheduled time, which marks it as a *re-take*: it runs now, whatever its original time (a missed
  scheduled time would otherwise be dropped by the misfire grace).

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

#: a column value further than this from the pickled scheduled time is a lease end, not a schedule
_LEASE_EPSILON = 0.001


@dataclass
class Claim:
    """A job this instance took from the store: what to run, and the lease it holds on the row."""

    job: Job
    run_times: list[datetime]
    lease_until: float  # the row's next_run_time column while this instance holds the job
    retake: bool = False  # the job was taken over from a lease that ended (its holder died or hung)


def one_line(exc: BaseException) -> str:
    """An error as one log/health line: its type and the first line of its text."""
    text_ = str(exc)
    return f"{type(exc).__name__}: {text_.splitlines()[0] if text_ else ''}"


class BridgeJobStore(SQLAlchemyJobStore):
    """APScheduler's SQLAlchemy job store on the bridge's shared engine, with claims (see module doc).

    Its ``shutdown`` would dispose that engine (every pooled connection of the process): the engine is
    not the job store's to close.
    """

    round_error: str | None = None

    def get_due_jobs(self, now):
        """APScheduler swallows this call's errors (a warning, then a retry): remember them for the health."""
        try:
            return super().get_due_jobs(now)
        except Exception as exc:
            self.round_error = one_line(exc)
            raise

    def claim_due_job(self, now: datetime, lease_seconds: float, *, coalesce: bool = True) -> Claim | None:
        """Take the earliest due job not being claimed by anyone else, or None when nothing is due."""
        now_ts = datetime_to_utc_timestamp(now)
        lease_until = datetime_to_utc_timestamp(now + timedelta(seconds=lease_seconds))
        t = self.jobs_t
        query = (select(t.c.id, t.c.next_run_time, t.c.job_state).where(t.c.next_run_time <= now_ts)
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
                scheduled = datetime_to_utc_timestamp(job.next_run_time)
                retake = scheduled is None or abs(float(row.next_run_time) - scheduled) > _LEASE_EPSILON
                if retake:
                    run_times = [now]
                else:
                    run_times = job._get_run_times(now)
                    run_times = run_times[-1:] if run_times and coalesce else run_times
                    if not run_times:  # due by the column but not by its trigger: run it now
                        run_times = [now]
                conn.execute(t.update().where(t.c.id == row.id).values(next_run_time=lease_until))
                return Claim(job, run_times, lease_until, retake)

    def renew(self, claim: Claim, now: datetime, lease_seconds: float) -> bool:
        """Move the lease end forward; False when the row no longer holds this claim's lease."""
        until = datetime_to_utc_timestamp(now + timedelta(seconds=lease_seconds))
        t = self.jobs_t
        with self.engine.begin() as conn:
            done = conn.execute(t.update().where(t.c.id == claim.job.id, t.c.next_run_time == claim.lease_until)
                                .values(next_run_time=until)).rowcount
        if done:
            claim.lease_until = until
        return bool(done)

    def release(self, claim: Claim, now: datetime) -> bool:
        """Give the job its next fire time after the run (or remove a job with none); False when the row no
        longer holds this claim's lease (re-timed, removed or re-taken meanwhile: their value stands)."""
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

    def shutdown(self) -> None:
        """Nothing to close: the engine belongs to the bridge."""
