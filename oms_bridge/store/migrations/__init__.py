"""Alembic migrations of the store, shipped inside the package (no alembic.ini needed at runtime).

:mod:`oms_bridge.store.schema` builds the Alembic ``Config`` in code and points it here. Pre-release
there is exactly one revision, ``0001`` (``versions/0001_initial.py``), produced by
``python -m oms_bridge.store.migrations.regenerate`` from the models; the same tool rewrites the
iDempiere-style SQL files under ``sql/postgresql/``.
"""

from pathlib import Path

MIGRATIONS_DIR = Path(__file__).resolve().parent

__all__ = ["MIGRATIONS_DIR"]
