"""Plain rows of a mapped model: ``select(*columns_of(Model))`` reads tuples whose attributes carry the model's
attribute names (``row.id``, ``row.status``), without building ORM objects.

Why: a page the OMS pulls reads hundreds of rows that are only serialised, never changed; building an ORM
object for each (identity map, attribute instrumentation, state tracking) cost about as much as the rest of the
request (issue 18). Code that changes a row keeps loading it as an ORM object.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Mapping
from functools import cache
from typing import Any

from sqlalchemy import CursorResult, Executable, Result, inspect
from sqlalchemy.orm import Session

__all__ = ["columns_of", "named", "records", "record_type", "plain"]


@cache
def _columns(model: type, without: frozenset[str]) -> tuple[Any, ...]:
    return tuple(named(getattr(model, prop.key)) for prop in inspect(model).column_attrs if prop.key not in without)


def named(attribute: Any) -> Any:
    """A mapped attribute for ``select``, labelled with its attribute name when its column is named otherwise
    (``Order.id`` is ``oms_order_id``): rows read through :func:`plain` carry the attribute names too."""
    return attribute if attribute.key == attribute.expression.name else attribute.label(attribute.key)


def columns_of(model: type, *, without: tuple[str, ...] = ()) -> tuple[Any, ...]:
    """The model's column attributes (minus ``without``, e.g. a large payload nobody reads), for ``select``."""
    return _columns(model, frozenset(without))


@cache
def record_type(keys: tuple[str, ...]) -> Any:
    """The named tuple type of rows with these attribute names (the type :func:`records` makes)."""
    return namedtuple("Record", keys)  # noqa: PYI024 - the fields are only known at run time


def records(result: Result[Any]) -> list[Any]:
    """The result's rows as named tuples (same attribute names): a serialiser reads each row's attributes a dozen
    times, and a named tuple answers in C where a ``Row`` goes through Python (``__getattr__``).

    The rows are fetched at once (``all``): iterating a result fetches them from the driver one call per row, a
    quarter more per row on psycopg."""
    make = record_type(tuple(result.keys()))._make
    return list(map(make, result.all()))


def plain(session: Session, stmt: Executable, params: Mapping[str, Any] | None = None) -> CursorResult[Any]:
    """Run a statement of plain columns (no ORM entity in it) on the session's connection, in its transaction, after
    flushing what the session holds as ``session.execute`` would.

    Why: ``session.execute`` takes even a column-only SELECT through the ORM's execution layer (its compile state,
    its result wrapping): about 0.1 ms a statement, and a page of ``orders/`` runs a dozen (issue 18). The result
    is the same rows."""
    session.flush()
    return session.connection().execute(stmt, params or {})
