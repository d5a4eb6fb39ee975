"""Tokens the OMS presents: ``Authorization: Token <token>``, one token per endpoint_conf entry.

Why one token per endpoint: OMNITRON_CLIENT_SETTINGS gives each endpoint its own ``auth.token``,
so a leaked token opens one endpoint only and can be rotated alone. Only the SHA-256 of a token
is stored (a token is high-entropy random, so a plain hash is enough; no salt/KDF needed); the
clear token is returned once by :func:`rotate` and printed by ``oms-bridge oms settings`` /
``rotate-token``. The package webhooks use the token named ``webhooks``, sent by the OMS in the
subscription's ``additional_headers``.

The optional webhook HMAC secret must be readable to verify signatures, so it is stored
encrypted by the vault, not hashed (:func:`rotate_hmac_secret`, :func:`hmac_secret`).
"""

from __future__ import annotations

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
           "rotate_hmac_secret", "hmac_secret", "verify_hmac", "UnknownEndpoint"]

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


def verify_hmac(secret: str, body: bytes, signature: str | None) -> bool:
    """True when ``signature`` is the hex HMAC-SHA256 of ``body`` (an ``sha256=`` prefix is accepted)."""
    if not signature:
        return False
    sig = signature.strip()
    if sig.lower().startswith("sha256="):
        sig = sig[7:]
    expected = hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, sig.lower())
