"""Declarative base and the iDempiere column conventions shared by every ``oms_*`` table.

Every table carries ``<table>_id`` (integer primary key), ``<table>_uu`` (UUID, unique),
``ad_client_id``, ``ad_org_id``, ``isactive`` ('Y'/'N'), ``created``, ``createdby``, ``updated``,
``updatedby``. Constraint names follow iDempiere: primary key ``<table>_key``, UUID
``<table>_uu_idx``, foreign keys ``<parentnounderscore>_<tablenounderscore>`` cut to 30 characters.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import CheckConstraint, Integer, MetaData, Uuid, func, text
from sqlalchemy.orm import DeclarativeBase, Mapped, declared_attr, mapped_column

from oms_bridge.store.types import UtcDateTime, YesNo
from oms_bridge.store.uuids import new_uuid

__all__ = ["Base", "ADColumns", "utcnow", "yes_no"]


def utcnow() -> datetime:
    """Aware UTC now (the only clock the store uses for AD columns)."""
    return datetime.now(UTC)


def _fk_name(constraint, table) -> str:
    parent = constraint.elements[0].target_fullname.split(".")[0]
    return f"{parent.replace('_', '')}_{table.name.replace('_', '')}"[:30]


def _uq_name(constraint, table) -> str:
    cols = [c.name for c in constraint.columns]
    if cols == [f"{table.name}_uu"]:
        return f"{table.name}_uu_idx"
    return f"{table.name}_{'_'.join(cols)}_uq"[:63]


NAMING = {
    "fk_name": _fk_name,
    "uq_name": _uq_name,
    "pk": "%(table_name)s_key",
    "fk": "%(fk_name)s",
    "uq": "%(uq_name)s",
    "ix": "%(table_name)s_%(column_0_N_name)s_ix",
    "ck": "%(table_name)s_%(constraint_name)s_ck",
}


class Base(DeclarativeBase):
    """Root of every model; its metadata is what Alembic compares against."""

    metadata = MetaData(naming_convention=NAMING)


def yes_no(name: str, default: bool, *, nullable: bool = False) -> Mapped[bool]:
    """A CHAR(1) 'Y'/'N' column with its CHECK constraint, as iDempiere declares booleans."""
    return mapped_column(
        name,
        YesNo(),
        CheckConstraint(f"{name} IN ('Y','N')", name=name),
        nullable=nullable,
        default=default,
        server_default=text("'Y'") if default else text("'N'"),
    )


class ADColumns:
    """Mixin adding the iDempiere key, UUID and audit columns, named after the table."""

    @declared_attr
    def id(cls) -> Mapped[int]:  # noqa: N805 - declared_attr receives the class
        return mapped_column(f"{cls.__tablename__}_id", Integer, primary_key=True, autoincrement=True)

    @declared_attr
    def uu(cls) -> Mapped[uuid.UUID]:  # noqa: N805
        return mapped_column(
            f"{cls.__tablename__}_uu", Uuid, default=new_uuid, nullable=False, unique=True
        )

    ad_client_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    ad_org_id: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))

    @declared_attr
    def isactive(cls) -> Mapped[bool]:  # noqa: N805
        return yes_no("isactive", True)

    created: Mapped[datetime] = mapped_column(
        UtcDateTime(), nullable=False, default=utcnow, server_default=func.current_timestamp()
    )
    createdby: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
    updated: Mapped[datetime] = mapped_column(
        UtcDateTime(), nullable=False, default=utcnow, onupdate=utcnow, server_default=func.current_timestamp()
    )
    updatedby: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default=text("0"))
