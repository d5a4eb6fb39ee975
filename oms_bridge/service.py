"""``oms-bridge run``: the HTTP app and the scheduler in one process, with a clean shutdown.

The main thread owns the signals: SIGTERM and SIGINT set a stop event. uvicorn serves
:func:`oms_bridge.web.app.create_app` from a worker thread (so it installs no signal handlers of
its own) and the scheduler runs in its own threads. On stop: the HTTP server stops accepting and
finishes open requests, then ``scheduler.shutdown(wait=True)`` lets every job in progress finish
its batch (each process commits in batches and moves its watermark only after a commit, so even a
``kill -9`` leaves nothing half-written; a SIGTERM leaves nothing unfinished at all).

``kill -USR1 <pid>`` prints every thread's stack to stderr (to see what a slow shutdown waits for).

Modes: both (default), ``http=False`` (``--scheduler-only``: a worker) and ``scheduler=False``
(``--no-scheduler``: extra web/API instances behind a load balancer). ``processes=N`` adds N - 1
scheduler-only worker processes, supervised by this one (:mod:`oms_bridge.worker_processes`).

Before anything starts, a scheduler's worker and process count is checked against what the PostgreSQL
server accepts (:func:`oms_bridge.store.db.check_connection_budget`): a count that cannot work is refused
with the numbers, instead of starving the connection pool later.
"""

from __future__ import annotations

import faulthandler
import gc
import logging
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import anyio.to_thread
import uvicorn

from oms_bridge.settings import Settings, get_settings
from oms_bridge.store.db import ConnectionBudgetError, check_connection_budget
from oms_bridge.web.app import create_app
from oms_bridge.web.http_settings import http_settings
from oms_bridge.worker_processes import WorkerProcesses
from scheduler.builder import BridgeScheduler, start_scheduler
from scheduler.config import ScheduleConfig

__all__ = ["BridgeService", "ServiceError", "run_service", "settle_heap"]

log = logging.getLogger(__name__)


def settle_heap() -> None:
    """Move what start-up built (modules, the app, the ORM's mappings and statement caches: some 200,000
    objects) out of the garbage collector's reach, once everything is built.

    Why: these objects live as long as the process, yet every full collection walks them all. Serving the OMS's
    pages allocates enough to trigger one every few pages, and each took about 110 ms with the app loaded (a
    fifth of the time of a first read of ``orders/``; ``benchmarks/bench_oms_pull.py``); after this it walks
    only what requests made, about 25 ms. Worker processes (``--processes``) go through this same start-up.
    Called once the app is built, before the server takes requests."""
    gc.collect()
    gc.freeze()


class ServiceError(RuntimeError):
    """The service cannot start (e.g. its port is taken); the message says which part and why."""


class _Server(uvicorn.Server):
    """uvicorn with the worker-thread capacity of the setting ``http_threads``.

    Every route and dependency that touches the database, the vault or scrypt is a plain ``def``, which
    Starlette runs in anyio's worker threads, so a request that waits (the SQLite write lock, a slow
    query, a password hash) never stalls the event loop and the other requests. The threads are a
    shared pool (anyio's default limiter, 40); its size is set here, on the server's own loop.
    """

    def __init__(self, config: uvicorn.Config, threads: int):
        super().__init__(config)
        self.threads = threads

    async def serve(self, sockets=None) -> None:
        anyio.to_thread.current_default_thread_limiter().total_tokens = self.threads
        await super().serve(sockets)


