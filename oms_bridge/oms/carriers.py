"""The carrier table: an OMS cargo company → the carrier the platform's ship call expects.

The OMS names the cargo company of a shipped package by its ``name`` or ``erp_code`` (seed 002,
"Define Cargo Integration"); each marketplace wants its own code (Shopee logistics channel,
Cyberbiz/Shopline carrier name, momo delivery company code). One row per (platform type, OMS
carrier). A logistics delivery held for an unmapped carrier carries the hold code
:func:`~oms_bridge.store.models.oms.carrier_hold_code`, so :func:`set_carrier` re-arms exactly
the rows it cures.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.store.models.oms import OmsCarrier, carrier_hold_code
from oms_bridge.store.outbox import rearm_held

__all__ = ["list_carriers", "set_carrier", "remove_carrier"]


def list_carriers(session: Session, platform_type: str | None = None) -> list[OmsCarrier]:
    stmt = select(OmsCarrier).order_by(OmsCarrier.platform_type, OmsCarrier.oms_carrier)
    if platform_type:
        stmt = stmt.where(OmsCarrier.platform_type == platform_type)
    return list(session.scalars(stmt))


def set_carrier(session: Session, platform_type: str, oms_carrier: str, platform_carrier: str) -> int:
    """Create or change a mapping; returns how many held logistics deliveries it re-armed."""
    oms_carrier, platform_carrier = oms_carrier.strip(), platform_carrier.strip()
    if not oms_carrier or not platform_carrier:
        raise ValueError("both the OMS carrier and the platform carrier must be non-empty")
    row = session.scalars(select(OmsCarrier).where(OmsCarrier.platform_type == platform_type,
                                                   OmsCarrier.oms_carrier == oms_carrier)).one_or_none()
    if row is None:
        row = OmsCarrier(platform_type=platform_type, oms_carrier=oms_carrier, platform_carrier=platform_carrier)
        session.add(row)
    row.platform_carrier = platform_carrier
    row.isactive = True
    session.flush()
    return rearm_held(session, "logistics", code=carrier_hold_code(platform_type, oms_carrier))


def remove_carrier(session: Session, platform_type: str, oms_carrier: str) -> bool:
    row = session.scalars(select(OmsCarrier).where(OmsCarrier.platform_type == platform_type,
                                                   OmsCarrier.oms_carrier == oms_carrier)).one_or_none()
    if row is None:
        return False
    session.delete(row)
    return True
