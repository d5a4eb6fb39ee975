"""Load and availability benchmark (issue 11): does the embedded default hold under ordinary concurrent use?

Run::

    python benchmarks/bench_load.py                      # SQLite (the embedded default), 3 minutes
    python benchmarks/bench_load.py --quick              # 30 seconds
    python benchmarks/bench_load.py --duration 600 --postgres postgresql://postgres@127.0.0.1:5432/postgres

``--postgres ADMIN_URL`` creates a throw-away database next to the one in the URL and drops it after.
Everything runs on 127.0.0.1: the four marketplace sandboxes, the iDempiere SOAP sandbox, and a real
``oms-bridge run`` process (HTTP + scheduler) on a fresh data directory. Its schedule is compressed
(``scheduler_minute_seconds``) so that, at once and for the whole duration:

- 8 channels (2 per marketplace) run GetOrder every 4 s and the OAuth ones RefreshToken every 6 s
  (``refresh_margin_minutes`` at its maximum, so every run really refreshes);
- ERP delivery (iDempiere SOAP sandbox) and logistics delivery run every 3 s;
- the marketplaces keep selling (new orders every second);
- an OMS pulls the Seller-Center API (``orders/``, paged) and ships some orders through package webhooks
  (which queue logistics deliveries back to the marketplaces);
- admins use the admin pages (dashboard, runs, channels, orders) and log in, some with a wrong password,
  plus bursts of 15 wrong logins at once;
- an admin's shell runs ``oms-bridge channel update`` (real processes) and ``process runs``;
- a monitor polls ``/healthz`` every second.

It reports: lock errors anywhere ("database is locked" in a run record, a CLI, the service's log or an
HTTP answer; goal 0), HTTP 5xx, p50/p99/max latency of the OMS API, the webhooks, the admin pages and
``/healthz``, and whether every scheduled job kept running (its runs kept coming at its interval until
the end). Not a timed test: numbers depend on the machine; see benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import requests
from scratch_db import create_scratch_database
from sqlalchemy import func, select, text

from oms_bridge.oms.auth import rotate_many
from oms_bridge.oms.config import oms_config
from oms_bridge.oms.setup import setup_document
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store.db import dispose_engines, get_engine, session_scope
from oms_bridge.store.models import Base, Channel, Delivery, Order, ProcessRun
from oms_bridge.vault import create_key_file
from oms_bridge.web.security import set_admin_password
from sandboxes.demo import MARKETPLACES, _add_channel, _add_platform, _authorize, _configure_erp
from sandboxes.idempiere.server import ErpSandbox
from sandboxes.oms import OmsSimulator, package_payload

OMS_BRIDGE = str(Path(sys.executable).parent / "oms-bridge")
MINUTE_SECONDS = 2.0  # one "minute" of a channel interval
GETORDER_MINUTES, REFRESH_MINUTES, DELIVERY_SECONDS = 2, 3, 3
PASSWORD = "bench-admin-password"


# ------------------------------------------------------------------------------------------ recording
@dataclass
class Record:
    """Everything the actors observed (thread-safe appends)."""

    latency: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    lock = threading.Lock()

    def timed(self, kind: str, seconds: float) -> None:
        with self.lock:
            self.latency[kind].append(seconds)

    def error(self, kind: str, what: str) -> None:
        with self.lock:
            self.errors[kind].append(what[:300])

    def count(self, kind: str, n: int = 1) -> None:
        with self.lock:
            self.counts[kind] += n


def _pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def _http(rec: Record, kind: str, method: str, url: str, session: requests.Session | None = None,
          **kwargs: Any) -> requests.Response | None:
    started = time.perf_counter()
    try:
        answer = (session or requests).request(method, url, timeout=120, **kwargs)
    except requests.RequestException as exc:
        rec.error(kind, f"{type(exc).__name__}: {exc}")
        return None
    rec.timed(kind, time.perf_counter() - started)
    if answer.status_code >= 500:
        rec.error(kind, f"HTTP {answer.status_code}: {answer.text[:200]}")
    return answer


# -------------------------------------------------------------------------------------------- setup
def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _prepare(home: Path, port: int, database_url: str) -> None:
    for name in ("OMS_BRIDGE_SECRET_KEYS", "OMS_BRIDGE_CONFIG", "OMS_BRIDGE_DATABASE_URL"):
        os.environ.pop(name, None)
    os.environ.update({"OMS_BRIDGE_HOME": str(home), "OMS_BRIDGE_BASE_URL": f"http://127.0.0.1:{port}",
                       "OMS_BRIDGE_HTTP_PORT": str(port), "OMS_BRIDGE_LOG_LEVEL": "WARNING"})
    if database_url:
        os.environ["OMS_BRIDGE_DATABASE_URL"] = database_url
    (home / "config.toml").write_text(
        "[oms_bridge]\n"
        f"scheduler_minute_seconds = {MINUTE_SECONDS}\n"
        f"getorder_interval_minutes = {GETORDER_MINUTES}\n"
        f"refreshtoken_interval_minutes = {REFRESH_MINUTES}\n"
        f"delivery_interval_seconds = {DELIVERY_SECONDS}\n"
        "refresh_margin_minutes = 10080\n"  # every RefreshToken run refreshes for real
        "scheduler_sync_seconds = 5\n"
        "scheduler_first_run_spread_seconds = 4\n"
        "scheduler_misfire_grace_seconds = 60\n")
    dispose_engines()
    reset_settings()
    settings = get_settings()
    create_key_file(settings.key_file)
    Base.metadata.create_all(get_engine(settings))


# ------------------------------------------------------------------------------------------- actors
class Bench:
    def __init__(self, base: str, deadline: float, sandboxes: dict[str, Any], oms: OmsSimulator):
        self.base = base
        self.deadline = deadline
        self.sandboxes = sandboxes  # channel value -> (sandbox, shop id)
        self.oms = oms
        self.rec = Record()
        self.stop = threading.Event()
        self.shipped: set[str] = set()

    def running(self) -> bool:
        return not self.stop.is_set() and time.monotonic() < self.deadline

    def market(self) -> None:
        rng = random.Random(1)
        seq = 0
        while self.running():
            value = rng.choice(sorted(self.sandboxes))
            sandbox, shop = self.sandboxes[value]
            end = datetime.now(UTC) - timedelta(seconds=40 + seq % 17)
            try:
                sandbox.generate_orders(shop, rng.randint(1, 3), start=end - timedelta(seconds=20), end=end)
                self.rec.count("orders generated")
            except Exception as exc:  # noqa: BLE001 - a sandbox hiccup is not the bridge's failure
                self.rec.error("market", str(exc))
            seq += 1
            self.stop.wait(1.0)

    def oms_puller(self) -> None:
        package = 1
        while self.running():
            url = self.oms.url("orders")
            params: dict[str, Any] | None = {"limit": 50}
            pulled: list[dict[str, Any]] = []
            while url and self.running():
                answer = _http(self.rec, "OMS API orders/", "GET", url, params=params,
                               headers=self.oms.headers("orders"))
                params = None
                if answer is None or answer.status_code != 200:
                    break
                body = answer.json()
                pulled.extend(body["results"])
                url = body["next"]
            self.rec.count("OMS pulls")
            for order in [o for o in pulled if o["number"] not in self.shipped][:2]:
                self.shipped.add(order["number"])
                items = tuple(i["id"] for i in order.get("orderitem_set", []))
                for event, code, name, tracking in (("package.created", "100", "Waiting", None),
                                                     ("package.status.shipped", "600", "Shipped", f"TW{package:08d}")):
                    hook = self.oms.webhooks[event]
                    payload = package_payload(package, order["number"], code, name, item_ids=items, tracking=tracking,
                                              carrier="黑貓宅急便" if tracking else None)
                    body = json.dumps({"event": {"type": event, "uuid": uuid.uuid4().hex}, "payload": payload})
                    _http(self.rec, "OMS webhooks", "POST", hook["target_url"], data=body.encode(),
                          headers={"Content-Type": "application/json", **(hook.get("additional_headers") or {})})
                package += 1
            self.stop.wait(0.5)

    def admin(self, wrong_every: int = 4) -> None:
        n = 0
        while self.running():
            browser = requests.Session()
            page = _http(self.rec, "admin pages", "GET", f"{self.base}/admin/login", browser)
            match = re.search(r'name="csrf_token" value="([^"]+)"', page.text if page is not None else "")
            if match:
                wrong = n % wrong_every == 0
                answer = _http(self.rec, "admin login", "POST", f"{self.base}/admin/login", browser,
                               allow_redirects=False,
                               data={"username": "admin", "password": "nope" if wrong else PASSWORD,
                                     "csrf_token": match.group(1), "next": "/admin/"})
                self.rec.count("logins wrong" if wrong else "logins right")
                if answer is not None and not wrong and answer.status_code == 303:
                    for path in ("/admin/", "/admin/runs", "/admin/channels", "/admin/orders", "/admin/held"):
                        _http(self.rec, "admin pages", "GET", f"{self.base}{path}", browser)
            n += 1
            self.stop.wait(0.3)

    def login_burst(self) -> None:
        """Every 20 s, 15 wrong-password logins at once (the issue's freeze)."""
        while self.running():
            if self.stop.wait(20) or not self.running():
                return
            threads = [threading.Thread(target=self._one_wrong_login) for _ in range(15)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.rec.count("wrong-login bursts")

    def _one_wrong_login(self) -> None:
        browser = requests.Session()
        page = _http(self.rec, "admin pages", "GET", f"{self.base}/admin/login", browser)
        match = re.search(r'name="csrf_token" value="([^"]+)"', page.text if page is not None else "")
        if match:
            _http(self.rec, "admin login", "POST", f"{self.base}/admin/login", browser, allow_redirects=False,
                  data={"username": "admin", "password": "wrong", "csrf_token": match.group(1), "next": "/admin/"})

    def shell(self) -> None:
        n = 0
        values = sorted(self.sandboxes)
        while self.running():
            value = values[n % len(values)]
            for args in (["channel", "update", value, "--name", f"{value} (renamed {n})"],
                         ["process", "runs", "--limit", "5"]):
                started = time.perf_counter()
                done = subprocess.run([OMS_BRIDGE, *args], capture_output=True, text=True, timeout=300,
                                      env=dict(os.environ))
                self.rec.timed(f"CLI {args[0]} {args[1]}", time.perf_counter() - started)
                self.rec.count("CLI commands")
                if done.returncode != 0:
                    self.rec.error("CLI", done.stderr.strip()[-300:])
            n += 1
            self.stop.wait(1.0)

    def health(self) -> None:
        while self.running():
            answer = _http(self.rec, "/healthz", "GET", f"{self.base}/healthz")
            if answer is not None and answer.status_code != 200:
                self.rec.error("healthz not ok", answer.text[:200])
            self.stop.wait(1.0)


# ------------------------------------------------------------------------------------------ analysis
def _job_liveness(started_at: datetime, ended_at: datetime) -> list[dict[str, Any]]:
    """Per scheduled (process, channel): runs during the bench, and the longest idle gap - from the end of one
    run (or the bench start) to the start of the next (or the bench end). A run that takes longer than its
    interval is busy, not stopped; a job "kept running" when no idle gap exceeds 3 intervals + 5 s."""
    intervals = {"getorder": GETORDER_MINUTES * MINUTE_SECONDS, "refreshtoken": REFRESH_MINUTES * MINUTE_SECONDS,
                 "erp_delivery": DELIVERY_SECONDS, "logistics_delivery": DELIVERY_SECONDS}
    with session_scope(readonly=True) as s:
        names = dict(s.execute(select(Channel.id, Channel.value)).all())
        rows = s.execute(select(ProcessRun.process, ProcessRun.oms_channel_id, ProcessRun.started, ProcessRun.ended)
                         .where(ProcessRun.started >= started_at, ProcessRun.process.in_(intervals))
                         .order_by(ProcessRun.started)).all()
        job_ids = [r[0] for r in s.execute(text("SELECT id FROM apscheduler_jobs")).all()]
    spans: dict[tuple[str, int | None], list[tuple[datetime, datetime]]] = defaultdict(list)
    for process, channel_id, started, ended in rows:
        started = started if started.tzinfo else started.replace(tzinfo=UTC)
        ended = (ended if ended.tzinfo else ended.replace(tzinfo=UTC)) if ended else ended_at
        spans[(process, channel_id)].append((started, ended))
    out = []
    for job_id in sorted(job_ids):
        kind, _, cid = job_id.partition(":")
        process = {"erp-delivery": "erp_delivery", "logistics-delivery": "logistics_delivery"}.get(kind, kind)
        if process not in intervals:  # the scheduler's own jobs (alerts, reconciliation): not on this schedule
            continue
        key = (process, int(cid) if cid else None)
        runs = spans.get(key, [])
        idle_from, gap = started_at, 0.0
        for started, ended in runs:
            gap = max(gap, (started - idle_from).total_seconds())
            idle_from = max(idle_from, ended)
        gap = max(gap, (ended_at - idle_from).total_seconds())
        longest = max(((e - st).total_seconds() for st, e in runs), default=0.0)
        out.append({"job": f"{process} {names.get(key[1], '') if key[1] else ''}".strip(), "runs": len(runs),
                    "interval_s": intervals[process], "max_idle_s": round(gap, 1),
                    "longest_run_s": round(longest, 1), "kept_running": gap <= 3 * intervals[process] + 5})
    return out


def _store_figures(started_at: datetime) -> dict[str, Any]:
    with session_scope(readonly=True) as s:
        outcomes = {f"{p} {o}": n for p, o, n in s.execute(
            select(ProcessRun.process, ProcessRun.outcome, func.count()).where(ProcessRun.started >= started_at)
            .group_by(ProcessRun.process, ProcessRun.outcome))}
        locked = [f"{p}: {e[:200]}" for p, e in s.execute(
            select(ProcessRun.process, ProcessRun.error_text).where(ProcessRun.error_text.like("%locked%")))]
        failed = [f"{p} {o}: {(e or '')[:160]}" for p, o, e in s.execute(
            select(ProcessRun.process, ProcessRun.outcome, ProcessRun.error_text)
            .where(ProcessRun.started >= started_at, ProcessRun.outcome.in_(("failed", "interrupted"))).limit(10))]
        deliveries = {f"{d} {st}": n for d, st, n in s.execute(
            select(Delivery.destination, Delivery.state, func.count()).group_by(Delivery.destination, Delivery.state))}
        orders = s.scalar(select(func.count()).select_from(Order))
    return {"run outcomes": outcomes, "lock errors in runs": locked, "failed runs (first 10)": failed,
            "deliveries": deliveries, "orders stored": orders}


def _report(bench: Bench, liveness: list[dict[str, Any]], store: dict[str, Any], service_stderr: str,
            exit_code: int, label: str, duration: float) -> dict[str, Any]:
    rec = bench.rec
    lock_errors = (len(store["lock errors in runs"])
                   + sum(1 for errs in rec.errors.values() for e in errs if "locked" in e)
                   + service_stderr.count("database is locked"))
    latency = {kind: {"n": len(v), "p50_ms": round(_pct(v, 50) * 1000, 1), "p99_ms": round(_pct(v, 99) * 1000, 1),
                      "max_ms": round(max(v) * 1000, 1)} for kind, v in sorted(rec.latency.items())}
    return {
        "store": label, "duration_s": duration, "lock_errors": lock_errors,
        "http_5xx": {k: sum(1 for e in v if e.startswith("HTTP 5")) for k, v in rec.errors.items()},
        "errors": {k: v[:5] for k, v in rec.errors.items()}, "latency": latency, "counts": dict(rec.counts),
        "jobs_kept_running": all(j["kept_running"] for j in liveness), "jobs": liveness, **store,
        "service_exit_code": exit_code,
        "service_tracebacks": service_stderr.count("Traceback"),
    }


def _print(report: dict[str, Any]) -> None:
    print(f"\n=== oms-bridge load benchmark: {report['store']}, {report['duration_s']:.0f} s ===")
    print(f"lock errors (goal 0): {report['lock_errors']}")
    print(f"every job kept running: {report['jobs_kept_running']}")
    print(f"service: exit {report['service_exit_code']}, tracebacks in its log: {report['service_tracebacks']}")
    print(f"{'latency':<28}{'n':>7}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    for kind, v in report["latency"].items():
        print(f"{kind:<28}{v['n']:>7}{v['p50_ms']:>10}{v['p99_ms']:>10}{v['max_ms']:>10}")
    print(f"{'job':<28}{'runs':>6}{'every s':>9}{'max idle s':>12}{'longest run s':>15}  kept running")
    for j in report["jobs"]:
        print(f"{j['job']:<28}{j['runs']:>6}{j['interval_s']:>9}{j['max_idle_s']:>12}{j['longest_run_s']:>15}  "
              f"{j['kept_running']}")
    print("counts:", json.dumps(report["counts"], ensure_ascii=False))
    print("run outcomes:", json.dumps(report["run outcomes"], ensure_ascii=False))
    print("deliveries:", json.dumps(report["deliveries"], ensure_ascii=False), "| orders stored:",
          report["orders stored"])
    if any(report["errors"].values()) or report["failed runs (first 10)"]:
        print("errors (first 5 per kind):", json.dumps(report["errors"], ensure_ascii=False, indent=1))
        print("failed runs:", json.dumps(report["failed runs (first 10)"], ensure_ascii=False, indent=1))


# --------------------------------------------------------------------------------------------- main
def run(duration: float, postgres_admin_url: str | None) -> dict[str, Any]:
    home = Path(tempfile.mkdtemp(prefix="bench-load-"))
    port = _free_port()
    database_url, drop_database = "", None
    if postgres_admin_url:
        database_url, drop_database = create_scratch_database(postgres_admin_url)
    _prepare(home, port, database_url)
    settings = get_settings()
    erp = ErpSandbox().start()
    sandboxes: list[Any] = []
    channels: dict[str, Any] = {}
    service: subprocess.Popen | None = None
    err_path = home / "service.err"
    try:
        _configure_erp(settings, erp)
        for cls, shops in MARKETPLACES:
            sandbox = cls().start()  # with its real rate limits: the bridge must live with them
            sandboxes.append(sandbox)
            platform = _add_platform(settings, sandbox)
            for index, options in enumerate(shops, start=1):
                value = _add_channel(settings, sandbox, platform, index, options, erp, 20)
                _authorize(settings, sandbox, value)
                with session_scope(settings, readonly=True) as s:
                    shop = s.scalar(select(Channel.shop_id).where(Channel.value == value))
                channels[value] = (sandbox, shop)
        set_admin_password("admin", PASSWORD, settings=settings)
        with session_scope(settings) as s:
            tokens = rotate_many(s)
        oms = OmsSimulator(setup_document(oms_config(settings), f"http://127.0.0.1:{port}", tokens))
        with open(err_path, "w") as err:
            service = subprocess.Popen([OMS_BRIDGE, "run", "--port", str(port)], stdout=subprocess.DEVNULL,
                                       stderr=err, env=dict(os.environ))
        base = f"http://127.0.0.1:{port}"
        for _ in range(600):
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.1)
        started_at = datetime.now(UTC)
        bench = Bench(base, time.monotonic() + duration, channels, oms)
        actors = [bench.market, bench.oms_puller, bench.admin, bench.admin, bench.login_burst, bench.shell,
                  bench.health]
        threads = [threading.Thread(target=a, name=a.__name__, daemon=True) for a in actors]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        ended_at = datetime.now(UTC)
        liveness = _job_liveness(started_at, ended_at)
        service.send_signal(signal.SIGTERM)
        exit_code = service.wait(timeout=300)
        store = _store_figures(started_at)
        label = "PostgreSQL" if postgres_admin_url else "SQLite (embedded default)"
        return _report(bench, liveness, store, err_path.read_text(), exit_code, label, duration)
    finally:
        if service is not None and service.poll() is None:
            service.kill()
        for sandbox in sandboxes:
            sandbox.stop()
        erp.stop()
        dispose_engines()
        if drop_database:
            drop_database()


def main() -> None:
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the sandboxes' request lines
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=180.0, help="seconds of load (default 180)")
    parser.add_argument("--quick", action="store_true", help="30 seconds")
    parser.add_argument("--postgres", metavar="ADMIN_URL", help="run on a throw-away PostgreSQL database")
    parser.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    args = parser.parse_args()
    report = run(30.0 if args.quick else args.duration, args.postgres)
    _print(report)
    if args.json:
        Path(args.json).write_text(json.dumps(report, ensure_ascii=False, indent=1, default=str))


if __name__ == "__main__":
    main()
