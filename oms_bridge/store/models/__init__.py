"""All store models. Importing this package registers every table on ``Base.metadata``."""

from oms_bridge.store.models import (
    oms,  # noqa: F401 - registers the OMS destination tables
    oms_notify,  # noqa: F401 - product references and order events of the OMS
)
from oms_bridge.store.models.admin import AdminLoginFailure, AdminSession, AdminUser  # noqa: F401 - web admin
from oms_bridge.store.models.alert import Alert, AlertNotice, AlertTarget
from oms_bridge.store.models.backfill import Backfill  # noqa: F401 - resumable order backfills
from oms_bridge.store.models.base import ADColumns, Base, utcnow
from oms_bridge.store.models.cancel import OrderCancelRequest
from oms_bridge.store.models.channel import AUTH_STATES, Channel
from oms_bridge.store.models.delivery import DELIVERY_STATES, DESTINATIONS, Delivery
from oms_bridge.store.models.erp import ErpConnection
from oms_bridge.store.models.order import Order, OrderLine, OrderStatus
from oms_bridge.store.models.package import Package
from oms_bridge.store.models.platform import Platform
from oms_bridge.store.models.processrun import ProcessRun
from oms_bridge.store.models.reconcile import Reconciliation
from oms_bridge.store.models.skumap import SkuMap

__all__ = [
    "ADColumns", "Base", "utcnow", "AUTH_STATES", "Alert", "AlertNotice", "AlertTarget", "Channel",
    "DELIVERY_STATES", "DESTINATIONS", "Delivery", "ErpConnection", "Order", "OrderLine", "OrderStatus", "Package",
    "Platform", "ProcessRun", "Reconciliation", "SkuMap", "OrderCancelRequest",
]
