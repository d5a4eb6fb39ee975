"""What a Cyberbiz refusal (401/403/422) means, read from its wording: unlicensed feature, Kong HMAC, or token.

A 401 from Cyberbiz is not always an expired token. The API documents 401 for "the token is invalid **or**
the feature is not licensed for the shop" (actinc/cyberbiz-sdk ``cyberbiz-openapi-v1.yaml``, conventions),
and the recorded refusals name the missing feature:

- ``{"error": ["無「電子票券」功能，請聯絡您的開店顧問"]}`` (GET /v1/order_etickets; "no 'e-ticket' feature,
  contact your shop consultant"), ``{"error": ["無「庫存同步群組」功能，請聯絡您的開店顧問"]}``;
- ``{"error": "Must have pos_shop_coupon plugin"}`` (GET /v1/pos_shop_coupons);
- the plain 401 ``{"error": ["無權使用該 API"]}`` ("no right to use this API") names nothing: it is what an
  invalid or expired token, or one lacking the scope, gets.

Refreshing a token cannot license a feature, so a refusal naming one is :class:`FeatureNotLicensed`, a
:class:`~platforms.base.PermanentError`: no refresh, no retry, the admin's fix in the message. The
matching is deliberately loose about wording (full-width forms, spaces, quotes, synonyms such as 未開通 /
未啟用 / "not licensed"), and a channel can add its own patterns (adapter setting
``unlicensed_patterns``) should Cyberbiz phrase it differently.

Kong's hmac-auth messages (V1) are recognised too, so a V1 gateway refusal is told apart from the API's.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from platforms.base import PermanentError

__all__ = ["FeatureNotLicensed", "unlicensed_feature", "is_kong_hmac_refusal", "normalise", "BUILTIN_PATTERNS"]

_QUOTES = "「」『』\"'“”‘’《》〈〉【】"
_STOPS = ",，。.;；:：!！?？\n"
_NEGATION = r"(?:無|沒有|没有|未開通|未开通|未啟用|未启用|未購買|未购买|尚未開通|尚未開啟|不支援|未開啟)"

#: How Cyberbiz says "this shop has no such feature" (a ``feature`` group names it when the text does).
BUILTIN_PATTERNS: tuple[str, ...] = (
    _NEGATION + r"\s*[" + _QUOTES + r"]?\s*(?P<feature>[^" + _QUOTES + _STOPS + r"]{1,40}?)\s*[" + _QUOTES + r"]?\s*"
    r"(?:的)?(?:功能|外掛|外挂|模組|模组|插件|服務|服务|權限模組)",
    r"請?聯[絡繫络系].{0,10}顧問",
    r"must\s+have\s+(?:the\s+)?(?P<feature>[\w .\-]{1,60}?)\s+plugin",
    r"(?:feature|plugin|module|add-?on)\s*(?P<feature>[\w .\-]{0,40}?)\s+(?:is\s+)?not\s+"
    r"(?:licen[cs]ed|enabled|activated|purchased|available|installed)",
    r"not\s+licen[cs]ed",
)

_KONG_MESSAGES = ("hmac signature cannot be verified", "hmac signature does not match", "unauthorized",
                  "invalid authentication credentials", "no credentials found")


class FeatureNotLicensed(PermanentError):
    """The shop's CYBERBIZ plan lacks the feature this call needs; only the shop's consultant can enable it."""

    def __init__(self, message: str, *, feature: str = "", **kw):
        super().__init__(message, **kw)
        self.feature = feature


def normalise(text: str) -> str:
    """Full-width forms folded (NFKC) and whitespace collapsed: one spelling to match (case-insensitively)."""
    return re.sub(r"\s+", " ", unicodedata.normalize("NFKC", text)).strip()


def unlicensed_feature(message: str, extra_patterns: Iterable[str] = ()) -> str | None:
    """The feature a refusal says the shop lacks ("" when it names none), or None when it is no such refusal.

    A bad pattern in ``extra_patterns`` is a configuration error and raises :class:`PermanentError`.
    """
    text = normalise(message)
    for pattern in (*BUILTIN_PATTERNS, *extra_patterns):
        try:
            match = re.search(pattern, text, re.IGNORECASE)
        except re.error as exc:
            raise PermanentError(f"setting unlicensed_patterns: {pattern!r} is not a regular expression ({exc})",
                                 platform="cyberbiz") from None
        if match:
            groups = match.groupdict()
            return (groups.get("feature") or "").strip(" .-" + _QUOTES)
    return None


def is_kong_hmac_refusal(message: str) -> bool:
    """True for the answers of Kong's hmac-auth plugin (``{"message": "HMAC signature ..."}`` and kin)."""
    text = normalise(message).lower()
    return text.startswith("hmac signature") or text in _KONG_MESSAGES
