"""The ``oms-bridge`` command line (click). ``main.py`` assembles the command groups."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["begin_invocation", "invoked_at"]

# Taken at import, before the heavy imports: a fresh `oms-bridge` process starts its first command here.
_started = [time.time(), False]  # [time, taken by an invocation already]


def begin_invocation() -> None:
    """Mark the start of one command (the root group calls it). The first command of a process keeps the
    import time, which is earlier: the process started there; a later one (tests, embedding) starts now."""
    if _started[1]:
        _started[0] = time.time()
    _started[1] = True


def invoked_at() -> datetime:
    """When the admin asked for the running command: what it does happens "as of" then (a forced token
    refresh is satisfied by a refresh another run stored since; channels/tokens.py)."""
    return datetime.fromtimestamp(_started[0], UTC)
