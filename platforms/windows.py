"""Splitting a time range into consecutive query windows, for APIs that cap how wide one query may be.

Shopee (15 days), momo (2 months) and Cyberbiz (configurable) all refuse or dislike wide ranges. Each
platform first aligns ``[since, until)`` to what its filter can express (whole seconds, whole minutes,
Unix seconds) and then cuts it here, so the cutting rule is written once: half-open, consecutive,
never overlapping and never leaving a gap, each at most ``step`` wide. Turning a half-open window into
the platform's inclusive ``from``/``to`` fields stays with the platform.
"""

from __future__ import annotations

from typing import Any, TypeVar

__all__ = ["split_range"]

T = TypeVar("T")


def split_range(start: T, end: T, step: Any) -> list[tuple[T, T]]:
    """``[start, end)`` as consecutive half-open ``(lo, hi)`` windows of at most ``step`` (datetimes or ints)."""
    if not start + step > start:  # type: ignore[operator]
        raise ValueError(f"a window step must be positive, got {step!r}")
    windows: list[tuple[T, T]] = []
    while start < end:  # type: ignore[operator]
        stop = min(start + step, end)  # type: ignore[operator]
        windows.append((start, stop))
        start = stop
    return windows
