"""Server memory under hostile request bodies: a real ``oms-bridge run --no-scheduler`` (a child process on
an embedded SQLite store) receives big bodies over raw sockets, and its resident memory (VmRSS, and the
peak VmHWM) is read from /proc before and after each. Also the database file's growth.

    python benchmarks/bench_hostile_bodies.py [--mb 20]

Cases (issue 11): an unauthenticated N MB JSON body to ``order_item_bulk_update/`` with Content-Length,
the same chunked, an authenticated N MB webhook (chunked), and an authenticated webhook of N MB with
Content-Length. Run it with ``PYTHONPATH=<an older checkout>`` to measure that version the same way.
"""

from __future__ import annotations

import argparse
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
from cryptography.fernet import Fernet

API = "/api/v1/applications/oms"
MB = 1024 * 1024


def _status(pid: int) -> dict[str, int]:
    values = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS:", "VmHWM:")):
            values[line.split(":")[0]] = int(line.split()[1]) // 1024
    return values


def _send(port: int, path: str, total: int, headers: dict[str, str], chunked: bool) -> tuple[str, int, float]:
    """(answer status line, MB sent before the answer, seconds)."""
    started = time.perf_counter()
    sock = socket.create_connection(("127.0.0.1", port), timeout=60)
    head = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Content-Type: application/json",
            *(f"{k}: {v}" for k, v in headers.items()),
            "Transfer-Encoding: chunked" if chunked else f"Content-Length: {total}"]
    sock.sendall(("\r\n".join(head) + "\r\n\r\n").encode())
    piece = b'{"id": 1, "status": "500", "tracking_number": "TW1234567890"},' * 1000
    sent = 0
    try:
        sock.sendall(b"[" if not chunked else b"1\r\n[\r\n")
        while sent < total:
            readable, writable, _ = select.select([sock], [sock], [], 60)
            if readable or not writable:
                break
            data = piece[: min(len(piece), total - sent)]
            sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
            sent += len(data)
        else:
            sock.sendall(b"1\r\n]\r\n0\r\n\r\n" if chunked else b"]")
    except OSError:
        pass
    answer = b""
    try:
        while b"\r\n" not in answer:
            data = sock.recv(4096)
            if not data:
                break
            answer += data
    except OSError:
        pass
    sock.close()
    return answer.split(b"\r\n", 1)[0].decode(errors="replace") or "(connection closed)", sent // MB, \
        time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--mb", type=int, default=20)
    args = parser.parse_args()
    home = Path(tempfile.mkdtemp(prefix="bench-bodies-"))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "OMS_BRIDGE_HOME": str(home), "OMS_BRIDGE_SECRET_KEYS": Fernet.generate_key().decode(),
           "OMS_BRIDGE_BASE_URL": f"http://127.0.0.1:{port}"}
    env.pop("OMS_BRIDGE_DATABASE_URL", None)
    exe = str(Path(sys.executable).parent / "oms-bridge")
    subprocess.run([exe, "init"], env=env, check=True, capture_output=True)
    settings = subprocess.run([exe, "oms", "settings", "--json", "--rotate"], env=env, check=True,
                              capture_output=True, text=True).stdout
    import json

    doc = json.loads(settings)
    tokens = {e["endpoint"]: e["auth"]["token"] for e in doc["OMNITRON_CLIENT_SETTINGS"]["json_value"]["endpoint_conf"]}
    webhook = doc["webhooks"][0]["additional_headers"]["Authorization"]
    proc = subprocess.Popen([exe, "run", "--no-scheduler", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(300):
            try:
                requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except requests.RequestException:
                time.sleep(0.1)
        db = home / "oms-bridge.db"
        size = lambda: sum(p.stat().st_size for p in home.glob("oms-bridge.db*")) // MB  # noqa: E731
        print(f"server pid {proc.pid}: {_status(proc.pid)} MiB at start, database {size()} MiB")
        total = args.mb * MB
        cases = [
            ("unauthenticated bulk update, Content-Length", f"{API}/order_item_bulk_update/", {}, False),
            ("unauthenticated bulk update, chunked", f"{API}/order_item_bulk_update/", {}, True),
            ("authenticated bulk update, chunked", f"{API}/order_item_bulk_update/",
             {"Authorization": f"Token {tokens['order_item_bulk_update']}"}, True),
            ("authenticated webhook, Content-Length", f"{API}/packages/", {"Authorization": webhook}, False),
            ("authenticated webhook, chunked", f"{API}/packages/", {"Authorization": webhook}, True),
        ]
        for label, path, headers, chunked in cases:
            status, sent, seconds = _send(port, path, total, headers, chunked)
            mem = _status(proc.pid)
            print(f"{label:<45} {args.mb} MB: {status:<32} after {sent:>3} MB sent, {seconds:5.2f} s; "
                  f"RSS {mem['VmRSS']} MiB (peak {mem['VmHWM']} MiB), database {size()} MiB")
        assert db.exists()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=60)


if __name__ == "__main__":
    sys.exit(main())
