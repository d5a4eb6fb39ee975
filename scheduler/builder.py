"""Build and start the APScheduler 3 ``BackgroundScheduler`` the bridge runs.

Jobs live in APScheduler's ``SQLAlchemyJobStore`` in the bridge's own database (table
``apscheduler_jobs``), shared by every instance, so a job's next run time survives restarts and an
instance that dies leaves its jobs for the others. Several instances starting at once would race to
create that table (PostgreSQL answers one of them with a unique violation on ``pg_type``), so it
is created here first under a transaction-scoped advisory lock.

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
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import text

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine
from scheduler.config import ScheduleConfig
from scheduler.locks import lock_key
from scheduler.sync import JOBSTORE, reconcile

__all__ = ["BridgeScheduler", "build_scheduler", "start_scheduler"]

log = logging.getLogger(__name__)


class BridgeScheduler(BackgroundScheduler):
    """APScheduler plus the reconcile loop that keeps its jobs in step with the channel table."""

    def __init__(self, settings: Settings, cfg: ScheduleConfig, **options):
        super().__init__(**options)
        self.settings = settings
        self.cfg = cfg
        self._sync_stop = threading.Event()
        self.sync_thread: threading.Thread | None = None

    def start_sync(self) -> None:
        """Reconcile now, then every ``sync_seconds`` in a background thread."""
        reconcile(self, self.settings, self.cfg)
        self.sync_thread = threading.Thread(target=self._sync_loop, name="scheduler-sync", daemon=True)
        self.sync_thread.start()

    def _sync_loop(self) -> None:
        while not self._sync_stop.wait(self.cfg.sync_seconds):
            try:
                reconcile(self, self.settings, self.cfg)
                # Re-read the shared store: APScheduler only wakes for jobs it changed itself, so jobs
                # another instance added (or whose times it moved) would otherwise wait unseen.
                self.wakeup()
            except Exception:  # noqa: BLE001 - a database hiccup must not end the loop; next round retries
                log.exception("reconciling jobs with the channel table failed; retrying in %s s",
                              self.cfg.sync_seconds)

    def shutdown(self, wait: bool = True) -> None:
        """Stop reconciling, then stop APScheduler (``wait``: let running jobs finish their batch)."""
        self._sync_stop.set()
        if self.sync_thread is not None and self.sync_thread is not threading.current_thread():
            self.sync_thread.join()
        super().shutdown(wait=wait)


def _create_jobstore_table(settings: Settings, store: SQLAlchemyJobStore) -> None:
    engine = get_engine(settings)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:a, :b)"), dict(zip("ab", lock_key("jobstore-ddl", 0),
                                                                                     strict=True)))
        store.jobs_t.create(conn, checkfirst=True)


def build_scheduler(settings: Settings, cfg: ScheduleConfig) -> BridgeScheduler:
    """A configured, not yet started scheduler on the settings' database (job table created)."""
    store = SQLAlchemyJobStore(engine=get_engine(settings))
    _create_jobstore_table(settings, store)
    return BridgeScheduler(
        settings, cfg,
        jobstores={JOBSTORE: store},
        executors={"default": ThreadPoolExecutor(cfg.max_workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": cfg.misfire_grace_seconds},
        timezone=UTC,
    )


def start_scheduler(settings: Settings, cfg: ScheduleConfig | None = None) -> BridgeScheduler:
    """Start a scheduler whose jobs follow the channel table (reconciled now and every ``sync_seconds``)."""
    cfg = cfg or ScheduleConfig.from_settings(settings)
    scheduler = build_scheduler(settings, cfg)
    scheduler.start()
    scheduler.start_sync()
    log.info("scheduler started (%d jobs)", len(scheduler.get_jobs()))
    return scheduler
