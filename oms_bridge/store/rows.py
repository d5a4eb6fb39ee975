"""Plain rows of a mapped model: ``select(*columns_of(Model))`` reads tuples whose attributes carry the model's
attribute names (``row.id``, ``row.status``), without building ORM objects.

Why: a page the OMS pulls reads hundreds of rows that are only serialised, never changed; building an ORM
object for each (identity map, attribute instrumentation, state tracking) cost about as much as the rest of the
request (issue 18). Code that changes a row keeps loading it as an ORM object.
"""

from __future__ import annotations

from collections import namedtuple
from functools import cache
from typing import Any

from sqlalchemy import Result, inspect

__all__ = ["columns_of", "records", "record_type"]


@cache
def _columns(model: type, without: frozenset[str]) -> tuple[Any, ...]:
    return tuple(getattr(model, prop.key) for prop in inspect(model).column_attrs if prop.key not in without)


def columns_of(model: type, *, without: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """The model's column attributes (minus ``without``, e.g. a large payload nobody reads), for ``select``."""
    return _columns(model, frozenset(without))


@cache
def record_type(keys: tuple[str, ...]) -> Any:
    """The named tuple type of rows with these attribute names (the type :func:`records` makes)."""
    return namedtuple("Record", keys)  # noqa: PYI024 - the fields are only known at run time


def records(result: Result[Any]) -> list[Any]:
    """The result's rows as named tuples (same attribute names): a serialiser reads each row's attributes a dozen
    times, and a named tuple answers in C where a ``Row`` goes through Python (``__getattr__``)."""
    make = record_type(tuple(result.keys()))._make
    return [make(row) for row in result]