@dataclass
class BridgeService:
    """A running bridge: its HTTP server and/or scheduler, started and stopped together."""

    settings: Settings
    http: bool = True
    scheduler_enabled: bool = True
    host: str | None = None
    port: int | None = None
    schedule: ScheduleConfig | None = None
    processes: int = 1
    scheduler: BridgeScheduler | None = None
    workers: WorkerProcesses | None = None
    server: uvicorn.Server | None = None
    _thread: threading.Thread | None = None
    stopped: threading.Event = field(default_factory=threading.Event)
    failure: str | None = None  # why the service stopped on its own (the command then exits with status 1)

    def start(self) -> BridgeService:
        """Start the scheduler first (the health page reports it), then the HTTP server."""
        if self.http:
            http_settings(self.settings)  # a bad body cap or access mode is named before anything starts
        if self.scheduler_enabled:
            try:
                check_connection_budget(self.settings, processes=self.processes, http=self.http)
            except ConnectionBudgetError as exc:
                raise ServiceError(str(exc)) from None
            self.scheduler = start_scheduler(self.settings, self.schedule)
            if self.processes > 1:
                self.workers = WorkerProcesses(self.processes - 1, os.getpid()).start()
        if self.http:
            app = create_app()
            app.state.scheduler = self.scheduler
            app.state.worker_processes = self.workers
            app.state.scheduler_enabled = self.scheduler_enabled
            config = uvicorn.Config(app, host=self.host or self.settings.http_host,
                                    port=self.port if self.port is not None else self.settings.http_port,
                                    log_level=self.settings.log_level.lower(), lifespan="off")
            self.server = _Server(config, self.settings.http_threads)
            self._thread = threading.Thread(target=self.server.run, name="http", daemon=True)
        settle_heap()
        if self._thread is not None:
            self._thread.start()
        return self

    @property
    def http_died(self) -> bool:
        """The HTTP server thread ended although nobody asked it to stop."""
        return self._thread is not None and not self._thread.is_alive() and not self.stopped.is_set()

    @property
    def scheduler_died(self) -> bool:
        """The scheduler's thread ended although nobody stopped it (it survives job-store errors; this is
        the last line: the process exits so that its supervisor restarts it)."""
        return self.scheduler is not None and not self.stopped.is_set() and not self.scheduler.thread_alive

    @property
    def url(self) -> str:
        """The HTTP server's base URL once it listens (port 0 resolves to the real port)."""
        if not self.server or not self.server.started:
            raise RuntimeError("HTTP server not started")
        sock = self.server.servers[0].sockets[0]
        host, port = sock.getsockname()[:2]
        return f"http://{host}:{port}"

    def wait_started(self, timeout: float = 10.0) -> None:
        """Block until the HTTP server accepts connections (or fail)."""
        if not self.server:
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.server.started:
                return
            if self._thread and not self._thread.is_alive():
                raise ServiceError(f"the HTTP server could not start on {self.server.config.host}:"
                                   f"{self.server.config.port} (is the port in use? see the message above)")
            time.sleep(0.05)
        raise ServiceError(f"the HTTP server did not start within {timeout} s")

    def stop(self) -> None:
        """Stop taking requests, then let running jobs finish their batch (here and in the worker processes)."""
        if self.server:
            self.server.should_exit = True
            if self._thread:
                self._thread.join(timeout=30)
        if self.workers:
            self.workers.signal_stop()
        if self.scheduler and self.scheduler.running:
            log.info("waiting for running jobs to finish")
            self.scheduler.shutdown(wait=True)
        if self.workers:
            for problem in self.workers.wait():
                log.error("%s", problem)
        self.stopped.set()


def run_service(*, settings: Settings | None = None, http: bool = True, scheduler: bool = True,
                host: str | None = None, port: int | None = None, processes: int = 1, worker_of: int | None = None,
                on_started: Callable[[BridgeService], None] | None = None) -> BridgeService:
    """Run until SIGTERM/SIGINT, then shut down cleanly. Call from the main thread.

    ``processes``: run that many scheduler processes in all (this one and ``processes - 1`` workers).
    ``worker_of``: this is a worker of that process id; stop (cleanly) when that parent is gone.
    """
    settings = settings or get_settings()
    stop = threading.Event()

    def _on_signal(signum, _frame):
        log.info("signal %s received, shutting down", signal.Signals(signum).name)
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 <pid>`: every thread's stack to stderr
    service = BridgeService(settings, http=http, scheduler_enabled=scheduler, host=host, port=port,
                            processes=processes)
    try:
        service.start()
        service.wait_started()
        if on_started:
            on_started(service)
        while not stop.wait(0.5):
            if service.workers:
                service.workers.poll()
            if worker_of is not None and os.getppid() != worker_of:
                log.warning("the parent process %d is gone; this worker stops", worker_of)
                break
            if service.http_died:
                service.failure = "the HTTP server stopped unexpectedly"
            elif service.scheduler_died:
                service.failure = "the scheduler thread ended unexpectedly; no job would run any more"
            if service.failure:
                log.error("%s; shutting down (exit status 1, for the supervisor to restart the service)",
                          service.failure)
                break
    finally:
        try:
            service.stop()
        finally:  # put the caller's handlers back even when stopping fails
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    return service
