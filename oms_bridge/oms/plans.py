"""Cancellation plans: one per marketplace cancellation (``cancel``) or return (``refund``) of an order.

With a Seller Center the OMS's ``cancellation_plan.*`` webhooks are off and it polls the
``cancellation_plans`` endpoint instead (spec §6). A plan is made for every stored order whose
canonical status is ``cancelled`` (plan ``cancel``) or ``returned`` (plan ``refund``) when the
endpoint is read (:func:`sync_plans`), covering all the order's active items. It stays
``waiting`` until the OMS reports every item of the plan in one of the configured codes through
``order_item_bulk_update`` (``cancel_item_codes`` / ``refund_item_codes``, default 100 and 600/100),
then it is ``completed`` (:func:`complete_plans`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from sqlalchemy import and_, exists, select
from sqlalchemy.orm import Session

from oms_bridge.oms.config import OmsConfig
from oms_bridge.oms.items import NOT_HELD, ensure_items
from oms_bridge.store.models import Order, utcnow
from oms_bridge.store.models.oms import OmsCancellationPlan, OmsOrderItem

__all__ = ["PLAN_TYPES", "sync_plans", "complete_plans", "plan_item_ids"]

# canonical order status -> plan type
PLAN_TYPES = {"cancelled": "cancel", "returned": "refund"}


def plan_item_ids(plan: OmsCancellationPlan) -> list[int]:
    return [int(i) for i in json.loads(plan.items_json or "[]")]


def sync_plans(session: Session, limit: int = 1000) -> int:
    """Create the missing plans (see module doc); returns how many were created."""
    created = 0
    for status, plan_type in PLAN_TYPES.items():
        orders = session.scalars(
            select(Order).where(Order.status == status, NOT_HELD)
            .where(~exists().where(and_(OmsCancellationPlan.oms_order_id == Order.id,
                                        OmsCancellationPlan.plan_type == plan_type)))
            .order_by(Order.id).limit(limit)
        ).all()
        for order in orders:
            items = ensure_items(session, order)
            session.add(OmsCancellationPlan(oms_order_id=order.id, plan_type=plan_type, status="waiting",
                                            items_json=json.dumps([i.id for i in items]),
                                            ad_client_id=order.ad_client_id, ad_org_id=order.ad_org_id))
            created += 1
    session.flush()
    return created


def complete_plans(session: Session, order_ids: Iterable[int], config: OmsConfig) -> list[int]:
    """Mark waiting plans of these orders completed when all their items carry a final code."""
    done: list[int] = []
    plans = session.scalars(select(OmsCancellationPlan).where(
        OmsCancellationPlan.oms_order_id.in_(list(order_ids)), OmsCancellationPlan.status == "waiting")).all()
    for plan in plans:
        codes = config.cancel_item_codes if plan.plan_type == "cancel" else config.refund_item_codes
        ids = plan_item_ids(plan)
        statuses = session.scalars(select(OmsOrderItem.status).where(OmsOrderItem.id.in_(ids))).all()
        if ids and len(statuses) == len(ids) and all(s in codes for s in statuses):
            plan.status = "completed"
            plan.completed_at = utcnow()
            done.append(plan.id)
    return done
