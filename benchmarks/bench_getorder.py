"""GetOrder into the store, next to its ceiling: the driver's executemany of the same rows (issue 18).

Usage::

    python benchmarks/bench_getorder.py [--sizes 10000] [--stores sqlite,postgresql] [--profile FILE]

PostgreSQL uses ``OMS_BRIDGE_BENCH_DATABASE_URL`` (else ``OMS_BRIDGE_TEST_DATABASE_URL``) as an admin
URL and creates/drops a throw-away database. Each store/size runs in its own subprocess. Per run:

1. **end to end**: ``run_getorder`` against the Shopee sandbox (real HTTP on 127.0.0.1: list, detail,
   mapping, upsert, commits), and the same window read again (all unchanged). The canonical orders the
   adapter produced are kept.
2. **store** (the project figure): the order tables emptied, the kept orders stored again exactly as a
   run stores them (:func:`channels.pulling.store_orders`: ``upsert_orders`` in committed batches of
   ``getorder_batch_size``), then once more (unchanged re-read: no writes).
3. **ceilings**, on the same emptied tables and in the same batches (one transaction per batch of
   orders): the rows the store wrote (orders, lines, their OMS items, status history, delivery rows) read back
   and inserted again with the driver's ``executemany`` (sqlite3 / psycopg), then with SQLAlchemy Core
   (``conn.execute(table.insert(), rows)``).

The ratio printed is store time / driver time (goal ≤ 3), by wall clock and by this process's CPU time (on a
shared, loaded machine the wall-clock ratio moves with the neighbours' load; with PostgreSQL the server's CPU
is only in the wall-clock figure). ``--profile FILE`` writes a cProfile of step 2.
"""

from __future__ import annotations

import argparse
import cProfile
import logging
import os
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch_db import create_scratch_database  # noqa: E402

import channels.pulling as pulling  # noqa: E402
from channels.authorization import complete_authorization, start_authorization  # noqa: E402
from channels.getorder import run_getorder  # noqa: E402
from oms_bridge.remote.http import RetryPolicy  # noqa: E402
from oms_bridge.settings import load_settings  # noqa: E402
from oms_bridge.store.db import dispose_engines, get_engine, session_scope  # noqa: E402
from oms_bridge.store.models import Base, Channel, Delivery, Order, OrderLine, OrderStatus, Platform  # noqa: E402
from oms_bridge.store.models.oms import OmsOrderItem  # noqa: E402
from oms_bridge.store.runs import RunStats  # noqa: E402
from oms_bridge.vault import Vault, generate_key  # noqa: E402
from sandboxes.shopee import ShopeeSandbox  # noqa: E402

#: The tables one GetOrder writes, parents first (a new order's OMS items too: oms_bridge.store.order_items).
TABLES = (Order.__table__, OrderLine.__table__, OmsOrderItem.__table__, OrderStatus.__table__, Delivery.__table__)


def _setup(settings, sandbox: ShopeeSandbox) -> int:
    Base.metadata.create_all(get_engine(settings))
    vault = Vault.from_settings(settings)
    fields = sandbox.platform_fields()
    shop = sandbox.add_shop()
    with session_scope(settings) as session:
        platform = Platform(value="shopee", name="Shopee", platform_type="shopee", host=fields["host"],
                            app_id=fields["app_id"], app_secret_enc=vault.encrypt(fields["app_secret"]))
        session.add(platform)
        session.flush()
        channel = Channel(value="bench", name="bench", oms_platform_id=platform.id, shop_id=shop["shop_id"])
        session.add(channel)
        session.flush()
        channel_id = channel.id
    url = start_authorization("bench", "http://127.0.0.1:9/cb", settings=settings)
    complete_authorization("shopee", sandbox.consent(url), settings=settings)
    return channel_id


def _clear(engine) -> None:
    with engine.begin() as conn:
        for table in reversed(TABLES):
            conn.execute(table.delete())


