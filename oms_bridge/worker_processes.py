"""``oms-bridge run --processes N``: N - 1 scheduler-only worker processes next to this one (issue 18).

One Python process runs Python code on about one core at a time (the interpreter lock): with many
channels the work of one cycle waited for the CPU, not for the marketplaces. Each worker here is a full
scheduler instance (``oms-bridge run --scheduler-only``, started as ``python -m oms_bridge``) on the same
store: the instances share every cycle's jobs by claiming them one at a time (:mod:`scheduler.jobstore`),
so N processes use up to N cores. They inherit this process's environment (settings, data directory,
keys) and its stdout/stderr (one log).

Supervision: a worker that exits while the service runs is started again (after 1 s, doubling up to
60 s while it keeps failing); meanwhile ``/healthz`` says which one is down (:meth:`WorkerProcesses.problem`),
and the jobs it had claimed run again elsewhere when their leases end. On shutdown every worker gets
SIGTERM and finishes its running batch, like this process. A worker whose parent is gone (``kill -9`` of
the parent) stops by itself (``--worker-of``), so no orphan keeps running outside the supervisor's view.
"""

from __future__ import annotations

import logging
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field

__all__ = ["WorkerProcesses"]

log = logging.getLogger(__name__)

_MAX_BACKOFF = 60.0


@dataclass
class _Worker:
    number: int
    proc: subprocess.Popen | None = None
    restart_at: float = 0.0
    backoff: float = 1.0
    last_exit: int | None = None
    restarts: int = 0


@dataclass
class WorkerProcesses:
    """``count`` scheduler-only child processes, kept running until :meth:`stop`."""

    count: int
    parent_pid: int
    workers: list[_Worker] = field(default_factory=list)
    stopping: bool = False

    def command(self) -> list[str]:
        return [sys.executable, "-m", "oms_bridge", "run", "--scheduler-only", "--worker-of", str(self.parent_pid)]

    def start(self) -> WorkerProcesses:
        self.workers = [_Worker(i + 2) for i in range(self.count)]  # process 1 is this one
        for worker in self.workers:
            self._spawn(worker)
        return self

    def _spawn(self, worker: _Worker) -> None:
        worker.proc = subprocess.Popen(self.command())  # noqa: S603 - our own interpreter and module
        log.info("worker process %d started (pid %d)", worker.number, worker.proc.pid)

    def poll(self) -> None:
        """Start again the workers that exited (with a growing delay while they keep exiting)."""
        if self.stopping:
            return
        now = time.monotonic()
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is not None:
                worker.last_exit = worker.proc.returncode
                worker.proc = None
                worker.restart_at = now + worker.backoff
                log.error("worker process %d exited (status %s); starting it again in %.0f s", worker.number,
                          worker.last_exit, worker.backoff)
                worker.backoff = min(worker.backoff * 2, _MAX_BACKOFF)
            elif worker.proc is None and now >= worker.restart_at:
                worker.restarts += 1
                self._spawn(worker)
            elif worker.proc is not None and worker.restart_at and now - worker.restart_at > _MAX_BACKOFF:
                worker.backoff, worker.restart_at = 1.0, 0.0  # it stayed up: the next failure restarts quickly

    def problem(self) -> str | None:
        """Why the workers are not all running (for ``/healthz``), or None."""
        down = [w for w in self.workers if w.proc is None or w.proc.poll() is not None]
        if not down:
            return None
        names = ", ".join(f"{w.number} (exit status {w.last_exit if w.proc is None else w.proc.returncode})"
                          for w in down)
        return f"{len(down)} of {self.count} worker processes not running: {names}; being restarted"

    def summary(self) -> str:
        up = sum(1 for w in self.workers if w.proc is not None and w.proc.poll() is None)
        return f"{up + 1}/{self.count + 1} running"

    def pids(self) -> list[int]:
        return [w.proc.pid for w in self.workers if w.proc is not None]

    def signal_stop(self) -> None:
        """SIGTERM to every worker: each finishes its running batch (see :meth:`wait`)."""
        self.stopping = True
        for worker in self.workers:
            if worker.proc is not None and worker.proc.poll() is None:
                worker.proc.send_signal(signal.SIGTERM)

    def wait(self) -> list[str]:
        """Wait for every worker to stop; returns the ones that did not stop cleanly."""
        unclean = []
        for worker in self.workers:
            if worker.proc is None:
                continue
            code = worker.proc.wait()
            if code not in (0, -signal.SIGTERM):  # -SIGTERM: stopped while still starting (nothing to finish)
                unclean.append(f"worker process {worker.number} exited with status {code}")
        return unclean
