"""Finding marketplace orders in the ERP by POReference: the delivery's exactly-once pre-check and
reconciliation ask the same question the same way.

:func:`orders_by_reference` sends one ``queryData`` (``POReference IN (...)``, the ``query_order``
service type) per batch of references and groups the C_Order rows it gets by POReference.
:func:`source_matches` says whether a row may belong to a channel: marketplace order numbers are only
unique per shop (Cyberbiz #1101 exists in every shop), so when a channel has an order source
(``C_OrderSource_ID``), a C_Order of another source is not its order.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from oms_bridge.erp.client import ErpClient
from oms_bridge.erp.config import ErpOptions
from oms_bridge.erp.mapping import po_filter

__all__ = ["orders_by_reference", "source_matches"]


def orders_by_reference(client: ErpClient, options: ErpOptions, references: Iterable[str], *,
                        batch_size: int | None = None) -> dict[str, list[dict[str, str]]]:
    """C_Order rows per POReference for ``references``: one queryData per ``batch_size`` (None: one for all)."""
    refs = sorted(set(references))
    found: dict[str, list[dict[str, str]]] = defaultdict(list)
    if not refs:
        return found
    size = batch_size or len(refs)
    for start in range(0, len(refs), size):
        for row in client.query(options.service_types["query_order"], "C_Order",
                                filter=po_filter(refs[start:start + size])):
            found[row.get("POReference", "")].append(row)
    return found


def source_matches(row: dict[str, str], ordersource_id: int | None) -> bool:
    """Whether an ERP order row can be the order of a channel with this order source (None: any)."""
    return not ordersource_id or row.get("C_OrderSource_ID") in (None, "", str(ordersource_id))
