"""Cyberbiz V1 request signing: Kong ``hmac-auth`` with ``x-date`` and ``request-line``.

The legacy per-shop API sits behind Kong's hmac-auth plugin (spec §2.1). Each request carries

- ``X-Date``: now in RFC 1123 GMT (``Tue, 10 Oct 2017 00:00:00 GMT``); Kong rejects dates more than
  its clock skew (about 300 s) away from its own clock;
- ``Authorization: hmac username="<key>", algorithm="hmac-sha256", headers="x-date request-line",
  signature="<base64>"`` where the signature is Base64(HMAC-SHA256(secret, signing string)) and the
  signing string is ``"x-date: <X-Date>\\n<METHOD> <path?query> HTTP/1.1"``.

The request-line is signed WITH the query string: Kong reads it from the raw first line of the
request, which includes the query (spec open point, inference [I], and what the iDempiere plugin
does). So the client must sign exactly the path+query it sends; :func:`hmac_headers` takes that
string and the client passes the same string as the URL.

The same functions verify signatures in the sandbox, so both sides share one definition.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

__all__ = ["http_date", "parse_http_date", "signing_string", "body_digest", "signature", "authorization_header",
           "parse_authorization", "HmacAuth", "SIGNED_HEADERS", "ALGORITHM"]

ALGORITHM = "hmac-sha256"
SIGNED_HEADERS = "x-date request-line"
_PARAM_RE = re.compile(r'(\w+)="([^"]*)"')


def http_date(when: datetime) -> str:
    """RFC 1123 GMT form of an aware datetime, e.g. ``Tue, 10 Oct 2017 00:00:00 GMT``."""
    if when.tzinfo is None:
        raise ValueError("http_date needs an aware datetime")
    return format_datetime(when.astimezone(UTC).replace(microsecond=0), usegmt=True)


def parse_http_date(value: str) -> datetime | None:
    """The aware UTC datetime of an RFC 1123 date, or None when it does not parse."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed is None or parsed.tzinfo is None:
        return None
    return parsed.astimezone(UTC)


def signing_string(x_date: str, method: str, path_with_query: str, digest: str | None = None) -> str:
    """What Kong signs for ``headers="x-date request-line"`` (``… digest`` when a body digest is signed)."""
    text = f"x-date: {x_date}\n{method.upper()} {path_with_query} HTTP/1.1"
    return f"{text}\ndigest: {digest}" if digest is not None else text


def body_digest(body: bytes) -> str:
    """The ``Digest`` header Kong's ``validate_request_body`` checks: ``SHA-256=<base64 of sha256(body)>``."""
    return "SHA-256=" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def signature(secret: str, message: str) -> str:
    """Base64 of HMAC-SHA256(secret, message)."""
    digest = hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def authorization_header(username: str, sig: str, signed_headers: str = SIGNED_HEADERS) -> str:
    """The ``Authorization`` header value, exactly in Kong's documented form."""
    return (f'hmac username="{username}", algorithm="{ALGORITHM}", '
            f'headers="{signed_headers}", signature="{sig}"')


def parse_authorization(value: str) -> dict[str, str] | None:
    """The key="value" parameters of an ``hmac ...`` Authorization header, or None if it is not one."""
    scheme, _, rest = value.strip().partition(" ")
    if scheme.lower() != "hmac" or not rest:
        return None
    params = dict(_PARAM_RE.findall(rest))
    if not {"username", "signature"} <= params.keys():
        return None
    return params


class HmacAuth:
    """Signs each request afresh (a retried request needs a new X-Date).

    ``sign_digest``: also send and sign ``Digest: SHA-256=…`` for requests with a body (Kong's
    ``validate_request_body``). A 3P design doc mentions it, CBZ-SPEC does not, so it is off by
    default (adapter setting ``v1_sign_digest``).
    """

    def __init__(self, username: str, secret: str, clock: Callable[[], datetime], *, sign_digest: bool = False):
        self.username = username
        self._secret = secret
        self.clock = clock
        self.sign_digest = sign_digest

    def headers(self, method: str, path_with_query: str, body: bytes | None = None) -> dict[str, str]:
        x_date = http_date(self.clock())
        digest = body_digest(body) if self.sign_digest and body is not None else None
        sig = signature(self._secret, signing_string(x_date, method, path_with_query, digest))
        signed = SIGNED_HEADERS + (" digest" if digest else "")
        headers = {"X-Date": x_date, "Authorization": authorization_header(self.username, sig, signed),
                   "Accept": "application/json"}
        if digest:
            headers["Digest"] = digest
        return headers

    def __repr__(self) -> str:
        return f"HmacAuth(username={self.username!r}, secret='****')"
