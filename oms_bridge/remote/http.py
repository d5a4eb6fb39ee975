"""The one HTTP mechanism every platform client uses: session, timeouts, retry policy, masking.

A platform client builds a :class:`HttpClient` and passes a ``classify`` function that turns a
``requests.Response`` into the parsed body or raises the right :class:`~platforms.base.PlatformError`.
:meth:`HttpClient.request` then decides, in one place, what is retried:

- :class:`~platforms.base.RateLimited`: wait ``retry_after`` (capped) or back off, then retry;
- :class:`~platforms.base.TransientError` (incl. connection errors and timeouts): exponential
  backoff with jitter, up to ``max_attempts``;
- anything else is raised at once.

A call that changes state outside (ship, confirm, create) passes ``idempotent=False``: it is retried
only when the request provably never reached the server (the connection could not be opened) or the
server refused it unprocessed (429). A timeout after sending, a dropped connection, a 5xx or an
unreadable answer raise :class:`~platforms.base.OutcomeUnknown` at once: the caller reads the remote
state rather than sending the call a second time.

URLs and parameters that reach a log go through :func:`mask_url`, which hides ``sign``,
``access_token``, ``refresh_token``, ``code`` and other secret-looking parameters. Libraries that log
request lines themselves (urllib3's connection pool at DEBUG, werkzeug's access log in the sandboxes)
get a :class:`MaskingFilter` on their logger, so a debug log never shows a token either.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential
from urllib3 import exceptions as urllib3_exceptions

from oms_bridge.model.errors import (
    AuthExpired,
    CredentialsInvalid,
    OutcomeUnknown,
    PlatformError,
    RateLimited,
    ReauthRequired,
    TransientError,
)
from oms_bridge.model.masking import SECRET_PARAM_NAMES, mask_mapping, mask_text, mask_url
from oms_bridge.remote.telemetry import observe_call

__all__ = ["HttpClient", "RetryPolicy", "mask_url", "mask_mapping", "mask_text", "MaskingFilter",
           "install_log_masking", "SECRET_PARAM_NAMES", "json_body", "json_headers", "parse_retry_after",
           "call_outcome"]

log = logging.getLogger("oms_bridge.platforms.http")


class MaskingFilter(logging.Filter):
    """Masks secret values in a record's message and string arguments (never drops a record).

    The arguments keep their shape (uvicorn's access formatter unpacks them). When masking the format string
    would eat a placeholder (``token=%s``), the message is formatted first and masked whole instead.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(mask_text(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: mask_text(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if isinstance(record.msg, str):
            masked = mask_text(record.msg)
            if not record.args or masked.count("%") == record.msg.count("%"):
                record.msg = masked
            else:
                try:
                    record.msg, record.args = mask_text(record.getMessage()), ()
                except (TypeError, ValueError):  # a broken format: keep the masked parts, lose no record
                    record.msg, record.args = f"{masked} {record.args!r}", ()
        return True


def install_log_masking(*logger_names: str) -> None:
    """Put one :class:`MaskingFilter` on each named logger (idempotent)."""
    for name in logger_names:
        target = logging.getLogger(name)
        if not any(isinstance(f, MaskingFilter) for f in target.filters):
            target.addFilter(MaskingFilter())


# urllib3 logs request lines (with the query) at DEBUG; uvicorn's access log has the OAuth callback's ?code=
install_log_masking("urllib3.connectionpool", "uvicorn.access")


@dataclass(frozen=True)
class RetryPolicy:
    """How hard to try. ``sleep`` is injectable so tests do not wait for real."""

    max_attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_cap: float = 60.0
    connect_timeout: float = 10.0
    read_timeout: float = 30.0
    sleep: Callable[[float], None] | None = None


class HttpClient:
    """A ``requests.Session`` with timeouts, typed errors, retries and call counting."""

    def __init__(self, base_url: str, *, platform: str, classify: Callable[[requests.Response], Any],
                 policy: RetryPolicy | None = None, headers: Mapping[str, str] | None = None,
                 session: requests.Session | None = None):
        self.base_url = base_url.rstrip("/")
        self.platform = platform
        self.classify = classify
        self.policy = policy or RetryPolicy()
        self.session = session or requests.Session()
        if headers:
            self.session.headers.update(headers)
        self.calls = 0

    def url(self, path: str) -> str:
        return self.base_url + (path if path.startswith("/") else "/" + path)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json: Any = None, data: Any = None, headers: Mapping[str, str] | None = None,
                prepare: Callable[[], dict[str, Any]] | None = None,
                classify: Callable[[requests.Response], Any] | None = None, idempotent: bool = True) -> Any:
        """Send with the retry policy; return what ``classify`` returns.

        ``prepare`` (optional) is called before *each* attempt and returns keyword overrides
        (``params``, ``headers``, ``json``...): signatures with timestamps must be fresh per attempt.
        ``idempotent=False`` (a call that changes state outside): see the module doc; an answer that may
        hide an applied change raises :class:`~platforms.base.OutcomeUnknown` instead of being retried.
        """
        policy = self.policy
        retrying = Retrying(
            stop=stop_after_attempt(policy.max_attempts),
            wait=self._wait,
            retry=retry_if_exception_type(TransientError),
            reraise=True,
            sleep=policy.sleep or _default_sleep,
        )
        check = classify or self.classify
        for attempt in retrying:
            with attempt:
                kwargs: dict[str, Any] = {"params": params, "json": json, "data": data, "headers": headers}
                if prepare:
                    kwargs.update(prepare())
                if idempotent:
                    return self._send_once(method, path, check, **kwargs)
                return self._send_state_changing(method, path, check, **kwargs)
        raise AssertionError("unreachable")  # pragma: no cover

    def _send_state_changing(self, method: str, path: str, check: Callable[[requests.Response], Any],
                             **kwargs: Any) -> Any:
        """One attempt of a non-idempotent call: only a provably unsent or refused request stays retryable."""
        try:
            return self._send_once(method, path, check, **kwargs)
        except RateLimited:
            raise  # refused before processing: safe to send again after the wait
        except TransientError as exc:
            if getattr(exc, "request_sent", True):
                raise OutcomeUnknown(f"{method} {path.split('?')[0]}: the answer was lost ({exc.message}); the "
                                     "call may have been applied, so it is not sent again",
                                     platform=self.platform, code=exc.code, status=exc.status) from None
            raise

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RateLimited) and exc.retry_after is not None:
            return min(float(exc.retry_after), self.policy.retry_after_cap)
        return wait_random_exponential(multiplier=self.policy.backoff_initial, max=self.policy.backoff_max)(state)

    def _send_once(self, method: str, path: str, check: Callable[[requests.Response], Any], **kwargs: Any) -> Any:
        url = self.url(path)
        self.calls += 1
        started = time.monotonic()
        try:
            response = self.session.request(
                method, url, timeout=(self.policy.connect_timeout, self.policy.read_timeout), **kwargs
            )
        except requests.Timeout as exc:
            observe_call(self.platform, "timeout", time.monotonic() - started)
            # "from None": the requests exception's text holds the full URL, query secrets included
            error = TransientError(f"timeout calling {method} {mask_url(url)} ({type(exc).__name__})",
                                   platform=self.platform)
            error.request_sent = not isinstance(exc, requests.ConnectTimeout)
            raise error from None
        except requests.ConnectionError as exc:
            observe_call(self.platform, "unreachable", time.monotonic() - started)
            error = TransientError(f"cannot connect to {mask_url(url)}: {type(exc).__name__}", platform=self.platform)
            error.request_sent = not _never_sent(exc)
            raise error from None
        elapsed = time.monotonic() - started
        log.debug("%s %s -> %s", method, mask_url(response.url), response.status_code)
        try:
            result = check(response)
        except PlatformError as exc:
            observe_call(self.platform, call_outcome(exc), elapsed)
            raise
        observe_call(self.platform, "ok", elapsed)
        return result


def call_outcome(exc: PlatformError) -> str:
    """The ``outcome`` label of a request the platform answered with this error (see oms_bridge.remote.telemetry)."""
    if isinstance(exc, RateLimited):
        return "rate_limited"
    if isinstance(exc, (AuthExpired, ReauthRequired, CredentialsInvalid)):
        return "auth"
    if isinstance(exc, TransientError):
        return "transient"
    return "rejected"


def _never_sent(exc: requests.ConnectionError) -> bool:
    """True when the connection was never opened (refused, no route, DNS), so the server saw nothing.

    requests wraps urllib3's ``MaxRetryError`` whose ``reason`` tells: ``NewConnectionError`` (and its
    DNS subclass) or ``ConnectTimeoutError`` before anything was sent; a ``ProtocolError`` (connection
    aborted) may come after the request went out.
    """
    reason = exc.args[0] if exc.args else None
    if isinstance(reason, urllib3_exceptions.MaxRetryError):
        reason = reason.reason
    return isinstance(reason, (urllib3_exceptions.NewConnectionError, urllib3_exceptions.ConnectTimeoutError))


def _default_sleep(seconds: float) -> None:
    time.sleep(seconds)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds form; an HTTP date gives None)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None


def json_headers(user_agent: str | None = None) -> dict[str, str]:
    """``Accept: application/json`` plus a ``User-Agent`` when the admin configured one."""
    headers = {"Accept": "application/json"}
    if user_agent:
        headers["User-Agent"] = user_agent
    return headers


def json_body(response: requests.Response, *, platform: str, empty_is_none: bool = False) -> Any:
    """The parsed JSON body, or :class:`TransientError` for a malformed or truncated one.

    A body cut off mid-way is what an overloaded server or proxy produces, so it is retried like a
    5xx. The message names the call and the size but never quotes the body: a broken token answer
    could hold a token. ``empty_is_none``: an empty body is ``None`` (an API that answers ``200`` with
    nothing) rather than an error.
    """
    if empty_is_none and not (response.content or b"").strip():
        return None
    try:
        return response.json()
    except ValueError as exc:
        request = response.request
        where = f"{request.method} {(request.path_url or '').split('?')[0]}" if request is not None else "a call"
        raise TransientError(f"malformed JSON from {where} (HTTP {response.status_code}, "
                             f"{len(response.content or b'')} bytes)", platform=platform,
                             status=response.status_code) from exc
