"""Regression (issue 11): no request can stall the others or the scheduler.

Async admin handlers ran the database and scrypt on the event loop: wrong-password logins while a
writer held SQLite's lock froze every route (30 s at a time) and APScheduler's thread died with
"database is locked" in its job store while ``/healthz`` and ``/metrics`` still said it was running.
"""

from __future__ import annotations

import re
import sqlite3
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests
from avail_kit import RunProcess, free_port, momo_channels, runs, wait_for, write_config
from sqlalchemy.engine import make_url

from oms_bridge.settings import Settings
from oms_bridge.web.security import set_admin_password
from sandboxes.momo import MomoSandbox


def _csrf(session: requests.Session, base: str) -> str:
    page = session.get(f"{base}/admin/login", timeout=30)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:500]
    return match.group(1)


def _hold_write_lock(settings: Settings, seconds: float, held: threading.Event) -> None:
    """Another writer (a long CLI command, a bulk import) holding SQLite's write lock for a while."""
    raw = sqlite3.connect(make_url(settings.effective_database_url).database, isolation_level=None, timeout=30)
    try:
        raw.execute("BEGIN IMMEDIATE")
        held.set()
        time.sleep(seconds)
        raw.execute("ROLLBACK")
    finally:
        raw.close()


def test_wrong_password_logins_during_a_long_write_stall_nothing(sqlite_settings: Settings, home, tmp_path) -> None:
    write_config(home, scheduler_minute_seconds=0.5, scheduler_sync_seconds=1, scheduler_first_run_spread_seconds=0,
                 scheduler_misfire_grace_seconds=30)
    set_admin_password("admin", "the-right-password", settings=sqlite_settings)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with MomoSandbox(rate_limit=0) as sandbox:
        momo_channels(sqlite_settings, sandbox, 2, orders=3, interval=1)
        service = RunProcess(tmp_path, "both", "--port", str(port))
        try:
            wait_for(lambda: _get(f"{base}/healthz") == 200, timeout=60, what="/healthz")
            browsers = [requests.Session() for _ in range(15)]
            tokens = [_csrf(b, base) for b in browsers]
            held = threading.Event()
            holder = threading.Thread(target=_hold_write_lock, args=(sqlite_settings, 8.0, held), daemon=True)
            holder.start()
            assert held.wait(10)

            def wrong_login(i: int) -> int:
                answer = browsers[i].post(f"{base}/admin/login", timeout=120, allow_redirects=False,
                                          data={"username": "admin", "password": f"wrong-{i}", "csrf_token": tokens[i],
                                                "next": "/admin/"})
                return answer.status_code

            with ThreadPoolExecutor(15) as pool:
                logins = pool.map(wrong_login, range(15))
                time.sleep(0.5)  # the logins are in the server now
                slowest = 0.0
                while holder.is_alive():  # other routes answer while the lock is held and the logins run
                    started = time.monotonic()
                    assert _get(f"{base}/healthz", timeout=30) == 200
                    assert _get(f"{base}/admin/login", timeout=30) == 200
                    slowest = max(slowest, time.monotonic() - started)
                    time.sleep(0.2)
                statuses = list(logins)
            assert statuses == [401] * 15  # refused, never a 500
            assert slowest < 3.0, f"/healthz and the login page took {slowest:.1f} s while a login waited"
            # The scheduler lived through it: new GetOrder runs after the lock was released.
            before = len(runs(sqlite_settings, "getorder"))
            wait_for(lambda: len([r for r in runs(sqlite_settings, "getorder") if r.outcome == "success"]) > before,
                     timeout=60, what="GetOrder runs after the stall")
            assert requests.get(f"{base}/healthz", timeout=30).json()["scheduler"] == "running"
        finally:
            assert service.stop() == 0, service.stderr[-3000:]
    assert "Traceback" not in service.stderr, service.stderr[-3000:]


def _get(url: str, timeout: float = 5) -> int | None:
    try:
        return requests.get(url, timeout=timeout).status_code
    except requests.RequestException:
        return None
