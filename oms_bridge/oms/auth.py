"""Tokens the OMS presents: ``Authorization: Token <token>``, one token per endpoint_conf entry.

Why one token per endpoint: OMNITRON_CLIENT_SETTINGS gives each endpoint its own ``auth.token``,
so a leaked token opens one endpoint only and can be rotated alone. Only the SHA-256 of a token
is stored (a token is high-entropy random, so a plain hash is enough; no salt/KDF needed); the
clear token is returned once by :func:`rotate` and printed by ``oms-bridge oms settings`` /
``rotate-token``. The package webhooks use the token named ``webhooks``, which a dj-whisperer
subscription (Akinon's webhook library) can send two ways: ``additional_headers``
``{"Authorization": "Token <token>"}``, or ``config.auth`` ``{"auth_type": "basic", "username",
"password"}`` (HTTP basic; the password is the token, the user name ``oms.webhook_username``):
:func:`webhook_token` reads either.

The webhook signing secret (the subscription's ``secret_key``) must be readable to verify
signatures, so it is stored encrypted by the vault, not hashed (:func:`rotate_hmac_secret`,
:func:`hmac_secret`). :func:`verify_hmac` checks whisperer's ``sha256=<hex>`` over the raw body.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.oms.config import ENDPOINTS, HMAC_SECRET_NAME, WEBHOOK_ENDPOINT
from oms_bridge.store.models import utcnow
from oms_bridge.store.models.oms import OmsApiToken
from oms_bridge.vault import Vault

__all__ = ["TOKEN_NAMES", "hash_token", "rotate", "rotate_many", "check_token", "parse_authorization",
           "webhook_token", "rotate_hmac_secret", "hmac_secret", "verify_hmac", "sign", "UnknownEndpoint",
           "store_secret", "read_secret", "clear_secret"]

TOKEN_NAMES = (*ENDPOINTS, WEBHOOK_ENDPOINT)


class UnknownEndpoint(ValueError):
    """A token was asked for an endpoint the bridge does not serve."""


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _row(session: Session, name: str) -> OmsApiToken:
    row = session.scalars(select(OmsApiToken).where(OmsApiToken.endpoint == name)).one_or_none()
    if row is None:
        row = OmsApiToken(endpoint=name)
        try:
            with session.begin_nested():
                session.add(row)
        except IntegrityError:  # created concurrently: use that row
            row = session.scalars(select(OmsApiToken).where(OmsApiToken.endpoint == name)).one()
    return row


def rotate(session: Session, endpoint: str) -> str:
    """A new token for ``endpoint``; the old one stops working when the session commits."""
    if endpoint not in TOKEN_NAMES:
        raise UnknownEndpoint(f"unknown endpoint {endpoint!r}; known: {', '.join(TOKEN_NAMES)}")
    token = secrets.token_urlsafe(32)
    row = _row(session, endpoint)
    row.token_hash = hash_token(token)
    row.token_hint = token[-4:]
    row.rotated_at = utcnow()
    return token


def rotate_many(session: Session, endpoints: Iterable[str] = TOKEN_NAMES) -> dict[str, str]:
    """New tokens for several endpoints (default: all), by endpoint name."""
    return {name: rotate(session, name) for name in endpoints}


def parse_authorization(header: str | None) -> str | None:
    """The token of an ``Authorization: Token <token>`` header (also accepts ``Bearer``), else None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() not in ("token", "bearer") or not value.strip():
        return None
    return value.strip()


def webhook_token(header: str | None, username: str) -> tuple[str | None, str | None]:
    """(token, problem) of a webhook's ``Authorization``: ``Token``/``Bearer <token>``, or ``Basic``
    ``base64(<username>:<token>)`` as requests' HTTPBasicAuth writes it for whisperer's ``config.auth``.

    The user name is compared in constant time too; a wrong one is a problem, never a hint which part
    was wrong beyond "invalid basic credentials".
    """
    if header and header.strip().lower().startswith("basic "):
        try:
            decoded = base64.b64decode(header.strip()[6:].strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return None, "malformed basic credentials"
        user, sep, password = decoded.partition(":")
        if not sep or not password:
            return None, "malformed basic credentials"
        if not hmac.compare_digest(user.encode("utf-8"), username.encode("utf-8")):
            return None, "invalid basic credentials"
        return password, None
    return parse_authorization(header), None


def check_token(session: Session, endpoint: str, token: str | None) -> str | None:
    """None when ``token`` is the endpoint's current token, else the reason it is refused."""
    if not token:
        return "missing token: send 'Authorization: Token <token>'"
    row = session.scalars(select(OmsApiToken).where(OmsApiToken.endpoint == endpoint)).one_or_none()
    if row is None or not row.token_hash or not row.isactive:
        return f"no token is configured for {endpoint!r}; run `oms-bridge oms rotate-token --endpoint {endpoint}`"
    if not hmac.compare_digest(row.token_hash, hash_token(token)):
        return "invalid token"
    return None


def rotate_hmac_secret(session: Session, vault: Vault) -> str:
    """A new webhook HMAC secret (the subscription's ``secret_key``); stored encrypted."""
    secret = secrets.token_urlsafe(32)
    row = _row(session, HMAC_SECRET_NAME)
    row.secret_enc = vault.encrypt(secret)
    row.token_hint = secret[-4:]
    row.rotated_at = utcnow()
    return secret


def hmac_secret(session: Session, vault: Vault) -> str | None:
    """The webhook HMAC secret, or None when signatures are not enabled."""
    row = session.scalars(select(OmsApiToken).where(OmsApiToken.endpoint == HMAC_SECRET_NAME)).one_or_none()
    if row is None or not row.secret_enc or not row.isactive:
        return None
    return vault.decrypt(row.secret_enc, what="the OMS webhook HMAC secret")


def sign(secret: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256(secret, body)>``, the value dj-whisperer puts in X-Whisperer-Signature."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_hmac(secret: str, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` is whisperer's ``sha256=<hex>`` of the raw ``body`` bytes, in constant time.

    The bare hex (no ``sha256=``) is accepted too. Never re-serialize the body before checking: the
    signature covers the exact bytes sent (whisperer signs its own ``json.dumps`` text).
    """
    if not signature:
        return False
    sig = signature.strip()
    if sig[:7].lower() == "sha256=":
        sig = sig[7:]
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode("ascii"), sig.lower().encode("utf-8", "replace"))


def store_secret(session: Session, vault: Vault, name: str, value: str) -> None:
    """Keep a secret the bridge must send or check later (push token, push signing secret), encrypted."""
    row = _row(session, name)
    row.secret_enc = vault.encrypt(value)
    row.token_hint = value[-4:] if len(value) >= 12 else None
    row.rotated_at = utcnow()
    row.isactive = True


def read_secret(session: Session, vault: Vault, name: str) -> str | None:
    """A secret stored by :func:`store_secret` (None when not set)."""
    row = session.scalars(select(OmsApiToken).where(OmsApiToken.endpoint == name)).one_or_none()
    if row is None or not row.secret_enc or not row.isactive:
        return None
    return vault.decrypt(row.secret_enc, what=f"the OMS {name.replace('_', ' ')}")


def clear_secret(session: Session, name: str) -> bool:
    row = session.scalars(select(OmsApiToken).where(OmsApiToken.endpoint == name)).one_or_none()
    if row is None or not row.secret_enc:
        return False
    row.secret_enc, row.token_hint = None, None
    return True
