"""record_run: a crashed run is visible with its error, and the error never carries a secret."""

from __future__ import annotations

import pytest

from oms_bridge.store.db import session_scope
from oms_bridge.store.models import ProcessRun
from oms_bridge.store.runs import record_run


def test_store_runs_failed_run_keeps_a_masked_error(sqlite_settings):
    with pytest.raises(RuntimeError):
        with record_run("getorder", settings=sqlite_settings) as run:
            run.fetched = 3
            raise RuntimeError("GET https://h/api?access_token=tok-9f8e7d6c5b4a&sign=abcdef0123456789 failed")
    with session_scope(sqlite_settings) as s:
        row = s.query(ProcessRun).one()
    assert row.outcome == "failed" and row.fetched == 3 and row.ended is not None
    assert "tok-9f8e7d6c5b4a" not in row.error_text and "abcdef0123456789" not in row.error_text
    assert "RuntimeError" in row.error_text and "failed" in row.error_text
