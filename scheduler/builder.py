"""Build and start the APScheduler 3 ``BackgroundScheduler`` the bridge runs.

Jobs live in APScheduler's ``SQLAlchemyJobStore`` in the bridge's own database (table
``apscheduler_jobs``), shared by every instance, so a job's next run time survives restarts and an
instance that dies leaves its jobs for the others. Several instances starting at once would race to
create that table (PostgreSQL answers one of them with a unique violation on ``pg_type``), so it
is created here first under a transaction-scoped advisory lock.

Rounds claim jobs (issue 18): APScheduler's own round queued every due job of the shared table in the
first instance to wake; here a round claims one due job at a time, only while a worker is free, under a
lease that the instance renews while the run goes on and that another instance takes over when it ends
(:mod:`scheduler.jobstore`). A finished run releases its job (its next run time) and wakes the loop to
claim the next one. So several instances, or the worker processes of ``run --processes``, share a cycle.

Job defaults: ``max_instances=1`` (one run of a job at a time per instance; the run locks extend
that across instances), ``coalesce=True`` (a backlog of missed runs becomes one run) and
``misfire_grace_time`` from :class:`scheduler.config.ScheduleConfig`.

The reconcile loop (:func:`scheduler.sync.reconcile` every ``sync_seconds``) runs in its own thread,
not as an APScheduler job: APScheduler 3's ``shutdown(wait=True)`` holds the job-store lock while it
waits for running jobs, so a job that calls back into the scheduler (``get_jobs``/``add_job``) at
that moment would deadlock the shutdown. :class:`BridgeScheduler` stops the loop first, then shuts
APScheduler down, waiting for running jobs to finish. Each round also wakes the scheduler up:
APScheduler sleeps until the next run time *it* knows of and only wakes early for jobs it added
itself, so without this an instance would never notice jobs another instance added to the shared
store (and would sit idle after taking over from a dead instance).

Staying alive, and saying so truthfully (issue 11): APScheduler 3 lets an exception from its job store
(``update_job``/``get_next_run_time``, e.g. "database is locked") end its thread, after which no job ever
runs again while ``running`` still says True. :class:`BridgeScheduler` catches every error of a round,
logs it in one line, and retries after ``jobstore_retry_interval`` seconds; each round that completes is
a heartbeat, and the loop wakes at least every ``scheduler_heartbeat_seconds``. :meth:`BridgeScheduler.health`
reports ``dead`` (thread gone), ``failing`` (the last round raised), ``stalled`` (no round completed, or
a job overdue, for ``scheduler_stall_seconds``), else ``running``; ``/healthz`` answers 503 for all but
``running``. Should the thread die anyway, ``oms-bridge run`` exits with status 1 so a supervisor
restarts it.

Shutdown order: the reconcile loop stops, then no new round starts (a round in progress finishes while
the executor still takes jobs), then APScheduler waits for the running jobs. Submitting to an executor
already shut down ("cannot schedule new futures after shutdown") cannot happen.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from apscheduler.events import EVENT_JOB_SUBMITTED, JobSubmissionEvent
from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.schedulers.base import STATE_PAUSED, STATE_STOPPED
from sqlalchemy import select, text

from oms_bridge.settings import Settings, SettingsError
from oms_bridge.store.db import get_engine, pool_capacity, pool_limit, scheduler_workers, session_scope
from scheduler.config import ScheduleConfig
from scheduler.jobstore import BridgeJobStore, Claim, one_line
from scheduler.locks import lock_key
from scheduler.sync import JOBSTORE, reconcile

__all__ = ["BridgeScheduler", "BridgeJobStore", "ClaimingExecutor", "SchedulerHealth", "build_scheduler",
           "start_scheduler"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SchedulerHealth:
    """What ``/healthz`` and ``/metrics`` say about this instance's scheduler."""

    state: str  # running | paused | stopped | dead | failing | stalled
    reason: str = ""
    last_round_at: datetime | None = None
    overdue_jobs: int = 0

    @property
    def ok(self) -> bool:
        return self.state in ("running", "paused")


