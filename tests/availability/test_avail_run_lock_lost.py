"""Regression (issue 11): the PostgreSQL run lock dies with its connection.

When the connection holding a GetOrder's advisory lock was terminated, the run went on for seconds on
fresh pooled connections while a second GetOrder of the same channel started, and the first run was then
recorded ``failed`` with raw SQL although its batches had committed. Now the run checks its lock inside
each batch transaction (and before the watermark moves), stops, and is recorded ``interrupted`` with
what really happened.
"""

from __future__ import annotations

import dataclasses
import threading

import pytest
from avail_kit import FAST, momo_channels, order_count, wait_for
from sqlalchemy import text

from channels import pulling
from channels.getorder import run_getorder
from channels.locks import lock_keys
from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.models import Channel
from sandboxes.momo import MomoSandbox

pytestmark = pytest.mark.postgres


def _lock_pids(settings: Settings, channel_id: int) -> list[int]:
    k1, k2 = lock_keys("getorder", channel_id)
    with get_engine(settings).connect() as conn:
        return list(conn.execute(text(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2 "
            "AND classid::bigint = :k1 AND objid::bigint = :k2"), {"k1": k1 & 0xFFFFFFFF, "k2": k2}).scalars())


def test_a_run_that_loses_its_lock_stops_before_writing_more(pg_settings: Settings, monkeypatch) -> None:
    settings = dataclasses.replace(pg_settings, getorder_batch_size=5)
    with MomoSandbox(rate_limit=0) as sandbox:
        channels = momo_channels(settings, sandbox, 1, orders=20)
        (channel_id, _shop), = channels.values()
        first_thread: list[threading.Thread] = []
        committed, go_on = threading.Event(), threading.Event()
        real_checkpoint = pulling.checkpoint

        def checkpoint(name: str) -> None:  # the first run pauses right after its first batch committed
            if name == "committed" and threading.current_thread() in first_thread and not committed.is_set():
                committed.set()
                assert go_on.wait(60)
            real_checkpoint(name)

        monkeypatch.setattr(pulling, "checkpoint", checkpoint)
        result: dict[str, object] = {}
        first = threading.Thread(target=lambda: result.update(
            first=run_getorder(channel_id, settings=settings, policy=FAST)), daemon=True)
        first_thread.append(first)
        first.start()
        assert committed.wait(60), "the first run never committed a batch"
        (pid,) = _lock_pids(settings, channel_id)
        with get_engine(settings).connect() as conn:  # the DBA, a failover or a network cut ends that connection
            conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            conn.commit()
        wait_for(lambda: not _lock_pids(settings, channel_id), what="the lock to vanish with its backend")
        second = run_getorder(channel_id, settings=settings, policy=FAST)  # takes over: the lock is free
        assert second.outcome == "success" and second.unchanged == 5, (second.outcome, second.error_text)
        go_on.set()
        first.join(60)
        stats = result["first"]
        assert stats.outcome == "interrupted", (stats.outcome, stats.error_text)
        assert "run lock was lost" in stats.error_text and "after 1 batch(es) committed" in stats.error_text
        assert "SELECT" not in stats.error_text and "[SQL" not in stats.error_text
        assert stats.new + stats.changed + stats.unchanged == 5  # nothing written after the lock was gone
        assert stats.fetched == 10  # it read the next batch, found the lock gone, and did not commit it
        assert order_count(settings) == 5 + second.new  # the first run's one batch, then the second run's
        with session_scope(settings, readonly=True) as s:
            watermark = s.get(Channel, channel_id).order_watermark
        assert watermark == second.window_to  # the interrupted run never moved it
