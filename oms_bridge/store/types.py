"""Column types that keep the store's promises: Y/N booleans, aware-UTC times, exact money.

- :class:`YesNo` is ``CHAR(1)`` holding 'Y'/'N' (iDempiere convention); Python sees ``bool``.
- :class:`UtcDateTime` accepts only timezone-aware datetimes and always returns aware UTC,
  also on SQLite (which stores no zone).
- :class:`Money` is ``NUMERIC(20,6)`` on PostgreSQL and text on SQLite, so a ``Decimal``
  never passes through a float anywhere.

:class:`UtcDateTime` gives SQLAlchemy one bind processor doing the whole conversion in a single step,
where a plain ``TypeDecorator`` chains ``process_bind_param`` and SQLite's own DATETIME formatting: a
bulk load binds hundreds of thousands of times (issue 18). It produces the same value as the chain
(tests/store/test_store_bulk.py compares them). Reading is one step too where it is cheap to be exact: SQLite's
stored text straight to aware UTC or to a Decimal, 'Y'/'N' straight to a bool (a page the OMS pulls reads some
twenty thousand such values). On PostgreSQL (psycopg) the store's sessions run in UTC, so times arrive as aware UTC
and amounts as Decimals: they are used as they come, without a call per value.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from sqlalchemy import CHAR, DateTime, Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import operators
from sqlalchemy.types import TypeDecorator, TypeEngine

__all__ = ["YesNo", "UtcDateTime", "Money", "Quantity"]


class YesNo(TypeDecorator[bool]):
    """iDempiere boolean: CHAR(1) 'Y'/'N'.

    ``column.is_(True)`` compares with ``= 'Y'``: SQL's ``IS`` takes only TRUE/FALSE/NULL, and
    ``IS 'Y'`` is a syntax error on PostgreSQL (SQLite accepts it, which hid the bug once).
    """

    impl = CHAR(1)
    cache_ok = True

    class Comparator(TypeDecorator.Comparator):
        def operate(self, op, *other, **kwargs):
            if op in (operators.is_, operators.is_not) and other and isinstance(other[0], bool):
                op = operators.eq if op is operators.is_ else operators.ne
            return super().operate(op, *other, **kwargs)

    comparator_factory = Comparator

    def process_bind_param(self, value: bool | str | None, dialect: Dialect) -> str | None:
        if value is None:
            return None
        if isinstance(value, str):
            if value not in ("Y", "N"):
                raise ValueError(f"Y/N column got {value!r}")
            return value
        return "Y" if value else "N"

    def process_result_value(self, value: str | None, dialect: Dialect) -> bool | None:
        if value is None:
            return None
        return value == "Y"

    def result_processor(self, dialect: Dialect, coltype: object):
        """One step (see module doc): CHAR(1) comes back as text on every driver."""
        def process(value: str | None) -> bool | None:
            return None if value is None else value == "Y"

        return process


class UtcDateTime(TypeDecorator[datetime]):
    """Timezone-aware timestamp, normalised to UTC on the way in and out."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def bind_processor(self, dialect: Dialect):
        sqlite = dialect.name == "sqlite"

        def process(value: datetime | None) -> datetime | str | None:
            if value is None:
                return None
            if value.tzinfo is None or value.utcoffset() is None:
                raise ValueError(f"naive datetime {value!r} given to a UTC column; convert at the edge")
            value = value.astimezone(UTC)
            # SQLite: SQLAlchemy's DATETIME storage format, "YYYY-MM-DD HH:MM:SS.ffffff" (microseconds always)
            return value.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else value

        return process

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r} given to a UTC column; convert at the edge")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def result_processor(self, dialect: Dialect, coltype: object):
        """One step from what the driver returns to aware UTC (see module doc: a page the OMS pulls reads
        thousands of times): on SQLite the stored text is parsed straight into UTC; anything ``fromisoformat``
        does not read goes through SQLAlchemy's own parser first, as before."""
        chained = super().result_processor(dialect, coltype)
        if dialect.name == "postgresql" and getattr(dialect, "driver", "") == "psycopg":
            return _utc_or_converted
        if dialect.name != "sqlite":
            return chained

        def process(value: str | None) -> datetime | None:
            if value is None:
                return None
            try:
                parsed = datetime.fromisoformat(value)
            except (TypeError, ValueError):
                return chained(value) if chained else value
            return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)

        return process

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _utc_or_converted(value: datetime | None) -> datetime | None:
    """PostgreSQL (psycopg): the store's sessions run in UTC (:func:`oms_bridge.store.db.make_engine`), so psycopg
    already returns aware UTC (``datetime.UTC`` itself) and the value is passed on; a session in another zone (a
    pooler that drops the setting) still gets its values converted."""
    if value is None or value.tzinfo is UTC:
        return value
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class _DecimalText(TypeDecorator[Decimal]):
    """Shared logic for exact decimals: NUMERIC on PostgreSQL, TEXT on SQLite."""

    impl = Numeric
    cache_ok = True
    precision = 20
    scale = 6

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(self.precision, self.scale, asdecimal=True))

    def process_bind_param(self, value: Decimal | int | str | None, dialect: Dialect):
        if value is None:
            return None
        if isinstance(value, float):
            raise TypeError(f"float {value!r} given to an exact decimal column; use Decimal")
        value = Decimal(value)
        if dialect.name == "sqlite":
            return str(value)
        return value

    def process_result_value(self, value, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)) if not isinstance(value, Decimal) else value

    def result_processor(self, dialect: Dialect, coltype: object):
        """One step on SQLite (see module doc): the stored text straight to a Decimal. None with psycopg: it returns
        NUMERIC as a ``Decimal`` itself, and a call per value that returns it unchanged was pure cost."""
        if dialect.name == "postgresql" and getattr(dialect, "driver", "") == "psycopg":
            return None
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)

        def process(value: str | None) -> Decimal | None:
            if value is None:
                return None
            return Decimal(value) if isinstance(value, str) else Decimal(str(value))

        return process


class Money(_DecimalText):
    """An amount of money: NUMERIC(20,6)."""

    cache_ok = True  # SQLAlchemy asks every subclass itself; without it no statement selecting money is cached
    precision = 20
    scale = 6

    def __init__(self) -> None:
        super().__init__(precision=20, scale=6)


class Quantity(_DecimalText):
    """A quantity: NUMERIC(20,6)."""

    cache_ok = True
    precision = 20
    scale = 6

    def __init__(self) -> None:
        super().__init__(precision=20, scale=6)