class ClaimingExecutor(ThreadPoolExecutor):
    """APScheduler's thread pool that tells the scheduler when a run ended (to release its claim)."""

    def __init__(self, max_workers: int, on_finished: Callable[[str], None]):
        super().__init__(max_workers)
        self.max_workers = int(max_workers)
        self._on_finished = on_finished

    def _run_job_success(self, job_id, events):
        try:
            super()._run_job_success(job_id, events)
        finally:
            self._on_finished(job_id)

    def _run_job_error(self, job_id, exc, traceback=None):
        try:
            super()._run_job_error(job_id, exc, traceback)
        finally:
            self._on_finished(job_id)


class BridgeScheduler(BackgroundScheduler):
    """APScheduler plus the reconcile loop, a heartbeat, error survival and an ordered shutdown."""

    def __init__(self, settings: Settings, cfg: ScheduleConfig, **options):
        options.setdefault("executors", {"default": ClaimingExecutor(cfg.max_workers, self._run_finished)})
        super().__init__(**options)
        self.settings = settings
        self.cfg = cfg
        self._sync_stop = threading.Event()
        self.sync_thread: threading.Thread | None = None
        self.sync_problems: dict[str, str] = {}
        self._round_lock = threading.Lock()
        self._stopping = False
        self.last_round_at: datetime | None = None  # end of the last round that completed (the heartbeat)
        self.last_round_error: str | None = None  # set while rounds fail, cleared by the next good one
        self._claims: dict[str, Claim] = {}  # job id -> the claim of its run going on in this instance
        self._unreleased: dict[str, Claim] = {}  # job id -> a claim whose run ended but whose release failed
        self._claims_lock = threading.Lock()

    # -- the APScheduler loop ---------------------------------------------------------------------
    def _process_jobs(self):
        """One round that never ends the scheduler thread (see module doc)."""
        with self._round_lock:
            if self._stopping:
                return None
            try:
                wait = self._claim_round()
                failed = None
            except Exception as exc:  # noqa: BLE001 - any job-store error: log, report, retry
                failed = one_line(exc)
                wait = self.jobstore_retry_interval
            if failed is not None:
                if failed != self.last_round_error:
                    log.error("scheduler round failed (%s); retrying in %s s", failed, self.jobstore_retry_interval)
                self.last_round_error = failed
                return min(wait or self.jobstore_retry_interval, self.jobstore_retry_interval)
            if self.last_round_error is not None:
                log.info("scheduler rounds work again")
            self.last_round_error = None
            self.last_round_at = datetime.now(UTC)
            return self.cfg.heartbeat_seconds if wait is None else min(wait, self.cfg.heartbeat_seconds)

    def _claim_round(self) -> float | None:
        """Renew this instance's leases, claim due jobs one at a time while a worker is free, and say how long
        to sleep (:mod:`scheduler.jobstore`)."""
        if self.state == STATE_PAUSED:
            return None
        store = self._jobstores[JOBSTORE]
        executor = self._lookup_executor("default")
        lease = self.cfg.lease_seconds
        with self._jobstores_lock:
            now = datetime.now(UTC)
            self._retry_releases(store, now)
            self._renew_leases(store, now)
            while self._free_workers(executor) > 0:
                claim = store.claim_due_job(now, lease)
                if claim is None:
                    break
                self._start_claimed(claim, executor)
            if self._free_workers(executor) > 0:
                next_run = store.get_next_run_time()
                wait = None if next_run is None else max(0.0, (next_run - datetime.now(UTC)).total_seconds())
            else:
                wait = None  # every worker busy: a finished run wakes the loop (see _run_finished)
        if self._claims:  # renew well before the lease ends
            wait = lease / 3 if wait is None else min(wait, lease / 3)
        return wait

    def _free_workers(self, executor: ClaimingExecutor) -> int:
        with self._claims_lock:
            return executor.max_workers - len(self._claims)

    def _renew_leases(self, store: BridgeJobStore, now: datetime) -> None:
        with self._claims_lock:
            claims = list(self._claims.values())
        for claim in claims:
            if not claim.lost and claim.lease_until - now.timestamp() < self.cfg.lease_seconds * 2 / 3 \
                    and not store.renew(claim, now, self.cfg.lease_seconds):
                log.info("job %s: its lease was taken over or the job re-timed; the run goes on under its run lock",
                         claim.job.id)

    def _start_claimed(self, claim: Claim, executor: ClaimingExecutor) -> None:
        job = claim.job
        with self._claims_lock:
            running = self._claims.get(job.id)
            if running is not None:  # our own run outlived its lease and we took it again: keep running it
                running.lease_until, running.lost = claim.lease_until, False
                return
            self._claims[job.id] = claim
        try:
            executor.submit_job(job, claim.run_times)
        except BaseException:
            with self._claims_lock:
                self._claims.pop(job.id, None)
            raise
        self._dispatch_event(JobSubmissionEvent(EVENT_JOB_SUBMITTED, job.id, JOBSTORE, claim.run_times))

    def _run_finished(self, job_id: str) -> None:
        """A run ended (in the worker's thread): give the job its next run time, then let the loop claim more."""
        with self._claims_lock:
            claim = self._claims.pop(job_id, None)
        if claim is not None:
            try:
                self._jobstores[JOBSTORE].release(claim, datetime.now(UTC))
            except Exception as exc:  # noqa: BLE001 - the next round retries (or the lease ends by itself)
                log.error("job %s: could not record its next run time (%s); retrying", job_id, one_line(exc))
                with self._claims_lock:
                    self._unreleased[job_id] = claim
        if self.running:
            self.wakeup()

    def _retry_releases(self, store: BridgeJobStore, now: datetime) -> None:
        """Release the claims whose release failed (a job-store error): their jobs get their next run time as
        soon as the store answers again, instead of waiting for their leases to end."""
        with self._claims_lock:
            pending = list(self._unreleased.values())
        for claim in pending:
            store.release(claim, now)  # an error fails the round: reported, retried
            with self._claims_lock:
                self._unreleased.pop(claim.job.id, None)

    # -- the reconcile loop -----------------------------------------------------------------------
    def start_sync(self) -> None:
        """Reconcile now (spreading the catch-up runs of overdue jobs), then every ``sync_seconds`` in a
        background thread."""
        self._reconcile(spread_overdue=True)
        self.sync_thread = threading.Thread(target=self._sync_loop, name="scheduler-sync", daemon=True)
        self.sync_thread.start()

    def _reconcile(self, *, spread_overdue: bool = False) -> None:
        result = reconcile(self, self.settings, self.cfg, spread_overdue=spread_overdue)
        for job_id, problem in result.problems.items():
            if self.sync_problems.get(job_id) != problem:  # once per new problem, not every round
                log.error("job %s cannot be scheduled: %s", job_id, problem)
        self.sync_problems = dict(result.problems)

    def _sync_loop(self) -> None:
        while not self._sync_stop.wait(self.cfg.sync_seconds):
            try:
                self._reconcile()
                # Re-read the shared store: APScheduler only wakes for jobs it changed itself, so jobs
                # another instance added (or whose times it moved) would otherwise wait unseen.
                self.wakeup()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the loop; next round retries
                log.exception("reconciling jobs with the channel table failed; retrying in %s s",
                              self.cfg.sync_seconds)

    # -- health -----------------------------------------------------------------------------------
    @property
    def thread_alive(self) -> bool:
        thread = getattr(self, "_thread", None)
        return thread is not None and thread.is_alive()

    def health(self, now: datetime | None = None) -> SchedulerHealth:
        """The truth about this scheduler (see module doc); reads the shared job table for overdue jobs."""
        now = now or datetime.now(UTC)
        last = self.last_round_at
        if self.state == STATE_STOPPED:
            return SchedulerHealth("stopped", "the scheduler is not running", last)
        if not self.thread_alive:
            return SchedulerHealth("dead", "the scheduler thread has ended: no job runs any more", last)
        if self.last_round_error:
            return SchedulerHealth("failing", f"the job store fails: {self.last_round_error}", last)
        stall = timedelta(seconds=self.cfg.stall_seconds)
        paused = self.state == STATE_PAUSED
        if last is not None and now - last > stall and not paused:
            return SchedulerHealth("stalled", f"no scheduler round completed for {(now - last).total_seconds():.0f} s",
                                   last)
        overdue = self._overdue_jobs(now - stall)
        if overdue:
            job_id = min(overdue, key=overdue.__getitem__)
            late = (now - overdue[job_id]).total_seconds()
            return SchedulerHealth("stalled", f"{len(overdue)} job(s) overdue (e.g. {job_id}, due {late:.0f} s ago): "
                                              "due jobs stopped running", last, len(overdue))
        return SchedulerHealth("paused" if paused else "running", "", last)

    def _overdue_jobs(self, before: datetime) -> dict[str, datetime]:
        store = self._jobstores.get(JOBSTORE)
        if not isinstance(store, SQLAlchemyJobStore):
            return {}
        table = store.jobs_t
        try:
            with session_scope(self.settings, readonly=True) as session:
                rows = session.execute(select(table.c.id, table.c.next_run_time)
                                       .where(table.c.next_run_time < before.timestamp())).all()
        except Exception:  # noqa: BLE001 - the store is unreachable: /healthz reports the database itself
            return {}
        return {job_id: datetime.fromtimestamp(float(ts), UTC) for job_id, ts in rows}

    # -- shutdown ---------------------------------------------------------------------------------
    def shutdown(self, wait: bool = True) -> None:
        """Stop reconciling, let the round in progress finish, then stop APScheduler (``wait``: let running
        jobs finish their batch). Nothing is submitted to an executor that is shut down."""
        self._sync_stop.set()
        if self.sync_thread is not None and self.sync_thread is not threading.current_thread():
            self.sync_thread.join()
        with self._round_lock:
            self._stopping = True
        super().shutdown(wait=wait)


