"""``column IN (a list)`` with the whole list as one parameter: the statements a page of the OMS runs.

Why not SQLAlchemy's expanding ``IN``: it writes one placeholder per value into the SQL at every execution, so
a page of 100 orders sends statements of 100-300 parameters whose text changes with the page's size. On
PostgreSQL the driver then parses each long text anew (psycopg caches only short ones), every placeholder gets
its own cast, and the server parses and plans the statement again: a fifth of the client's CPU on a first read
of ``orders/`` (issue 18). With one parameter the text never changes:

- PostgreSQL: ``column = ANY(%(ids)s::INTEGER[])``, the list sent as an array (the index on the column is used
  as for ``IN``);
- SQLite: ``column IN (SELECT value FROM json_each(?))``, the list sent as a JSON text (the JSON functions are
  part of SQLite since 3.38, 2022, and compiled in by most builds before; the lookup uses the column's index as
  ``IN (?, ?, …)`` does).

Only for lists of integers and strings (ids, SKUs); an empty list matches nothing on both.

A list of integers goes to PostgreSQL as the text of an array literal (``{1,2,3}``, cast by the statement), made
by :func:`array_literal` in one join: psycopg's list dumper spends a Python call and a regular-expression search on
every element, which a page of ``orders/`` pays for a thousand ids.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, BindParameter, ColumnElement, Integer, String, Uuid, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import NULLTYPE
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["one_of", "array_literal", "goes_as_array_text"]


def goes_as_array_text(type_: TypeEngine[Any]) -> bool:
    """Whether a list of this type's values goes to PostgreSQL as :func:`array_literal` text (integers and UUIDs:
    their text never needs quoting) rather than as a list psycopg dumps element by element. The one rule for
    :func:`one_of` parameters and :mod:`oms_bridge.store.bulk` arrays."""
    return isinstance(type_, (Integer, Uuid))


def array_literal(values: Iterable[Any]) -> str:
    """PostgreSQL's text of an array of integers or UUIDs (None as NULL), for a parameter the statement casts to
    the array type: ``[1, None, 3]`` is ``{1,NULL,3}``. Their text never holds a quote, comma, brace or space, nor
    "None" but for a None."""
    return "{" + ",".join(map(str, values)).replace("None", "NULL") + "}"



class _ListOf(TypeDecorator[list[Any]]):
    """A list of values bound as one parameter: an array of the column's type on PostgreSQL, JSON text elsewhere."""

    impl = String
    cache_ok = True

    def __init__(self, item: TypeEngine[Any]) -> None:
        super().__init__()
        self.item = item

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            # texts unbounded: a cast to VARCHAR(n)[] would cut a longer value and match another row's
            return dialect.type_descriptor(ARRAY(String() if isinstance(self.item, String) else self.item))
        return dialect.type_descriptor(String())

    def bind_processor(self, dialect: Dialect) -> Any:
        """One step (as :class:`oms_bridge.store.types.UtcDateTime`): integers to PostgreSQL as an array literal
        (see module doc), texts as a list psycopg dumps, JSON text elsewhere."""
        if dialect.name != "postgresql":
            return lambda value: json.dumps(list(value or ()))
        if goes_as_array_text(self.item):
            return lambda value: array_literal(value or ())
        return lambda value: list(value or ())


class _OneOf(ColumnElement[bool]):
    """``column`` is one of the values of the list parameter (see module doc)."""

    type = NULLTYPE  # a condition, not a value: typed Boolean, SQLite would write it "… = 1" and skip the index
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement),
                           ("values", InternalTraversal.dp_clauseelement)]

    def __init__(self, column: ColumnElement[Any], values: BindParameter[Any]) -> None:
        self.column = column
        self.values = values


@compiles(_OneOf)
def _json_each(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} IN (SELECT value FROM json_each({values}))"


@compiles(_OneOf, "postgresql")
def _any(element: _OneOf, compiler: SQLCompiler, **kw: Any) -> str:
    column, values = compiler.process(element.column, **kw), compiler.process(element.values, **kw)
    return f"{column} = ANY({values})"


def one_of(column: Any, name: str) -> ColumnElement[bool]:
    """``column`` is one of the values given as the parameter ``name`` (a list of ints or strs)."""
    return _OneOf(column.expression, bindparam(name, type_=_ListOf(column.type)))
