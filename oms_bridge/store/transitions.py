"""How a change of an order reaches its destinations: one rule, used by the upsert and by the bridge's own changes.

A changed order re-arms its ``erp`` and ``oms`` rows in the same transaction (an order never exists without its
delivery rows). Action ``cancel`` for a destination that already received the order when it is now cancelled,
otherwise ``create`` (a destination that never had it receives the current state, cancelled or not, and decides
itself). The bridge changes an order itself only when a cancellation request it answered makes it cancelled
(:func:`set_status`); then the status history, the version and the destinations follow the same rule.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from oms_bridge.store import outbox
from oms_bridge.store.models import Delivery, Order, OrderStatus

__all__ = ["DESTINATIONS", "rearm", "bump", "set_status"]

DESTINATIONS = ("erp", "oms")


def rearm(session: Session, order: Order, status: str | None) -> None:
    """Re-arm each destination for the order's current version (see the module doc)."""
    sent = {d.destination for d in session.scalars(select(Delivery).where(Delivery.oms_order_id == order.id))
            if d.delivered_version is not None}
    for dest in DESTINATIONS:
        action = "cancel" if status == "cancelled" and dest in sent else "create"
        outbox.arm(session, order, (dest,), action=action)


def bump(order: Order, now: datetime) -> None:
    """A new version of the order: destinations re-deliver it, the OMS sees a newer ``modified_date``."""
    order.version += 1
    order.updated = now


def set_status(session: Session, order: Order, status: str, *, now: datetime, platform_status: str | None = None,
               run_id: int | None = None) -> bool:
    """The bridge changes the order's status: history row, new version, destinations re-armed. False: unchanged."""
    if order.status == status:
        return False
    order.status = status
    bump(order, now)
    session.add(OrderStatus(oms_order_id=order.id, status=status, platform_status=platform_status or
                            order.platform_status, changed_at=now, oms_process_run_id=run_id,
                            ad_client_id=order.ad_client_id, ad_org_id=order.ad_org_id))
    session.flush()
    rearm(session, order, status)
    return True
