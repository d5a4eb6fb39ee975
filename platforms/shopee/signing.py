"""Shopee Open Platform v2 request signing and push-notification verification.

ref: shared/specs/marketplaces.md §1 "Signing" and "Push" (open.shopee.com API-calls.md,
Authorization-and-Authentication.md, Push-Mechanism-notifications.md).

Every request carries ``sign`` = lower-case hex HMAC-SHA256 keyed with the partner key over a plain
concatenation (path without host):

- public API (auth endpoints): ``partner_id + api_path + timestamp``
- shop API: ``partner_id + api_path + timestamp + access_token + shop_id``
- merchant API: ``partner_id + api_path + timestamp + access_token + merchant_id``

A push notification carries ``Authorization`` = hex HMAC-SHA256(partner_key, callback_url + "|" + raw_body).
The sandbox uses these same functions to verify what the client signed, so both sides share one rule.
"""

from __future__ import annotations

import hashlib
import hmac

__all__ = ["PUBLIC_PATHS", "base_string", "sign", "public_sign", "shop_sign", "merchant_sign",
           "push_signature", "verify_push"]

#: Paths signed with the public form (no access token, no shop id).
PUBLIC_PATHS = frozenset({
    "/api/v2/shop/auth_partner",
    "/api/v2/auth/token/get",
    "/api/v2/auth/access_token/get",
})


def base_string(partner_id: int | str, path: str, timestamp: int | str, access_token: str = "",
                owner_id: int | str = "") -> str:
    """The string Shopee signs: partner_id, path, timestamp, then access token and shop/merchant id if any."""
    return f"{partner_id}{path}{timestamp}{access_token}{owner_id}"


def sign(partner_key: str, base: str) -> str:
    """Lower-case hex HMAC-SHA256 of ``base`` keyed with the partner key (the key's string bytes)."""
    return hmac.new(partner_key.encode(), base.encode(), hashlib.sha256).hexdigest()


def public_sign(partner_key: str, partner_id: int | str, path: str, timestamp: int) -> str:
    """Sign a public-API call (``auth_partner``, ``auth/token/get``, ``auth/access_token/get``)."""
    return sign(partner_key, base_string(partner_id, path, timestamp))


def shop_sign(partner_key: str, partner_id: int | str, path: str, timestamp: int, access_token: str,
              shop_id: int | str) -> str:
    """Sign a shop-API call."""
    return sign(partner_key, base_string(partner_id, path, timestamp, access_token, shop_id))


def merchant_sign(partner_key: str, partner_id: int | str, path: str, timestamp: int, access_token: str,
                  merchant_id: int | str) -> str:
    """Sign a merchant-API call (same shape as a shop call with the merchant id)."""
    return sign(partner_key, base_string(partner_id, path, timestamp, access_token, merchant_id))


def push_signature(partner_key: str, callback_url: str, raw_body: bytes | str) -> str:
    """The ``Authorization`` header Shopee puts on a push notification to ``callback_url``."""
    body = raw_body.decode() if isinstance(raw_body, bytes) else raw_body
    return sign(partner_key, f"{callback_url}|{body}")


def verify_push(partner_key: str, callback_url: str, raw_body: bytes | str, authorization: str | None) -> bool:
    """True when ``authorization`` is Shopee's signature of this exact URL and raw body (constant-time)."""
    if not authorization:
        return False
    expected = push_signature(partner_key, callback_url, raw_body)
    return hmac.compare_digest(expected, authorization.strip().lower())
