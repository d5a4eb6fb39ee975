"""GetOrder throughput end to end: Shopee sandbox (real HTTP on 127.0.0.1) → adapter → upsert → store.

Usage::

    python benchmarks/bench_getorder.py [--sizes 10000,100000] [--stores sqlite,postgresql]

PostgreSQL uses ``OMS_BRIDGE_BENCH_DATABASE_URL`` (else ``OMS_BRIDGE_TEST_DATABASE_URL``) as an admin
URL and creates/drops a throw-away database. Prints, per store and size: wall time, orders/s, API
calls, peak RSS of the process (sandbox included, it runs in-process) and the Python heap peak
(each store/size runs in its own subprocess, so the RSS peak is that run's alone).
A second run over the same window (all unchanged) is timed too: that is the steady-state cost of
the overlap re-read.
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from channels.authorization import complete_authorization, start_authorization  # noqa: E402
from channels.getorder import run_getorder  # noqa: E402
from oms_bridge.remote.http import RetryPolicy  # noqa: E402
from oms_bridge.settings import load_settings, normalize_database_url  # noqa: E402
from oms_bridge.store.db import dispose_engines, get_engine, session_scope  # noqa: E402
from oms_bridge.store.models import Base, Channel, Platform  # noqa: E402
from oms_bridge.vault import Vault, generate_key  # noqa: E402
from sandboxes.shopee import ShopeeSandbox  # noqa: E402


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


def bench(store: str, size: int, admin_url: str | None) -> None:
    home = Path(tempfile.mkdtemp(prefix="omsb-bench-"))
    env = {"OMS_BRIDGE_HOME": str(home), "OMS_BRIDGE_SECRET_KEYS": generate_key(),
           "OMS_BRIDGE_GETORDER_INITIAL_LOOKBACK_MINUTES": str(8 * 24 * 60)}
    db_name = None
    if store == "postgresql":
        if not admin_url:
            print(f"{store:<10} {size:>7}: skipped (set OMS_BRIDGE_BENCH_DATABASE_URL)")
            return
        db_name = f"omsb_bench_{uuid.uuid4().hex[:8]}"
        admin = create_engine(normalize_database_url(admin_url), isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{db_name}"'))
        env["OMS_BRIDGE_DATABASE_URL"] = make_url(normalize_database_url(admin_url)).set(
            database=db_name).render_as_string(hide_password=False)
    settings = load_settings(env)
    policy = RetryPolicy(max_attempts=5, sleep=lambda s: None)
    try:
        with ShopeeSandbox(seed=1, rate_limit=0) as sandbox:
            channel_id = _setup(settings, sandbox)
            now = datetime.now(UTC)
            sandbox.generate_orders(_shop(sandbox), size, start=now - timedelta(days=7), end=now - timedelta(hours=1))
            t0 = time.perf_counter()
            stats = run_getorder(channel_id, settings=settings, policy=policy)
            elapsed = time.perf_counter() - t0
            assert stats.outcome == "success", stats.error_text
            assert stats.new == size, (stats.new, size)
            # Steady state: the next run re-reads the same window (everything unchanged).
            with session_scope(settings) as session:
                session.get(Channel, channel_id).order_watermark = None
            t1 = time.perf_counter()
            again = run_getorder(channel_id, settings=settings, policy=policy)
            reread = time.perf_counter() - t1
            assert again.unchanged == size, again.unchanged
            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
            print(f"{store:<10} {size:>7}: {elapsed:7.1f} s  {size / elapsed:7.0f} orders/s  "
                  f"{stats.api_calls:>5} API calls  RSS peak {rss:7.1f} MiB  | "
                  f"unchanged re-read {reread:6.1f} s ({size / reread:6.0f} orders/s)", flush=True)
    finally:
        dispose_engines()
        if db_name:
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
            admin.dispose()


def _shop(sandbox: ShopeeSandbox) -> str:
    return str(next(iter(sandbox.shops)))


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--stores", default="sqlite,postgresql")
    parser.add_argument("--one", nargs=2, metavar=("STORE", "SIZE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    admin_url = os.environ.get("OMS_BRIDGE_BENCH_DATABASE_URL") or os.environ.get("OMS_BRIDGE_TEST_DATABASE_URL")
    if args.one:
        bench(args.one[0], int(args.one[1]), admin_url)
        return
    for store in args.stores.split(","):
        for size in args.sizes.split(","):
            subprocess.run([sys.executable, __file__, "--one", store, size], check=False)


if __name__ == "__main__":
    main()
