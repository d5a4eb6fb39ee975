"""Query-string parsing for the OMS API: DRF-style paging and Django-filter style lookups.

Every parser raises :class:`FilterError` naming the parameter, which the API turns into a 400
(``{"detail": "<param>: <what is wrong>"}``), never a 500.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = ["FilterError", "Page", "parse_page", "parse_datetime", "parse_int_list", "check_int", "parse_str_list",
           "parse_bool", "page_body"]


class FilterError(ValueError):
    """A query parameter has a value the API cannot use."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class Page:
    limit: int
    number: int

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.limit


def parse_page(limit: int | None, page: int | None, *, default: int, maximum: int) -> Page:
    """``limit`` defaults to ``default`` and is capped at ``maximum`` (as DRF's max_limit does)."""
    size = default if limit is None else limit
    if size < 1:
        raise FilterError("limit", "must be at least 1")
    number = 1 if page is None else page
    if number < 1:
        raise FilterError("page", "must be at least 1")
    return Page(limit=min(size, maximum), number=number)


def parse_datetime(field: str, value: str | None) -> datetime | None:
    """An ISO 8601 date or date-time; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    text = value.strip().replace(" ", "+") if "T" in value else value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise FilterError(field, f"{value!r} is not an ISO 8601 date or date-time") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except (OverflowError, ValueError):
        raise FilterError(field, f"{value!r} is out of range") from None


def parse_str_list(value: str | None) -> list[str] | None:
    if value is None or value == "":
        return None
    return [v.strip() for v in value.split(",") if v.strip()]


def parse_int_list(field: str, value: str | None) -> list[int] | None:
    items = parse_str_list(value)
    if items is None:
        return None
    try:
        out = [int(v) for v in items]
    except ValueError:
        raise FilterError(field, f"{value!r} is not a comma-separated list of integers") from None
    for v in out:
        check_int(field, v)
    return out


def check_int(field: str, value: int | None) -> int | None:
    """``value`` when the database can compare it with an id (within ±2**62), else a :class:`FilterError`."""
    if value is not None and abs(value) > 2**62:
        raise FilterError(field, "integer out of range")
    return value


def parse_bool(field: str, value: str | None) -> bool | None:
    if value is None or value == "":
        return None
    low = value.strip().lower()
    if low in ("true", "1", "yes", "y"):
        return True
    if low in ("false", "0", "no", "n"):
        return False
    raise FilterError(field, f"{value!r} is not a boolean (true/false)")


def page_body(url: Any, count: int, page: Page, results: list[Any], *, has_next: bool | None = None,
              after: int | None = None) -> dict[str, Any]:
    """``{count, next, previous, results}`` with absolute next/previous URLs built from the request URL.

    ``has_next``: whether rows follow this page (default: by the count, as DRF decides); ``after``: the id the next
    page continues after, carried in the ``next`` link (``orders/``: see :func:`oms_bridge.oms.api.list_orders`).
    """
    if has_next is None:
        has_next = page.number * page.limit < count
    following = {"page": page.number + 1, "limit": page.limit, **({"after": after} if after is not None else {})}
    return {
        "count": count,
        "next": str(url.include_query_params(**following)) if has_next else None,
        "previous": (str(url.remove_query_params("after").include_query_params(page=page.number - 1,
                                                                                limit=page.limit))
                     if page.number > 1 else None),
        "results": results,
    }
