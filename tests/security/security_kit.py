"""Helpers of the security tests: an app client logged in as the admin, its session-bound CSRF token,
and a real uvicorn server in a child process (so its memory and its reading of bodies are its own)."""

from __future__ import annotations

import os
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from fastapi.testclient import TestClient

from oms_bridge.settings import reset_settings
from oms_bridge.web.app import create_app
from oms_bridge.web.security import set_admin_password

PASSWORD = "correct horse battery"
OMS_BRIDGE = str(Path(sys.executable).parent / "oms-bridge")


def client(**kwargs) -> TestClient:
    reset_settings()
    return TestClient(create_app(), follow_redirects=False, **kwargs)


def admin_client(settings, *, username: str = "admin", **kwargs) -> TestClient:
    """A client logged in through the login form (CSRF cookie, then the session cookie)."""
    set_admin_password(username, PASSWORD, settings=settings)
    c = client(**kwargs)
    login(c, username, PASSWORD)
    return c


def login(c: TestClient, username: str, password: str, *, expect: int = 303):
    page = c.get("/admin/login")
    answer = c.post("/admin/login", data={"csrf_token": form_token(page.text), "username": username,
                                          "password": password, "next": "/admin/"})
    assert answer.status_code == expect, (answer.status_code, answer.text[:300])
    return answer


def form_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert match, html[:500]
    return match[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def bridge_server(extra_env: dict[str, str] | None = None) -> Iterator[tuple[str, int]]:
    """``oms-bridge run --no-scheduler`` in a child process on a free port: (base URL, pid)."""
    port = free_port()
    env = {**os.environ, "OMS_BRIDGE_BASE_URL": f"http://127.0.0.1:{port}", **(extra_env or {})}
    proc = subprocess.Popen([OMS_BRIDGE, "run", "--no-scheduler", "--port", str(port)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(f"server exited: {proc.stderr.read()}")
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code in (200, 503):
                    break
            except requests.RequestException:
                time.sleep(0.1)
        else:
            raise AssertionError("server did not start")
        yield base, proc.pid
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def rss_kib(pid: int) -> int:
    """Resident memory of a process (Linux /proc), in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError("no VmRSS")


def send_big_body(port: int, path: str, *, total: int, headers: dict[str, str], chunked: bool,
                  chunk: int = 65536, content_length: int | None = None,
                  content_type: str = "application/json") -> tuple[int, int, bytes]:
    """Send a ``total``-byte JSON-ish body over a raw socket, reading the answer as soon as one comes.

    Returns (status, bytes of body sent before the answer arrived, answer bytes). The server answering
    long before ``total`` bytes were sent proves it did not read (or buffer) the whole body.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    lines = [f"POST {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Type: {content_type}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {content_length or total}")
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    sent = 0
    piece = b"[" + b"1," * (chunk // 2 - 1) + b"1"
    deadline = time.monotonic() + 120
    try:
        while sent < total and time.monotonic() < deadline:
            readable, writable, _ = select.select([sock], [sock], [], 5)
            if readable:  # the answer (or the close) came before the whole body was sent
                break
            if not writable:  # the server stopped reading: its answer must be on the way
                continue
            data = piece[: min(chunk, total - sent)]
            sock.sendall(f"{len(data):x}\r\n".encode() + data + b"\r\n" if chunked else data)
            sent += len(data)
        else:
            if chunked:
                sock.sendall(b"0\r\n\r\n")
    except (BrokenPipeError, ConnectionResetError, TimeoutError):
        pass  # the server closed the connection or stopped reading: read what it answered
    answer = b""
    sock.settimeout(30)
    try:
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    except (ConnectionResetError, TimeoutError):
        pass
    finally:
        sock.close()
    status = int(answer.split(b" ", 2)[1]) if answer.startswith(b"HTTP/1.1 ") else 0
    return status, sent, answer


def oms_token(settings, endpoint: str) -> str:
    """A fresh token for one OMS endpoint (``webhooks`` for the package webhooks)."""
    from oms_bridge.oms.auth import rotate
    from oms_bridge.store.db import session_scope

    with session_scope(settings) as session:
        return rotate(session, endpoint)
