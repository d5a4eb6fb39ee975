"""Alembic migrations of the store, shipped inside the package (no alembic.ini needed at runtime).

:mod:`oms_bridge.store.schema` builds the Alembic ``Config`` in code and points it here. ``0001``
(``versions/0001_initial.py``) shipped with the first release and is frozen; the changes since live in
the one open revision that ``python -m oms_bridge.store.migrations.regenerate`` rewrites from the
models (see that module), and the same tool rewrites the iDempiere-style SQL files under
``sql/postgresql/``.
"""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent

__all__ = ["MIGRATIONS_DIR"]
