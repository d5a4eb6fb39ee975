"""The scheduled job bodies: plain module-level callables, each run under its run lock.

APScheduler's SQLAlchemy job store persists a job as the textual reference of its function
(``scheduler.jobs:getorder_job``) plus its arguments (a channel id), so these functions are the
only names the job table ever holds. :data:`JOBS` maps each process name to its callable; the
reconcile step (:mod:`scheduler.sync`) only ever passes these function objects to APScheduler.

Every body takes its lock from :mod:`scheduler.locks` first; if another instance holds it, the run
is skipped (that instance is doing exactly this work). Each process records its own
``oms_process_run`` row, so the scheduler adds no bookkeeping of its own.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from channels.cancel_answers import run_cancel_answers
from channels.getorder import run_getorder
from channels.logistics import run_logistics_delivery
from channels.refreshtoken import run_refreshtoken
from oms_bridge.alerts.engine import run_alerts
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.oms.push import run_oms_delivery
from oms_bridge.reconcile.run import run_daily
from oms_bridge.settings import Settings, get_settings
from scheduler.locks import process_lock

__all__ = ["JOBS", "getorder_job", "refreshtoken_job", "erp_delivery_job", "logistics_delivery_job",
           "oms_delivery_job", "cancel_answers_job", "alerts_job", "reconcile_job", "run_locked"]

log = logging.getLogger(__name__)


def run_locked(process: str, channel_id: int | None, body: Callable[[Settings], Any],
               settings: Settings | None = None) -> bool:
    """Run ``body(settings)`` while holding the (process, channel) lock; False when it was taken."""
    settings = settings or get_settings()
    with process_lock(settings, process, channel_id) as acquired:
        if not acquired:
            log.info("%s for channel %s is already running in another instance; skipped", process, channel_id)
            return False
        body(settings)
        return True


def getorder_job(channel_id: int) -> None:
    """Pull new and changed orders of one channel."""
    run_locked("getorder", channel_id, lambda s: run_getorder(channel_id, settings=s))


def refreshtoken_job(channel_id: int) -> None:
    """Keep one OAuth channel's tokens fresh (the process itself decides whether one is due)."""
    run_locked("refreshtoken", channel_id, lambda s: run_refreshtoken(channel_id, settings=s))


def erp_delivery_job() -> None:
    """Send due orders to iDempiere (one instance at a time; rows are claimed anyway)."""
    run_locked("erp", None, lambda s: run_erp_delivery(settings=s))


def logistics_delivery_job() -> None:
    """Push due tracking numbers back to the marketplaces."""
    run_locked("logistics", None, lambda s: run_logistics_delivery(settings=s))


def oms_delivery_job() -> None:
    """Push due order events to the OMS (order_notify = push) and apply product_reference = hold."""
    run_locked("oms", None, lambda s: run_oms_delivery(settings=s))


def cancel_answers_job() -> None:
    """Answer the marketplaces' open cancellation / stop-shipping requests."""
    run_locked("cancel_answers", None, lambda s: run_cancel_answers(settings=s))


def alerts_job() -> None:
    """Evaluate the alert rules and send what is due (several instances never send one notice twice: the
    notices are claimed in the store; the lock only saves the duplicate evaluation)."""
    run_locked("alerts", None, lambda s: run_alerts(settings=s))


def reconcile_job() -> None:
    """The daily reconciliation of every active channel (marketplace, store, ERP, OMS)."""
    run_locked("reconcile", None, lambda s: run_daily(settings=s))


JOBS: dict[str, Callable[..., None]] = {
    "getorder": getorder_job,
    "refreshtoken": refreshtoken_job,
    "erp": erp_delivery_job,
    "logistics": logistics_delivery_job,
    "oms": oms_delivery_job,
    "cancel_answers": cancel_answers_job,
    "alerts": alerts_job,
    "reconcile": reconcile_job,
}
