"""Throw-away PostgreSQL databases for the benchmarks: one mechanism, where four benchmarks each had their own.

Imported by the benchmark scripts (their folder is on ``sys.path`` when run as ``python benchmarks/<name>.py``).
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from oms_bridge.settings import normalize_database_url  # noqa: E402

__all__ = ["create_scratch_database"]


def create_scratch_database(admin_url: str, prefix: str = "omsb_bench") -> tuple[str, Callable[[], None]]:
    """A new, empty database on the server of ``admin_url`` (never the database the URL names): (its URL, a
    function that drops it, closing whatever connections are still open to it)."""
    url = make_url(normalize_database_url(admin_url))
    name = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop
