"""Planner statistics kept fresh after bulk loads (PostgreSQL).

Why: a freshly loaded ``oms_order`` is not analysed until autovacuum gets to it (its threshold is 10 % of
the table *plus* its own schedule), and until then the planner works from the empty table's estimates:
the upsert's lookup of 200 existing orders by key scanned 40,000 rows (17 ms instead of 0.4 ms, issue 18).
So after a run that stored new orders, :func:`refresh_after_load` analyses each order table whose rows
changed since its last ``ANALYZE`` by at least ``analyze_after_load_percent`` of its size (setting, default
10; 0 = never) and by at least :data:`MIN_ROWS` rows. A small run on a large table costs one catalogue
query and no ``ANALYZE``.

The count of changed rows is the larger of PostgreSQL's ``n_mod_since_analyze`` (every writer, but reported
with a delay of up to a second) and what the caller just wrote. Inserts reported only after the ``ANALYZE``
count as changes since it, so the next run may analyse once more; that is cheap and settles. SQLite:
nothing to do (its planner reads the index itself; ``ANALYZE`` there is an explicit, whole-file choice).
A failing ``ANALYZE`` (e.g. the bridge's role does not own the table) is logged and never fails the run that
loaded the orders.

The OMS's first reads of ``orders/`` load tables too, a page at a time: 100 events per page of 100 new orders
(and the items of orders stored before GetOrder made them). :func:`note_load` counts the orders they recorded in
this process and, every :data:`MIN_ROWS` of them, lets :func:`refresh_after_load` decide on :data:`OMS_TABLES` by
the same rule (PostgreSQL's own count of changed rows is the larger figure it goes by). Unanalysed, PostgreSQL
read a page's items and events by scanning the whole tables (6.7 ms instead of 0.6 ms a page on 12,000 items).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine

__all__ = ["ORDER_TABLES", "OMS_TABLES", "MIN_ROWS", "refresh_after_load", "note_load"]

log = logging.getLogger(__name__)

#: The tables an order load writes (GetOrder, backfill; a new order's OMS items: oms_bridge.store.order_items).
ORDER_TABLES = ("oms_order", "oms_orderline", "oms_order_item", "oms_order_status", "oms_delivery")
#: The tables the OMS's first reads write (:func:`note_load`).
OMS_TABLES = ("oms_order_item", "oms_order_event")
#: Fewer changed rows than this never trigger an ANALYZE (the planner's estimates barely move).
MIN_ROWS = 1000

_STATE = text("""
SELECT c.relname, c.reltuples, COALESCE(s.n_mod_since_analyze, 0)
FROM pg_class c LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid
WHERE c.oid = ANY(CAST(:tables AS regclass[]))
""")


def due_tables(rows: Sequence[tuple[str, float, int]], written: int, percent: int) -> list[str]:
    """The tables to analyse: (name, estimated rows at the last analyse (-1: never), changed since) → names. Pure."""
    due = []
    for name, reltuples, modified in rows:
        changed = max(int(modified), written)
        if changed >= MIN_ROWS and changed * 100 >= percent * max(float(reltuples), 0.0):
            due.append(name)
    return due


def refresh_after_load(settings: Settings, written: int, tables: Sequence[str] = ORDER_TABLES) -> list[str]:
    """ANALYZE the ``tables`` a load of ``written`` new rows made stale (see module doc); returns their names."""
    percent = settings.analyze_after_load_percent
    engine = get_engine(settings)
    if not percent or engine.dialect.name != "postgresql":
        return []
    try:
        with engine.connect() as conn:
            rows = conn.execute(_STATE, {"tables": list(tables)}).tuples().all()
            due = due_tables(rows, written, percent)
            for name in due:
                conn.exec_driver_sql(f'ANALYZE "{name}"')  # names from ORDER_TABLES/pg_class, never user input
            conn.commit()
    except DBAPIError as exc:
        log.warning("ANALYZE after a bulk load failed (%s); the planner keeps older statistics until autovacuum "
                    "analyses the tables", type(exc.orig).__name__)
        return []
    return due


_noted: dict[tuple[str, ...], int] = {}
_noted_lock = threading.Lock()


def note_load(settings: Settings, written: int, tables: Sequence[str] = OMS_TABLES) -> list[str]:
    """Count ``written`` orders a small writer just recorded in ``tables`` (the OMS's read of a page); once this
    process has counted :data:`MIN_ROWS` of them, :func:`refresh_after_load` the tables (see module doc). Returns
    the tables analysed. SQLite, or the setting at 0: nothing to count."""
    if written <= 0 or not settings.analyze_after_load_percent or settings.is_sqlite:
        return []
    key = tuple(tables)
    with _noted_lock:
        total = _noted.get(key, 0) + written
        _noted[key] = 0 if total >= MIN_ROWS else total
    return refresh_after_load(settings, total, key) if total >= MIN_ROWS else []
