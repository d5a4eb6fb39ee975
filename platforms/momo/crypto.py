"""momo's ``dataList`` cipher: AES-128-ECB, PKCS5 padding, Base64, key derived from the SCM password.

Why ECB with a password-derived key: that is what momo does (spec §3, agreed by two independent
clients), not a choice of ours. The key is ``entpPwd`` right-padded with ``'0'`` to 16 characters,
or its first 16 characters when longer. The sandbox uses :func:`encrypt_data_list` to answer like
momo; the client uses :func:`decrypt_data_list` to read it.
"""

from __future__ import annotations

import base64
import binascii

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

__all__ = ["derive_key", "encrypt_data_list", "decrypt_data_list", "DataListError"]

_BLOCK_BITS = 128


class DataListError(ValueError):
    """The ``dataList`` is not valid Base64 / AES / PKCS5 / UTF-8 (truncated or corrupt answer)."""


def derive_key(password: str) -> bytes:
    """The 16-byte AES key: the password padded with '0' (or cut) to 16 characters, UTF-8."""
    return password.ljust(16, "0")[:16].encode("utf-8")[:16].ljust(16, b"0")


def _cipher(password: str) -> Cipher:
    # ECB is momo's protocol, not our choice (see module docstring).
    return Cipher(algorithms.AES(derive_key(password)), modes.ECB())  # noqa: S305


def encrypt_data_list(plaintext: str, password: str) -> str:
    """Base64(AES-128-ECB(PKCS5(plaintext))) as momo sends it."""
    padder = padding.PKCS7(_BLOCK_BITS).padder()
    data = padder.update(plaintext.encode("utf-8")) + padder.finalize()
    encryptor = _cipher(password).encryptor()
    return base64.b64encode(encryptor.update(data) + encryptor.finalize()).decode("ascii")


def decrypt_data_list(encoded: str, password: str) -> str:
    """The plaintext of a ``dataList``; :class:`DataListError` when it cannot be decrypted."""
    try:
        raw = base64.b64decode(encoded, validate=True)
        decryptor = _cipher(password).decryptor()
        padded = decryptor.update(raw) + decryptor.finalize()
        unpadder = padding.PKCS7(_BLOCK_BITS).unpadder()
        return (unpadder.update(padded) + unpadder.finalize()).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError) as exc:
        raise DataListError(f"dataList cannot be decrypted ({type(exc).__name__}): truncated, corrupt, "
                            "or encrypted with another password") from exc
