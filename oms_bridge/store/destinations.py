"""Which delivery destinations are connected, so alerts and reconciliation watch only those.

Every order gets an ``erp`` and an ``oms`` delivery row, whether or not an ERP or an OMS is connected:
an installation without an OMS would otherwise hear "orders are not reaching the OMS" forever. A
destination of ``monitored_destinations`` counts as connected when:

- ``erp``: an active ERP connection exists;
- ``oms``: the OMS was given access (an ``oms_api_token`` row: ``oms-bridge oms rotate-token``) or has
  taken an order (a ``sent`` oms row);
- ``logistics``: always (its rows exist only once the OMS reports shipped packages).
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.store.models import Delivery, ErpConnection
from oms_bridge.store.models.oms import OmsApiToken

__all__ = ["destinations_in_use"]


def _connected(session: Session, destination: str) -> bool:
    if destination == "erp":
        return session.scalar(select(ErpConnection.id).where(ErpConnection.isactive.is_(True)).limit(1)) is not None
    if destination == "oms":
        if session.scalar(select(OmsApiToken.id).limit(1)) is not None:
            return True
        return session.scalar(select(Delivery.id).where(Delivery.destination == "oms", Delivery.state == "sent")
                              .limit(1)) is not None
    return True


def destinations_in_use(session: Session, wanted: Iterable[str]) -> tuple[str, ...]:
    """The destinations of ``wanted`` (the monitored ones) that are connected (see module doc)."""
    return tuple(d for d in wanted if _connected(session, d))
