"""The error tree of every call to an outside system: what the caller does next is decided by the class.

Shared by the marketplace adapters (:mod:`platforms`), the OMS push and the retrying HTTP client
(:mod:`oms_bridge.remote.http`), so it lives below all of them and imports nothing in-house but masking.
``PlatformError`` is the root; the first matching class decides:

- :class:`AuthExpired`: the access token was rejected → refresh (single-flight) and retry once.
- :class:`ReauthRequired`: the refresh token / authorization is gone → the merchant must authorize again.
- :class:`CredentialsInvalid`: static credentials (HMAC key, momo login) rejected → admin fixes them.
- :class:`RateLimited` (a :class:`TransientError`): wait ``retry_after`` seconds, then retry.
- :class:`TransientError`: network, timeout, 5xx, malformed body → retry with backoff.
- :class:`PermanentError`: the request itself is wrong → no retry; quarantine with the message.
- :class:`NotSupported`: the outside system has no such operation.
- :class:`OutcomeUnknown`: a call that changes remote state may have been applied but its answer was lost →
  never send it again blindly: read the remote state and record what really happened.
"""

from __future__ import annotations

from typing import Any

from oms_bridge.model.masking import mask_text

__all__ = ["PlatformError", "AuthExpired", "ReauthRequired", "CredentialsInvalid", "TransientError", "RateLimited",
           "PermanentError", "NotSupported", "OutcomeUnknown"]


class PlatformError(Exception):
    """Root of every adapter error. ``code`` is the platform's error code, ``request_id`` its trace id.

    The message is masked (:func:`oms_bridge.model.masking.mask_text`) here, once for every client: a message that
    quotes a broken answer or a request line cannot carry a token, signature or secret into a log or a run row.
    """

    def __init__(self, message: str, *, platform: str = "", code: str = "", request_id: str = "",
                 status: int | None = None):
        message = mask_text(str(message))
        super().__init__(message)
        self.message = message
        self.platform = platform
        self.code = code
        self.request_id = request_id
        self.status = status

    def __str__(self) -> str:
        parts = [f"{self.platform}: " if self.platform else "", self.message]
        if self.code:
            parts.append(f" [{self.code}]")
        if self.request_id:
            parts.append(f" (request_id {self.request_id})")
        return "".join(parts)


class TransientError(PlatformError):
    """Worth retrying with backoff: network failure, timeout, 5xx, malformed or truncated body."""


class RateLimited(TransientError):
    """The platform asked us to slow down; ``retry_after`` is seconds to wait (None: use backoff)."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kw: Any):
        super().__init__(message, **kw)
        self.retry_after = retry_after


class PermanentError(PlatformError):
    """Retrying the same request cannot succeed; the message says what is wrong."""


class AuthExpired(PlatformError):
    """The access token is expired or revoked; refresh and retry once."""


class ReauthRequired(PermanentError):
    """The refresh token or the authorization itself is gone; the merchant must authorize again."""


class CredentialsInvalid(PermanentError):
    """Static credentials (HMAC key/secret, momo login) were rejected; the admin must correct them."""


class NotSupported(PermanentError):
    """The platform has no such operation (e.g. OAuth on momo)."""


class OutcomeUnknown(PlatformError):
    """A state-changing call (ship, confirm) may or may not have been applied: its answer was lost.

    Raised by :meth:`oms_bridge.remote.http.HttpClient.request` with ``idempotent=False`` for a timeout after
    the request was sent, a dropped connection, a 5xx or an unreadable body. It is deliberately *not* a
    :class:`TransientError`: sending the call again could ship or confirm twice (Shopee refuses a second
    ``ship_order`` as "not ready to ship", and the tracking number it assigned would never be recorded).
    The caller reads the remote state instead (:meth:`Adapter.shipment_state`) and records what the
    marketplace did; only when the state proves the call was not applied may it be sent again.
    """
