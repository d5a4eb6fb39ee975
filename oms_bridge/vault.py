"""Encryption of credentials and tokens at rest (Fernet / MultiFernet), and masking for output.

Keys come from ``OMS_BRIDGE_SECRET_KEYS`` (comma-separated Fernet keys; the first encrypts,
all decrypt) or, when that is empty, from the key file ``$OMS_BRIDGE_HOME/secret.key``
(one key per line, first encrypts; created with mode 0600 by ``oms-bridge init``).

Every secret column of the store holds a Fernet token (text). Nothing else in the code base
encrypts or decrypts: call :meth:`Vault.encrypt` / :meth:`Vault.decrypt`, and :func:`mask` for
anything shown to a person.

Example::

    vault = Vault.from_settings(get_settings())
    token = vault.encrypt("s3cret")
    assert vault.decrypt(token, what="channel shop-a") == "s3cret"
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from oms_bridge.settings import Settings

__all__ = ["Vault", "VaultError", "KeyMissing", "DecryptionFailed", "mask", "generate_key", "create_key_file",
           "load_key_file", "missing_key_message"]


class VaultError(Exception):
    """Base of every vault problem; the message is meant for the admin, never a traceback."""


class KeyMissing(VaultError):
    """No encryption key is configured."""


class DecryptionFailed(VaultError):
    """A stored secret cannot be decrypted with the configured keys."""


def generate_key() -> str:
    """A fresh Fernet key (url-safe base64 text)."""
    return Fernet.generate_key().decode("ascii")


def create_key_file(path: Path) -> bool:
    """Create the key file with one new key, mode 0600. Returns False if it already existed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return False
    with os.fdopen(fd, "w", encoding="ascii") as fh:
        fh.write(generate_key() + "\n")
    return True


def _parse_keys(text: str) -> list[str]:
    return [k.strip() for k in text.replace("\n", ",").split(",") if k.strip()]


def _check_keys(keys: list[str], where: str) -> list[str]:
    """Every key must be a Fernet key; the error names where the keys came from and which one is bad."""
    for n, key in enumerate(keys, 1):
        try:
            Fernet(key.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise VaultError(f"{where}: key {n} of {len(keys)} is not a valid encryption key (expected 44 "
                             "characters of url-safe base64, as `oms-bridge keys generate` prints; was the file "
                             "truncated or edited?)") from None
    return keys


def missing_key_message(path: Path) -> str:
    """What to do when no key is configured: restoring comes first, a new key only for a new installation."""
    return (f"no encryption key: the key file {path} does not exist and OMS_BRIDGE_SECRET_KEYS is not set. If this "
            f"bridge has stored secrets before, they are encrypted under that key: restore {path.name} from your "
            f"backup into {path.parent} (or set OMS_BRIDGE_SECRET_KEYS to the key). Only a new installation runs "
            "`oms-bridge init` to create a key")


def load_key_file(path: Path) -> list[str]:
    """The keys of the key file, checked; every problem names the file and what is wrong with it."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise KeyMissing(missing_key_message(path)) from None
    except OSError as exc:
        raise VaultError(f"cannot read the key file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise VaultError(f"the key file {path} is corrupt: it holds bytes that are not text (a key is 44 characters "
                         "of url-safe base64, one per line); restore it from your backup") from None
    keys = _parse_keys(text)
    if not keys:
        raise VaultError(f"the key file {path} is empty: it holds no key. The stored secrets are encrypted under the "
                         "key it held: restore the file from your backup (or set OMS_BRIDGE_SECRET_KEYS)")
    return _check_keys(keys, f"the key file {path}")


class Vault:
    """Encrypts with the first key, decrypts with any key."""

    def __init__(self, keys: Sequence[str]):
        if not keys:
            raise KeyMissing("no encryption key: set OMS_BRIDGE_SECRET_KEYS or restore the key file")
        try:
            self._fernets = [Fernet(k.encode("ascii")) for k in keys]
        except (ValueError, UnicodeEncodeError) as exc:
            raise VaultError(f"invalid encryption key ({exc}); a key is 32 url-safe base64-encoded bytes") from exc
        self._multi = MultiFernet(self._fernets)
        self.keys = list(keys)

    @classmethod
    def from_settings(cls, settings: Settings) -> Vault:
        """Keys from the environment setting, else from the key file."""
        if settings.secret_keys:
            keys = _parse_keys(settings.secret_keys)
            if not keys:
                raise KeyMissing("OMS_BRIDGE_SECRET_KEYS is set but holds no key (only commas or spaces)")
            return cls(_check_keys(keys, "OMS_BRIDGE_SECRET_KEYS"))
        return cls(load_key_file(settings.key_file))

    def encrypt(self, plaintext: str | None) -> str | None:
        """Encrypt text; ``None`` and empty stay as they are (nothing to hide)."""
        if plaintext is None or plaintext == "":
            return plaintext
        return self._multi.encrypt(plaintext.encode("utf-8")).decode("ascii")

    def decrypt(self, token: str | None, *, what: str = "a secret") -> str | None:
        """Decrypt text; ``what`` names the owner (e.g. "channel shop-a access token") in the error."""
        if token is None or token == "":
            return token
        try:
            return self._multi.decrypt(token.encode("ascii")).decode("utf-8")
        except (InvalidToken, UnicodeError) as exc:
            raise DecryptionFailed(
                f"cannot decrypt {what}: none of the configured keys fits "
                "(wrong OMS_BRIDGE_SECRET_KEYS or key file? after a rotation keep the old key listed)"
            ) from exc

    def rotate(self, token: str | None, *, what: str = "a secret") -> str | None:
        """Re-encrypt a stored token under the first (newest) key."""
        if token is None or token == "":
            return token
        try:
            return self._multi.rotate(token.encode("ascii")).decode("ascii")
        except InvalidToken as exc:
            raise DecryptionFailed(f"cannot decrypt {what} for rotation: none of the configured keys fits") from exc


def mask(secret: str | None, visible: int = 4) -> str:
    """Show at most the last ``visible`` characters of a secret, never its length exactly.

    Short secrets (< 12 characters) are masked entirely.
    """
    if not secret:
        return ""
    if len(secret) < 12:
        return "****"
    return "****" + secret[-visible:]
