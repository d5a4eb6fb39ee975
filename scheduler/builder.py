"""Build and start the APScheduler 3 ``BackgroundScheduler`` the bridge runs.

Two job stores:

- ``default``: APScheduler's ``SQLAlchemyJobStore`` in the bridge's own database (table
  ``apscheduler_jobs``, created by APScheduler), shared by every instance, so a job's next run
  time survives restarts and an instance that dies leaves its jobs for the others;
- ``memory``: the per-instance reconcile job (:func:`scheduler.sync.reconcile`), which needs the
  live scheduler object and so cannot be pickled into the shared store.

Job defaults: ``max_instances=1`` (one run of a job at a time per instance; the run locks extend
that across instances), ``coalesce=True`` (a backlog of missed runs becomes one run) and
``misfire_grace_time`` from :class:`scheduler.config.ScheduleConfig`.
"""

from __future__ import annotations

import logging
from datetime import UTC

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine
from scheduler.config import ScheduleConfig
from scheduler.sync import JOBSTORE, reconcile

__all__ = ["build_scheduler", "start_scheduler", "SYNC_JOB_ID"]

log = logging.getLogger(__name__)

SYNC_JOB_ID = "sync-channels"


def build_scheduler(settings: Settings, cfg: ScheduleConfig) -> BackgroundScheduler:
    """A configured, not yet started scheduler on the settings' database."""
    return BackgroundScheduler(
        jobstores={JOBSTORE: SQLAlchemyJobStore(engine=get_engine(settings)), "memory": MemoryJobStore()},
        executors={"default": ThreadPoolExecutor(cfg.max_workers)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": cfg.misfire_grace_seconds},
        timezone=UTC,
    )


def start_scheduler(settings: Settings, cfg: ScheduleConfig | None = None) -> BackgroundScheduler:
    """Start a scheduler, reconcile its jobs with the channel table now and every ``sync_seconds``."""
    cfg = cfg or ScheduleConfig.from_settings(settings)
    scheduler = build_scheduler(settings, cfg)
    scheduler.start()
    reconcile(scheduler, settings, cfg)
    scheduler.add_job(reconcile, "interval", args=(scheduler, settings, cfg), seconds=cfg.sync_seconds,
                      id=SYNC_JOB_ID, name="reconcile jobs with channels", jobstore="memory", replace_existing=True)
    log.info("scheduler started (%d jobs)", len(scheduler.get_jobs()))
    return scheduler
