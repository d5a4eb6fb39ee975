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

``oms_order`` is vacuumed as it is analysed (``VACUUM (ANALYZE)``, :data:`VACUUMED`). Why: every page of the
OMS's ``orders/`` counts the servable orders and walks their ids, and PostgreSQL answers both from the indexes
alone only on heap pages its visibility map marks all-visible, which only VACUUM sets. A freshly loaded table has
none marked, so until autovacuum got to it every page's count read every order's row from the heap: 4.6 ms a page
at 10,000 orders instead of 1.4, growing with the store (issue 18). On a table just loaded the VACUUM has no dead
rows to clean and costs a few milliseconds, less than the ANALYZE it comes with.

The OMS's first reads of ``orders/`` load tables too, a page at a time: 100 events per page of 100 new orders
(and the items of orders stored before GetOrder made them). :func:`note_load` counts the orders they recorded in
this process and, every :data:`MIN_ROWS` of them, lets :func:`refresh_after_load` decide on :data:`OMS_TABLES` by
the same rule (PostgreSQL's own count of changed rows is the larger figure it goes by), except that these tables
are analysed again only once their changes reach :data:`OMS_PERCENT` of their size, not the setting's 10 %.
Unanalysed, PostgreSQL read a page's items and events by scanning the whole tables (6.7 ms instead of 0.6 ms a page
on 12,000 items); once analysed, the planner scales the row count it knows by the table's current size in pages,
and the OMS only reads these tables by order id (a column whose distinct values grow with the table, which the
statistics record as a share of its rows), so the plans stay sound while the table grows. At the setting's 10 % a
first read of 10,000 orders analysed the events table every ten pages, each time sampling the whole table: a
millisecond a page of the server's time for statistics that were not going to change a plan.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine

__all__ = ["ORDER_TABLES", "OMS_TABLES", "VACUUMED", "OMS_PERCENT", "MIN_ROWS", "refresh_after_load", "note_load"]

log = logging.getLogger(__name__)

#: The tables an order load writes (GetOrder, backfill; a new order's OMS items: oms_bridge.store.order_items).
ORDER_TABLES = ("oms_order", "oms_orderline", "oms_order_item", "oms_order_status", "oms_delivery")
#: The tables the OMS's first reads write (:func:`note_load`).
OMS_TABLES = ("oms_order_item", "oms_order_event")
#: The tables vacuumed as they are analysed: the OMS's pages read them from their indexes alone (see module doc).
VACUUMED = ("oms_order",)
#: The share of a table's rows (percent) the OMS's reads must have changed before :func:`note_load` analyses it
#: again (see module doc): once per doubling.
OMS_PERCENT = 100
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


def refresh_after_load(settings: Settings, written: int, tables: Sequence[str] = ORDER_TABLES, *,
                       at_least: int = 0) -> list[str]:
    """ANALYZE the ``tables`` a load of ``written`` new rows made stale, VACUUM too those of :data:`VACUUMED` (see
    module doc); returns their names. ``at_least``: the share of a table that must have changed when it is more
    than the setting's (:func:`note_load`)."""
    percent = settings.analyze_after_load_percent and max(settings.analyze_after_load_percent, at_least)
    engine = get_engine(settings)
    if not percent or engine.dialect.name != "postgresql":
        return []
    try:
        # autocommit: VACUUM cannot run inside a transaction block
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            rows = conn.execute(_STATE, {"tables": list(tables)}).tuples().all()
            for name in (due := due_tables(rows, written, percent)):
                command = "VACUUM (ANALYZE)" if name in VACUUMED else "ANALYZE"
                conn.exec_driver_sql(f'{command} "{name}"')  # names from ORDER_TABLES/pg_class, never user input
    except DBAPIError as exc:
        log.warning("ANALYZE/VACUUM after a bulk load failed (%s); the planner keeps older statistics until "
                    "autovacuum gets to the tables", type(exc.orig).__name__)
        return []
    return due


_noted: dict[tuple[str, ...], int] = {}
_noted_lock = threading.Lock()


def note_load(settings: Settings, written: int, tables: Sequence[str] = OMS_TABLES) -> list[str]:
    """Count ``written`` orders a small writer just recorded in ``tables`` (the OMS's read of a page); once this
    process has counted :data:`MIN_ROWS` of them, :func:`refresh_after_load` the tables that changed by
    :data:`OMS_PERCENT` (see module doc). Returns the tables analysed. SQLite, or the setting at 0: nothing to
    count."""
    if written <= 0 or not settings.analyze_after_load_percent or settings.is_sqlite:
        return []
    key = tuple(tables)
    with _noted_lock:
        total = _noted.get(key, 0) + written
        _noted[key] = 0 if total >= MIN_ROWS else total
    return refresh_after_load(settings, total, key, at_least=OMS_PERCENT) if total >= MIN_ROWS else []
