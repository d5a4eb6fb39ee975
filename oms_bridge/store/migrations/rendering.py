"""How autogenerate writes the store's own column types into a migration.

The migration must use the very same types as the models (``YesNo``, ``UtcDateTime``, ``Money``,
``Quantity``): on SQLite ``Money`` is text, so a generic ``NUMERIC`` would let SQLite turn amounts
into floats. Alembic's default rendering of a ``TypeDecorator`` repeats its impl's arguments, which
these constructors do not take, so each is rendered as ``ClassName()`` with one import line.
"""

from __future__ import annotations

from typing import Any

from oms_bridge.store import types as store_types

__all__ = ["render_item", "STORE_TYPES", "STORE_TYPES_IMPORT"]

STORE_TYPES_IMPORT = "from oms_bridge.store import types as store_types"
STORE_TYPES = tuple(getattr(store_types, name) for name in store_types.__all__)


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render store types as ``store_types.<Class>()``; everything else the default way."""
    if type_ == "type" and isinstance(obj, STORE_TYPES):
        autogen_context.imports.add(STORE_TYPES_IMPORT)
        return f"store_types.{type(obj).__name__}()"
    return False