def _create_jobstore_table(settings: Settings, store: SQLAlchemyJobStore) -> None:
    engine = get_engine(settings)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), dict(zip("ab", lock_key("jobstore-ddl", 0),
                                                                                     strict=True)))
        store.jobs_t.create(conn, checkfirst=True)


def _check_pool(settings: Settings, cfg: ScheduleConfig) -> None:
    """The PostgreSQL pool is sized from the setting ``scheduler_max_workers``; a schedule with more workers
    than it was sized for would starve it (workers waiting for connections others hold): refuse it."""
    if settings.is_sqlite:
        return
    needed = pool_capacity(settings, http=False, workers=cfg.max_workers)
    if needed > pool_limit(settings):
        raise SettingsError(f"{cfg.max_workers} scheduler workers need up to {needed} database connections, but the "
                            f"pool was sized for scheduler_max_workers = {scheduler_workers(settings)} "
                            f"({pool_limit(settings)} connections): set scheduler_max_workers to the workers wanted")


def build_scheduler(settings: Settings, cfg: ScheduleConfig) -> BridgeScheduler:
    """A configured, not yet started scheduler on the settings' database (job table created)."""
    _check_pool(settings, cfg)
    store = BridgeJobStore(engine=get_engine(settings))
    _create_jobstore_table(settings, store)
    return BridgeScheduler(
        settings, cfg,
        jobstores={JOBSTORE: store},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": cfg.misfire_grace_seconds},
        timezone=UTC,
    )


def start_scheduler(settings: Settings, cfg: ScheduleConfig | None = None) -> BridgeScheduler:
    """Start a scheduler whose jobs follow the channel table (reconciled now and every ``sync_seconds``)."""
    cfg = cfg or ScheduleConfig.from_settings(settings)
    scheduler = build_scheduler(settings, cfg)
    scheduler.start(paused=True)  # no job runs before the first reconcile spread the overdue ones
    scheduler.start_sync()
    scheduler.resume()
    log.info("scheduler started (%d jobs)", len(scheduler.get_jobs()))
    return scheduler
