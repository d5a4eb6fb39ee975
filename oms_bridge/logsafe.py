"""Log records that cannot be forged or leak personal data, whatever a request or a database put in them.

Two threats, one hook (a log record factory, so every logger and handler is covered, including those
configured later by uvicorn or ``logging.basicConfig``):

- **Log injection**: values that come from a request (the OAuth callback's path, a webhook's package id,
  a user name) reach log lines as ``%s`` arguments. A CR/LF in them would start a fake log line. Every
  text or exception argument has its control characters escaped (``\\n`` → ``\\x0a``); the format
  string, written by us, and other objects are left alone.
- **Personal data in tracebacks**: ``log.exception`` of a database error would print PostgreSQL's
  ``DETAIL`` (``Failing row contains (...)``) and the chained driver error. For a database error the
  record's traceback is rebuilt from the stack frames only, ending in the classified description of
  :func:`oms_bridge.store.errors.describe_error`.
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

from oms_bridge.store.errors import describe_error, is_database_error, one_line

__all__ = ["install_log_safety", "escape_control"]

_installed = False
_UNSAFE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")


def escape_control(value: Any) -> str:
    """``value`` as text with every control character (CR, LF, ESC, NUL, ...) escaped."""
    text = value if isinstance(value, str) else str(value)
    return "".join(ch if (ch >= " " and ch != "\x7f" and ch not in "\u2028\u2029") or ch == "\t"
                   else (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}") for ch in text)


def _safe_args(args: Any) -> Any:
    if isinstance(args, tuple):
        return tuple(_safe_arg(a) for a in args)
    if isinstance(args, dict):
        return {k: _safe_arg(v) for k, v in args.items()}
    return args


def _safe_arg(value: Any) -> Any:
    """Text and exceptions with their control characters escaped; anything else unchanged (so %r and %d
    keep working, and an object whose ``str()`` is costly or broken is never rendered here)."""
    if isinstance(value, str):
        return escape_control(value) if _UNSAFE.search(value) else value
    if isinstance(value, BaseException):
        try:
            if is_database_error(value):
                return describe_error(value)
            text = str(value)
        except Exception:  # noqa: BLE001 - a broken __str__ must not break logging
            return value
        return escape_control(text) if _UNSAFE.search(text) else value
    return value


def _redacted_traceback(exc: BaseException) -> str:
    stack = "".join(traceback.format_tb(exc.__traceback__))
    return f"Traceback (most recent call last):\n{stack}{type(exc).__name__}: {one_line(describe_error(exc))}"


def install_log_safety() -> None:
    """Install the record factory (idempotent; the previous factory still builds the record)."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        try:
            if record.args:
                record.args = _safe_args(record.args)
            if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
                exc = record.exc_info[1]
                if is_database_error(exc) or any(is_database_error(e) for e in _chain(exc)):
                    record.exc_text = _redacted_traceback(exc)
        except Exception:  # noqa: BLE001, S110 - making a record safer must never make logging fail
            pass
        return record

    logging.setLogRecordFactory(factory)
    _installed = True


def _chain(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    current: BaseException | None = exc.__cause__ or exc.__context__
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen
