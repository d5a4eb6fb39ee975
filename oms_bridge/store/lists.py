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
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import ARRAY, BindParameter, ColumnElement, String, bindparam
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import NULLTYPE
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["one_of"]


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

    def process_bind_param(self, value: Iterable[Any] | None, dialect: Dialect) -> Any:
        values = list(value or ())
        return values if dialect.name == "postgresql" else json.dumps(values)


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
