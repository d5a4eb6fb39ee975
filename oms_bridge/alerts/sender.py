"""Sending one notification to one target through apprise (the only sender: no hand-written SMTP/HTTP).

:func:`send` returns whether the service accepted it and, when not, why: apprise's own log lines of the
attempt (captured with ``apprise.LogCapture``), with every part of the target's URL that could be a
secret (user, password, path segments, query values, and the host of token-addressed services) cut out
and the shared masking rules applied, so the reason can be shown and stored.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlsplit

import apprise

from oms_bridge.alerts.findings import safe_text
from oms_bridge.alerts.targets import HOST_SCHEMES

__all__ = ["SendResult", "send", "scrub_url_parts"]

log = logging.getLogger("oms_bridge.alerts")


@dataclass(frozen=True)
class SendResult:
    ok: bool
    error: str | None = None


def _secret_parts(url: str) -> list[str]:
    """Every piece of ``url`` that may be secret, longest first (so a piece inside another goes last)."""
    scheme, _, rest = url.partition("://")
    parts: list[str] = []
    try:
        split = urlsplit(url)
        parts += [split.username or "", split.password or ""]
        if scheme.lower() not in HOST_SCHEMES:
            parts.append(split.hostname or "")
            parts.append(rest.split("/", 1)[0].split("?", 1)[0])
        parts += [segment for segment in split.path.split("/") if segment]
        parts += [value for _key, value in parse_qsl(split.query, keep_blank_values=False)]
    except ValueError:
        parts.append(rest)
    parts += [unquote(p) for p in parts]
    return sorted({p for p in parts if len(p) >= 3}, key=len, reverse=True)


def scrub_url_parts(text: str, url: str) -> str:
    """``text`` with every possibly secret part of ``url`` replaced by ``****``."""
    for part in _secret_parts(url):
        text = text.replace(part, "****")
    return text


def send(url: str, title: str, body: str) -> SendResult:
    """Deliver one message to one apprise URL; never raises for a delivery failure."""
    notifier = apprise.Apprise()
    try:
        if not notifier.add(url):
            return SendResult(False, "apprise cannot use this target's URL (check it: `oms-bridge alerts target "
                                     "list`, then remove and add it again)")
        with apprise.LogCapture(level=logging.WARNING) as captured:
            ok = bool(notifier.notify(title=title, body=body, body_format=apprise.NotifyFormat.TEXT))
            logged = captured.getvalue()
    except Exception as exc:  # noqa: BLE001 - a plugin's unexpected error is this target's failure, not the run's
        log.warning("alert target raised %s", type(exc).__name__)
        return SendResult(False, safe_text(scrub_url_parts(f"{type(exc).__name__}: {exc}", url)))
    if ok:
        return SendResult(True)
    lines = [line.split(" - ", 2)[-1] for line in logged.splitlines() if line.strip()]
    reason = "; ".join(lines[-3:]) or "the service did not accept the message"
    return SendResult(False, safe_text(scrub_url_parts(reason, url)))