def _driver_rows(engine) -> dict[str, tuple[list[str], list[tuple]]]:
    """Every row of the order tables as the driver returns them (columns, tuples)."""
    out = {}
    with engine.connect() as conn:
        for table in TABLES:
            result = conn.exec_driver_sql(f"SELECT * FROM {table.name} ORDER BY 1")
            out[table.name] = (list(result.keys()), [tuple(r) for r in result.fetchall()])
    return out


def _batches(rows: dict[str, tuple[list[str], list[tuple]]], size: int) -> list[dict[str, list[tuple]]]:
    """The rows cut into batches of ``size`` orders (children follow their order)."""
    order_cols, orders = rows["oms_order"]
    key = order_cols.index("oms_order_id")
    batches: list[dict[str, list[tuple]]] = []
    where: dict[int, int] = {}
    for n, row in enumerate(orders):
        if n % size == 0:
            batches.append({name: [] for name in rows})
        batches[-1]["oms_order"].append(row)
        where[row[key]] = len(batches) - 1
    for name, (cols, table_rows) in rows.items():
        if name == "oms_order":
            continue
        fk = cols.index("oms_order_id")
        for row in table_rows:
            batches[where[row[fk]]][name].append(row)
    return batches


def _driver_insert(engine, rows, batches) -> float:
    """The ceiling: the driver's executemany of the same rows, one transaction per batch."""
    paramstyle = "?" if engine.dialect.name == "sqlite" else "%s"
    sql = {name: f"INSERT INTO {name} ({', '.join(cols)}) VALUES ({', '.join([paramstyle] * len(cols))})"
           for name, (cols, _r) in rows.items()}
    raw = engine.raw_connection()
    try:
        dbapi = raw.driver_connection
        started = time.perf_counter()
        for batch in batches:
            cur = dbapi.cursor()
            if engine.dialect.name == "sqlite":
                cur.execute("BEGIN IMMEDIATE")
            for name in rows:
                if batch[name]:
                    cur.executemany(sql[name], batch[name])
            dbapi.commit() if engine.dialect.name != "sqlite" else cur.execute("COMMIT")
            cur.close()
        return time.perf_counter() - started
    finally:
        raw.close()


def _core_insert(engine, batches_py) -> float:
    """SQLAlchemy Core's executemany of the same rows (Python values through the column types)."""
    started = time.perf_counter()
    for batch in batches_py:
        with engine.begin() as conn:
            for table in TABLES:
                if batch[table.name]:
                    conn.execute(table.insert(), batch[table.name])
    return time.perf_counter() - started


def _core_rows(engine, size: int) -> list[dict[str, list[dict]]]:
    """The same rows as Python values (what Core binds), in the same batches."""
    with engine.connect() as conn:
        rows = {t.name: ([c.name for c in t.columns], [tuple(r) for r in conn.execute(t.select().order_by(
            *t.primary_key.columns)).all()]) for t in TABLES}
    batches = _batches(rows, size)
    return [{name: [dict(zip(rows[name][0], r, strict=True)) for r in b[name]] for name in b} for b in batches]


