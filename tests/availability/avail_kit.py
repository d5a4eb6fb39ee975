"""Availability test kit: momo channels on a real sandbox, `oms-bridge run` as a real process, waiting.

A module of its own (not conftest), like the other folders' kits.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from channels.authorization import check_credentials
from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.remote.http import RetryPolicy
from oms_bridge.settings import Settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order, Platform, ProcessRun
from oms_bridge.vault import Vault
from sandboxes.momo import MomoSandbox

OMS_BRIDGE = str(Path(sys.executable).parent / "oms-bridge")
FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=0.5, read_timeout=5.0)


def momo_channels(settings: Settings, sandbox: MomoSandbox, count: int, *, orders: int = 0,
                  interval: int | None = None, prefix: str = "momo") -> dict[str, tuple[int, str]]:
    """``count`` checked (active) momo channels; returns value -> (channel id, shop id)."""
    vault = Vault.from_settings(settings)
    made: dict[str, tuple[int, str]] = {}
    with session_scope(settings) as s:
        if s.scalar(select(Platform.id).where(Platform.value == "momo-app")) is None:
            add_platform(s, vault, value="momo-app", platform_type="momo", host=sandbox.base_url)
        for i in range(1, count + 1):
            shop = sandbox.add_shop()
            ch = add_channel(s, vault, value=f"{prefix}-{i}", platform="momo-app", shop_id=shop["shop_id"],
                                       credentials=shop["credentials"], getorder_interval_minutes=interval)
            made[f"{prefix}-{i}"] = (ch.id, shop["shop_id"])
    for value, (_cid, shop_id) in made.items():
        ok, message = check_credentials(value, settings=settings)
        assert ok, message
        if orders:
            generate(sandbox, shop_id, orders)
    return made


def generate(sandbox: MomoSandbox, shop_id: str, count: int) -> None:
    now = datetime.now(UTC)
    sandbox.generate_orders(shop_id, count, start=now - timedelta(minutes=8), end=now - timedelta(minutes=1))


def order_count(settings: Settings) -> int:
    with session_scope(settings, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(Order))


def runs(settings: Settings, process: str | None = None) -> list[ProcessRun]:
    with session_scope(settings, readonly=True) as s:
        stmt = select(ProcessRun).order_by(ProcessRun.id)
        if process:
            stmt = stmt.where(ProcessRun.process == process)
        return list(s.scalars(stmt))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for(predicate: Callable[[], Any], timeout: float = 30.0, what: str = "condition", poll: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class RunProcess:
    """``oms-bridge run ...`` as a real OS process, stdout and stderr kept apart in files."""

    def __init__(self, tmp_path: Path, name: str, *args: str, env: dict[str, str] | None = None):
        self.out_path, self.err_path = tmp_path / f"{name}.out", tmp_path / f"{name}.err"
        with open(self.out_path, "w") as out, open(self.err_path, "w") as err:
            self.proc = subprocess.Popen([OMS_BRIDGE, "run", *args], stdout=out, stderr=err,
                                         env=env or dict(os.environ))

    @property
    def stderr(self) -> str:
        return self.err_path.read_text()

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.send_signal(signal.SIGUSR1)  # thread dump into its stderr
            time.sleep(1)
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"`oms-bridge run` did not stop within {timeout} s:\n{self.stderr[-6000:]}") from None


def cli(*args: str, input: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """One `oms-bridge ...` command as a real process (its own connections, like an admin's shell)."""
    return subprocess.run([OMS_BRIDGE, *args], input=input, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ))


def write_config(home: Path, **values: Any) -> None:
    lines = ["[oms_bridge]"]
    for key, value in values.items():
        if isinstance(value, bool):
            lines.append(f"{key} = {'true' if value else 'false'}")
        else:
            lines.append(f"{key} = {value!r}" if not isinstance(value, str) else f'{key} = "{value}"')
    (home / "config.toml").write_text("\n".join(lines) + "\n")
