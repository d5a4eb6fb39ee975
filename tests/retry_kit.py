"""Retry policies for tests that provoke a lost answer (shared by every platform's test kit).

A module at the tests root (on sys.path through the root conftest), not a conftest, so that folders
without packages import exactly this file.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

from oms_bridge.remote.http import HttpClient, RetryPolicy

__all__ = ["lost_answer_policy"]


def lost_answer_policy(applied: Callable[[], bool], http: Callable[[], HttpClient]) -> RetryPolicy:
    """For "the answer was lost" tests: the first attempt times out after 0.5 s while the sandbox stalls;
    before the retry we wait until the stalled request has really been applied (no wall-clock guess) and
    give the client a generous timeout, so a loaded machine cannot turn the retry into a timeout too."""

    def wait_until_applied(_seconds: float) -> None:
        deadline = time.monotonic() + 15
        while not applied():
            assert time.monotonic() < deadline, "the stalled request was never applied"
            time.sleep(0.02)
        client = http()
        client.policy = replace(client.policy, read_timeout=3.0)

    return RetryPolicy(max_attempts=2, sleep=wait_until_applied, connect_timeout=3.0, read_timeout=0.5)
