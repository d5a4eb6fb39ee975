"""How long `keys rotate` takes: N channels with 3 secrets each, re-encrypted in one transaction.

Usage: python benchmarks/bench_foundation_keys_rotate.py [N] [database-url]
(default N=2000 on a temporary SQLite file; pass a PostgreSQL URL to measure there, it must be empty).
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from sqlalchemy import insert

from oms_bridge.keys import rotate_secrets
from oms_bridge.settings import Settings
from oms_bridge.store import schema
from oms_bridge.store.db import dispose_engines, get_engine
from oms_bridge.store.models import Channel, Platform
from oms_bridge.vault import Vault, generate_key


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(home=Path(tmp), database_url=sys.argv[2] if len(sys.argv) > 2 else "")
        schema.upgrade(settings)
        vault = Vault([generate_key()])
        engine = get_engine(settings)
        with engine.begin() as conn:
            pid = conn.execute(insert(Platform).values(value="p", name="p", platform_type="shopee",
                                                       host="https://p", app_secret_enc=vault.encrypt("x" * 32))
                               .returning(Platform.id)).scalar_one()
            conn.execute(insert(Channel), [
                {"value": f"c{i}", "name": f"c{i}", "oms_platform_id": pid, "auth_state": "new",
                 "credentials_enc": vault.encrypt('{"k": "v"}'), "access_token_enc": vault.encrypt("a" * 40),
                 "refresh_token_enc": vault.encrypt("r" * 40)} for i in range(n)])
        newer = Vault([generate_key(), *vault.keys])
        started = time.perf_counter()
        with engine.begin() as conn:
            count = rotate_secrets(conn, newer)
        elapsed = time.perf_counter() - started
        print(f"{settings.effective_database_url.split(':')[0]}: rotated {count} secrets of {n} channels "
              f"in {elapsed:.2f} s ({count / elapsed:.0f} secrets/s)")
        dispose_engines()


if __name__ == "__main__":
    main()
