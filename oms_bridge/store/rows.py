"""Plain rows of a mapped model: ``select(*columns_of(Model))`` reads tuples whose attributes carry the model's
attribute names (``row.id``, ``row.status``), without building ORM objects.

Why: a page the OMS pulls reads hundreds of rows that are only serialised, never changed; building an ORM
object for each (identity map, attribute instrumentation, state tracking) cost about as much as the rest of the
request (issue 18). Code that changes a row keeps loading it as an ORM object.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from sqlalchemy import inspect

__all__ = ["columns_of"]


@cache
def _columns(model: type, without: frozenset[str]) -> tuple[Any, ...]:
    return tuple(getattr(model, prop.key) for prop in inspect(model).column_attrs if prop.key not in without)


def columns_of(model: type, *, without: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """The model's column attributes (minus ``without``, e.g. a large payload nobody reads), for ``select``."""
    return _columns(model, frozenset(without))
