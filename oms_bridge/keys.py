"""Key management: which columns hold secrets, re-encrypting them all, and the key file.

Every store column whose name ends in ``_enc`` holds a vault token; :func:`secret_columns` finds
them from the models, so a table another area adds is covered without editing this module.

Rotation (``oms-bridge keys rotate``):

- key-file mode: a new key is written *first* into the key file, old keys stay behind it
  (written atomically, mode 0600, before the database changes, so a crash can never leave a
  secret encrypted under a key that is not on disk); then every secret is re-encrypted under the
  new key in ONE transaction. ``--drop-old`` (or ``keys prune`` later) removes the old keys after
  every secret was checked to decrypt with the newest key alone.
- environment mode (``OMS_BRIDGE_SECRET_KEYS``): the bridge cannot change the environment. The
  admin puts a new key first (``oms-bridge keys generate``), runs ``keys rotate`` (re-encrypts
  under the first key), then removes the old key from the variable.

Running services keep the keys they read at start; restart them after a rotation. ``keys status``
shows secrets still under an older key (e.g. a token refreshed during the rotation).
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Column, Connection, Table, inspect, select, update

from oms_bridge.settings import Settings
from oms_bridge.store.models import Base
from oms_bridge.vault import DecryptionFailed, Vault, VaultError, generate_key, load_key_file

__all__ = ["secret_columns", "stored_secrets", "rotate_secrets", "secret_status", "SecretStatus", "rotate_key_file",
           "prune_key_file", "read_key_file", "write_key_file", "key_fingerprint", "key_mode"]


def secret_columns(conn: Connection | None = None) -> dict[Table, list[Column]]:
    """Every table with ``*_enc`` columns, and those columns (sorted, deterministic).

    With ``conn``, only tables that exist in that database (a model added by a newer version whose
    migration has not run yet holds no secrets there).
    """
    existing = set(inspect(conn).get_table_names()) if conn is not None else None
    found: dict[Table, list[Column]] = {}
    for table in Base.metadata.sorted_tables:
        if existing is not None and table.name not in existing:
            continue
        cols = [c for c in table.columns if c.name.endswith("_enc")]
        if cols:
            found[table] = cols
    return found


def _owner_label(table: Table, row) -> str:
    noun = table.name.removeprefix("oms_").replace("_", " ")
    if "value" in table.columns:
        return f"{noun} {row.value!r}"
    pk = next(iter(table.primary_key.columns))
    return f"{noun} #{getattr(row, pk.name)}"


def _rows(conn: Connection, table: Table, cols: list[Column], *, lock: bool = False) -> Iterator:
    pk = next(iter(table.primary_key.columns))
    extra = [table.c.value] if "value" in table.columns else []
    stmt = select(pk, *extra, *cols).order_by(pk)
    yield from conn.execute(stmt.with_for_update() if lock else stmt)


def stored_secrets(conn: Connection) -> list[str]:
    """The owner of every stored secret (e.g. "channel 'shop-a' credentials_enc"), whatever key encrypted it.

    What a new key would make unreadable: ``oms-bridge init`` refuses to create one while this is not empty.
    """
    owners = []
    for table, cols in secret_columns(conn).items():
        for row in _rows(conn, table, cols):
            owners += [f"{_owner_label(table, row)} {col.name}" for col in cols if getattr(row, col.name)]
    return owners


def rotate_secrets(conn: Connection, vault: Vault) -> int:
    """Re-encrypt every stored secret under the vault's first key, inside the caller's transaction.

    Returns the number of values re-encrypted. The first secret no key can decrypt raises
    :class:`DecryptionFailed` naming its owner (e.g. "channel 'shop-a' access_token_enc"); the
    caller's transaction then rolls back, so nothing is half-rotated.

    Rows are locked (``FOR UPDATE`` on PostgreSQL; on SQLite the caller opens the transaction with
    ``BEGIN IMMEDIATE``) so a token refreshed concurrently is never overwritten by its older value.
    """
    count = 0
    for table, cols in secret_columns(conn).items():
        pk = next(iter(table.primary_key.columns))
        for row in list(_rows(conn, table, cols, lock=True)):
            changes = {}
            for col in cols:
                token = getattr(row, col.name)
                if token:
                    changes[col.name] = vault.rotate(token, what=f"{_owner_label(table, row)} {col.name}")
            if changes:
                conn.execute(update(table).where(pk == getattr(row, pk.name)).values(**changes))
                count += len(changes)
    return count


@dataclass
class SecretStatus:
    """Which key decrypts each stored secret: index 0 is the newest (encrypting) key."""

    by_key: Counter = field(default_factory=Counter)
    undecryptable: list[str] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.by_key.values()) + len(self.undecryptable)

    @property
    def on_old_keys(self) -> int:
        return sum(n for idx, n in self.by_key.items() if idx > 0)


def secret_status(conn: Connection, keys: list[str]) -> SecretStatus:
    """For every stored secret, the index of the first key that decrypts it (or its owner if none)."""
    fernets = [Fernet(k.encode("ascii")) for k in keys]
    status = SecretStatus()
    for table, cols in secret_columns(conn).items():
        for row in _rows(conn, table, cols):
            for col in cols:
                token = getattr(row, col.name)
                if not token:
                    continue
                idx = _key_index(fernets, token)
                if idx is None:
                    status.undecryptable.append(f"{_owner_label(table, row)} {col.name}")
                else:
                    status.by_key[idx] += 1
    return status


def _key_index(fernets: list[Fernet], token: str) -> int | None:
    for idx, f in enumerate(fernets):
        try:
            f.decrypt(token.encode("ascii"))
            return idx
        except InvalidToken:
            continue
    return None


# -------------------------------------------------------------------------------------- key file
def key_mode(settings: Settings) -> str:
    """``env`` when OMS_BRIDGE_SECRET_KEYS is set, else ``file``."""
    return "env" if settings.secret_keys else "file"


def key_fingerprint(key: str) -> str:
    """A short, non-reversible name for a key (first 8 hex of its SHA-256), safe to print."""
    return hashlib.sha256(key.encode("ascii")).hexdigest()[:8]


def read_key_file(path: Path) -> list[str]:
    """The key file's keys (checked by the vault: a missing, empty or corrupt file is named)."""
    return load_key_file(path)


def write_key_file(path: Path, keys: list[str]) -> None:
    """Replace the key file atomically (temp file 0600 in the same directory, then rename)."""
    if not keys:
        raise VaultError("refusing to write an empty key file")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".secret.key.", dir=path.parent)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as fh:
            fh.write("\n".join(keys) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def rotate_key_file(path: Path) -> tuple[str, list[str]]:
    """Put a new key first in the key file (old keys kept); returns (new key, all keys)."""
    keys = read_key_file(path)
    new = generate_key()
    all_keys = [new, *keys]
    write_key_file(path, all_keys)
    return new, all_keys


def prune_key_file(path: Path, conn: Connection) -> int:
    """Keep only the newest key, after checking every secret decrypts with it. Returns keys dropped."""
    keys = read_key_file(path)
    status = secret_status(conn, keys[:1])
    if status.undecryptable:
        raise DecryptionFailed(
            f"{len(status.undecryptable)} secret(s) are not under the newest key yet "
            f"(first: {status.undecryptable[0]}); run `oms-bridge keys rotate` first"
        )
    write_key_file(path, keys[:1])
    return len(keys) - 1
