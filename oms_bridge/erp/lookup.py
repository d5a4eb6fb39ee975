"""Finding marketplace orders in the ERP: the delivery's exactly-once pre-check and reconciliation ask the
same question the same way.

:func:`erp_orders` sends ``queryData`` on ``C_Order`` (the ``query_order`` service type) for these
POReferences (:func:`oms_bridge.erp.mapping.reference_of`: per channel, so two shops' equal order numbers
never meet) or these ``C_Order_ID`` (orders already recorded), one call per ``batch_size`` keys. Which row
belongs to which store order is :mod:`oms_bridge.erp.matching`'s business.
"""

from __future__ import annotations

from collections.abc import Iterable

from oms_bridge.erp.client import ErpClient
from oms_bridge.erp.config import REQUIRED_OUTPUTS, ErpOptions
from oms_bridge.erp.mapping import precheck_filter

__all__ = ["erp_orders"]


def erp_orders(client: ErpClient, options: ErpOptions, orders: Iterable[tuple[Iterable[str], int | None]], *,
               batch_size: int | None = None) -> list[dict[str, str]]:
    """C_Order rows of these orders, each given as (its POReferences, the C_Order_ID recorded for it or None):
    one queryData per ``batch_size`` orders (None: one for all)."""
    wanted = [(tuple(refs), record_id) for refs, record_id in orders]
    rows: list[dict[str, str]] = []
    size = batch_size or len(wanted) or 1
    for start in range(0, len(wanted), size):
        chunk = wanted[start:start + size]
        rows.extend(client.query(options.service_types["query_order"], "C_Order",
                                 filter=precheck_filter([r for refs, _ in chunk for r in refs if r],
                                                        [i for _, i in chunk if i]),
                                 require=REQUIRED_OUTPUTS["query_order"]))
    return rows
