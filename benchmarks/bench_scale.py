"""One scheduler cycle of many channels: one process against several (issue 18).

Usage::

    python benchmarks/bench_scale.py                                   # 20 channels x 200 orders, 1 and 2 processes
    python benchmarks/bench_scale.py --channels 100 --orders 1000      # the issue's size (long on a busy machine)
    python benchmarks/bench_scale.py --runs 1x4,2x4,4x4 --latency 0.1
    python benchmarks/bench_scale.py --mode instances --stagger 3      # N separate `run` instances, started 3 s apart

Each configuration gets a fresh PostgreSQL database (``OMS_BRIDGE_BENCH_DATABASE_URL``, else
``OMS_BRIDGE_TEST_DATABASE_URL``, as an admin URL; ``--store sqlite`` for the embedded store) and a fresh
data directory; ``--channels`` momo channels on the momo sandbox (real HTTP on 127.0.0.1, run by this
script) with ``--orders`` orders each, and every sandbox request delayed by ``--latency`` seconds. Then a
real ``oms-bridge run --scheduler-only`` starts with ``--processes N`` (``--mode processes``), or N such
instances are started ``--stagger`` seconds apart (``--mode instances``: also runs on code without
``--processes``), with ``scheduler_max_workers`` as given per configuration (``--runs 1x8,2x4``: one
process with 8 workers, then two with 4 each) and an interval of an hour, so exactly one
cycle runs: every channel's GetOrder once, falling due ``--warmup`` seconds after the start (so that every
process is up, as in a service that has been running when a cycle falls due).

Printed per configuration: the **cycle** (first GetOrder start to last GetOrder end, from the process-run
records), the wall time from the first process start to the last order stored, the GetOrder runs each
process did, and the speed-up of the cycle against the first configuration.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scratch_db import create_scratch_database  # noqa: E402

from oms_bridge.settings import load_settings  # noqa: E402
from oms_bridge.store.db import dispose_engines, get_engine, session_scope  # noqa: E402
from oms_bridge.store.models import Base, Order, ProcessRun  # noqa: E402
from oms_bridge.vault import generate_key  # noqa: E402
from sandboxes.momo import MomoSandbox  # noqa: E402
from sandboxes.momo_channels import add_momo_channels  # noqa: E402

OMS_BRIDGE = str(Path(sys.executable).parent / "oms-bridge")


def _count(settings) -> int:
    with session_scope(settings, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(Order))


def _runs(settings) -> list[ProcessRun]:
    with session_scope(settings, readonly=True) as s:
        return list(s.scalars(select(ProcessRun).where(ProcessRun.process == "getorder")))


def one(args: argparse.Namespace, n: int, workers: int, admin_url: str | None) -> dict:
    home = Path(tempfile.mkdtemp(prefix="omsb-scale-"))
    env = {**os.environ, "OMS_BRIDGE_HOME": str(home), "OMS_BRIDGE_SECRET_KEYS": generate_key(),
           # the deliveries run once, at the start (nothing to deliver yet): the cycle measured is GetOrder's
           "OMS_BRIDGE_DELIVERY_INTERVAL_SECONDS": "86400"}
    env.pop("OMS_BRIDGE_CONFIG", None)
    env.pop("OMS_BRIDGE_DATABASE_URL", None)
    drop = None
    if args.store == "postgresql":
        env["OMS_BRIDGE_DATABASE_URL"], drop = create_scratch_database(admin_url, "omsb_scale")
    (home / "config.toml").write_text(
        "[oms_bridge]\nscheduler_minute_seconds = 3600.0\nscheduler_first_run_spread_seconds = 0.0\n"
        f"scheduler_sync_seconds = 1.0\nscheduler_heartbeat_seconds = 1.0\nscheduler_max_workers = {workers}\n"
        f"scheduler_misfire_grace_seconds = 86400\nscheduler_first_run_delay_seconds = {args.warmup}\n")
    settings = load_settings(env)
    procs: list[subprocess.Popen] = []
    try:
        Base.metadata.create_all(get_engine(settings))
        with MomoSandbox(seed=1, rate_limit=0) as sandbox:
            add_momo_channels(settings, sandbox, args.channels, args.orders, window=timedelta(hours=20))
            if args.latency:
                sandbox.faults.inject("timeout", count=10**9, delay=args.latency)
            expected = args.channels * args.orders
            log = open(home / "run.log", "w")  # noqa: SIM115 - closed below
            t0 = time.monotonic()
            if args.mode == "processes":
                procs.append(subprocess.Popen([OMS_BRIDGE, "run", "--scheduler-only", "--processes", str(n)],
                                              env=env, stdout=log, stderr=subprocess.STDOUT))
            else:
                for i in range(n):
                    if i:
                        time.sleep(args.stagger)
                    procs.append(subprocess.Popen([OMS_BRIDGE, "run", "--scheduler-only"], env=env, stdout=log,
                                                  stderr=subprocess.STDOUT))
            deadline = t0 + args.timeout
            while _count(settings) < expected or len([r for r in _runs(settings) if r.ended]) < args.channels:
                if time.monotonic() > deadline:
                    raise SystemExit(f"timed out: {_count(settings)} of {expected} orders; log {home / 'run.log'}")
                time.sleep(0.5)
            wall = time.monotonic() - t0
            runs = [r for r in _runs(settings) if r.outcome == "success"]
            started = min(r.started for r in runs)
            ended = max(r.ended for r in runs)
            by_pid = Counter(json.loads(r.details_json or "{}").get("runner", "?").rsplit(":", 1)[-1] for r in runs)
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                p.wait(timeout=300)
            log.close()
            return {"n": n, "cycle": (ended - started).total_seconds(), "wall": wall, "runs": len(runs),
                    "per_process": sorted(by_pid.values(), reverse=True), "orders": _count(settings)}
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        dispose_engines()
        if drop:
            drop()


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--orders", type=int, default=200)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds added to every sandbox request")
    parser.add_argument("--runs", default="1x4,1x8,2x4",
                        help="configurations to compare: PROCESSES x WORKERS (scheduler_max_workers of each)")
    parser.add_argument("--mode", choices=("processes", "instances"), default="processes")
    parser.add_argument("--stagger", type=float, default=3.0, help="--mode instances: seconds between starts")
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default="postgresql")
    parser.add_argument("--warmup", type=float, default=20.0,
                        help="the cycle falls due this many seconds after the start (every process is up by then)")
    parser.add_argument("--timeout", type=float, default=1800)
    args = parser.parse_args()
    admin_url = os.environ.get("OMS_BRIDGE_BENCH_DATABASE_URL") or os.environ.get("OMS_BRIDGE_TEST_DATABASE_URL")
    if args.store == "postgresql" and not admin_url:
        raise SystemExit("set OMS_BRIDGE_BENCH_DATABASE_URL (or --store sqlite)")
    print(f"{args.channels} channels x {args.orders} orders, {args.latency * 1000:.0f} ms latency, {args.mode}, "
          f"{args.store}", flush=True)
    first = None
    for spec in args.runs.split(","):
        n, workers = (int(x) for x in spec.split("x"))
        result = one(args, n, workers, admin_url)
        first = first or result
        print(f"  {n} {args.mode} x {workers} workers: cycle {result['cycle']:7.1f} s  wall {result['wall']:7.1f} s  "
              f"speed-up {first['cycle'] / result['cycle']:4.2f}x  GetOrder runs per process "
              f"{result['per_process']}  orders {result['orders']}", flush=True)


if __name__ == "__main__":
    main()
