"""The data directory's permissions: only the bridge's own user may read the key, the database and the config.

``$OMS_BRIDGE_HOME`` holds the vault key (which decrypts every stored secret), the embedded SQLite
database (buyers' names, phones and addresses) and the config file (a database password, tokens). A
directory made by hand, copied or restored from a backup often keeps mode 0755 with files 0644, readable
by every local user. :func:`secure_data_dir` restricts what it finds to 0700 (directories) and 0600
(files) and says what it changed; ``oms-bridge init`` and ``oms-bridge run`` call it, so an existing
installation is fixed at its next start. What it cannot change (another owner) is reported, not hidden.

SQLite creates its ``-wal`` and ``-shm`` files with the database file's own mode, so new ones stay private.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from oms_bridge.settings import Settings

__all__ = ["secure_data_dir", "PRIVATE_DIR", "PRIVATE_FILE"]

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _targets(settings: Settings) -> list[tuple[Path, int]]:
    home = settings.home
    found: list[tuple[Path, int]] = [(home, PRIVATE_DIR), (settings.cache_dir, PRIVATE_DIR),
                                     (settings.key_file, PRIVATE_FILE), (home / "config.toml", PRIVATE_FILE)]
    if settings.config_file is not None and settings.config_file.parent == home:
        found.append((settings.config_file, PRIVATE_FILE))
    if settings.is_sqlite:
        database = Path(settings.effective_database_url.removeprefix("sqlite:///"))
        found += [(database.with_name(database.name + suffix), PRIVATE_FILE)
                  for suffix in ("", "-wal", "-shm", "-journal")]
    return found


def secure_data_dir(settings: Settings) -> list[str]:
    """Restrict the data directory and its sensitive files; one message per change or per failure."""
    messages = []
    seen: set[Path] = set()
    for path, private in _targets(settings):
        if path in seen:
            continue
        seen.add(path)
        try:
            mode = stat.S_IMODE(path.lstat().st_mode)
        except FileNotFoundError:
            continue
        if path.is_symlink() or not mode & 0o077:
            continue  # a symlink's own mode means nothing; an already private path needs nothing
        kind = "directory" if path.is_dir() else "file"
        try:
            os.chmod(path, mode & private)
        except OSError as exc:
            messages.append(f"WARNING: {kind} {path} is readable by other users (mode {mode:04o}) and could not be "
                            f"restricted ({exc.strerror}); run `chmod {private:o} {path}` as its owner")
            continue
        messages.append(f"restricted {kind} {path} from mode {mode:04o} to {mode & private:04o} "
                        "(only the bridge's user may read it)")
    return messages