def bench(store: str, size: int, admin_url: str | None, profile: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="omsb-bench-"))
    env = {"OMS_BRIDGE_HOME": str(home), "OMS_BRIDGE_SECRET_KEYS": generate_key(),
           "OMS_BRIDGE_GETORDER_INITIAL_LOOKBACK_MINUTES": str(8 * 24 * 60)}
    drop = None
    if store == "postgresql":
        if not admin_url:
            print(f"{store:<10} {size:>7}: skipped (set OMS_BRIDGE_BENCH_DATABASE_URL)")
            return
        env["OMS_BRIDGE_DATABASE_URL"], drop = create_scratch_database(admin_url)
    settings = load_settings(env)
    policy = RetryPolicy(max_attempts=5, sleep=lambda s: None)
    kept: list = []
    original = pulling.upsert_orders

    def keep(session, channel_id, orders, *args, **kwargs):
        orders = list(orders)
        kept.extend(orders)
        return original(session, channel_id, orders, *args, **kwargs)

    try:
        with ShopeeSandbox(seed=1, rate_limit=0) as sandbox:
            channel_id = _setup(settings, sandbox)
            now = datetime.now(UTC)
            sandbox.generate_orders(next(iter(sandbox.shops)), size, start=now - timedelta(days=7),
                                    end=now - timedelta(hours=1))
            pulling.upsert_orders = keep
            t0 = time.perf_counter()
            stats = run_getorder(channel_id, settings=settings, policy=policy)
            e2e = time.perf_counter() - t0
            pulling.upsert_orders = original
            assert stats.outcome == "success", stats.error_text
            assert stats.new == size, (stats.new, size)
            with session_scope(settings) as session:
                session.get(Channel, channel_id).order_watermark = None
            t1 = time.perf_counter()
            again = run_getorder(channel_id, settings=settings, policy=policy)
            e2e_reread = time.perf_counter() - t1
            assert again.unchanged == size, again.unchanged
        engine = get_engine(settings)
        lines = sum(len(o.lines) for o in kept)
        _clear(engine)
        stats = RunStats(id=None, process="getorder", channel_id=channel_id)
        t2, c2 = time.perf_counter(), time.process_time()
        counts = pulling.store_orders(kept, channel_id, stats, settings, now_fn=lambda: datetime.now(UTC))
        project, project_cpu = time.perf_counter() - t2, time.process_time() - c2
        assert counts.new == size, counts
        t3 = time.perf_counter()
        counts = pulling.store_orders(kept, channel_id, stats, settings, now_fn=lambda: datetime.now(UTC))
        reread = time.perf_counter() - t3
        assert counts.unchanged == size, counts
        batch = settings.getorder_batch_size
        rows = _driver_rows(engine)
        core_batches = _core_rows(engine, batch)
        written = sum(len(r) for _c, r in rows.values())
        _clear(engine)
        c3 = time.process_time()
        driver = _driver_insert(engine, rows, _batches(rows, batch))
        driver_cpu = time.process_time() - c3
        _clear(engine)
        c4 = time.process_time()
        core = _core_insert(engine, core_batches)
        core_cpu = time.process_time() - c4
        if profile:  # once more, profiled (not timed: the profiler slows it down)
            _clear(engine)
            cProfile.runctx("pulling.store_orders(kept, channel_id, stats, settings, now_fn=lambda: datetime.now(UTC))",
                            globals(), locals(), profile)
        print(f"{store} {size} orders / {lines} lines ({written} rows written; batches of {batch})")
        print(f"  end to end (sandbox HTTP + mapping + store): {size / e2e:7.0f} orders/s; unchanged re-read "
              f"{size / e2e_reread:7.0f} orders/s")
        print(f"  store (upsert_orders, committed batches):    {size / project:7.0f} orders/s; unchanged re-read "
              f"{size / reread:7.0f} orders/s")
        print(f"  ceiling, driver executemany (same rows):     {size / driver:7.0f} orders/s")
        print(f"  ceiling, SQLAlchemy Core executemany:        {size / core:7.0f} orders/s")
        print(f"  ratio store / driver: {project / driver:4.1f}x wall, {project_cpu / driver_cpu:4.1f}x CPU "
              f"(goal <= 3); store / Core: {project / core:4.1f}x wall, {project_cpu / core_cpu:4.1f}x CPU", flush=True)
    finally:
        dispose_engines()
        if drop:
            drop()


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--profile", help="write a cProfile of the store step to this file (.<store> appended)")
    parser.add_argument("--one", nargs=2, metavar=("STORE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    admin_url = os.environ.get("OMS_BRIDGE_BENCH_DATABASE_URL") or os.environ.get("OMS_BRIDGE_TEST_DATABASE_URL")
    if args.one:
        bench(args.one[0], int(args.one[1]), admin_url, args.profile and f"{args.profile}.{args.one[0]}")
        return
    for store in args.stores.split(","):
        for size in args.sizes.split(","):
            cmd = [sys.executable, __file__, "--one", store, size]
            if args.profile:
                cmd += ["--profile", args.profile]
            subprocess.run(cmd, check=False)


if __name__ == "__main__":
    main()
