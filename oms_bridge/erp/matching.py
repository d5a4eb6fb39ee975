"""Which C_Order the pre-check found is *this* store order's (PURE: no network, no database).

After a lost answer or a crash the delivery looks the orders of a batch up in the ERP before creating
anything (``oms_bridge.erp.delivery``). A wrong answer here either creates a second C_Order (nothing
matched although the ERP has it) or links a store order to another order's C_Order (a later
cancellation would void the wrong one). The rules, strongest first:

1. the C_Order whose id the row already recorded (a re-armed or cancelled order) is its own;
2. a C_Order with the order's own reference (:mod:`oms_bridge.erp.reference`, unique per channel and
   order) that no other store order has recorded; when several exist (duplicates made before this
   scheme), the one this order recorded, else a completed one, else the oldest;
3. a C_Order written by a bridge before per-channel references (POReference = the bare order number, as
   the ERP cut it) is taken only when nothing can contradict it: no other store order recorded it, its
   order source is the channel's, its Description starts with the full order number, it is the only such
   candidate, and no other store order still waiting for the ERP has the same old-style reference
   (``rivals``). Otherwise the order is held as *ambiguous* with the candidates named, for the admin to
   decide, rather than guessed.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["Found", "find_own"]

Row = Mapping[str, str]
_DONE = ("CO", "CL")


@dataclass(frozen=True)
class Found:
    """The store order's C_Order (``row``), nothing (both empty), or ``ambiguous`` old-style candidates."""

    row: Row | None = None
    ambiguous: tuple[Row, ...] = field(default_factory=tuple)


def _id(row: Row) -> int:
    return int(row.get("C_Order_ID") or 0)


def find_own(rows: Sequence[Row], *, order_id: int, external_id: str, reference: str, legacy: str | None,
             record_id: int | None, ordersource_id: int | None, owners: Mapping[int, int],
             rivals: int = 0) -> Found:
    """Apply the rules of the module doc to the pre-check's ``rows``.

    ``owners`` maps C_Order_ID → the store order (``oms_order`` id) that recorded it; ``rivals`` counts
    other store orders, not yet recorded in the ERP, whose old-style reference equals ``legacy``.
    """
    if record_id:
        for row in rows:
            if _id(row) == record_id:
                return Found(row)

    def free(row: Row) -> bool:
        return owners.get(_id(row)) in (None, order_id)

    own = [r for r in rows if r.get("POReference") == reference and _id(r) and free(r)]
    if own:
        return Found(min(own, key=lambda r: (owners.get(_id(r)) != order_id, r.get("DocStatus") not in _DONE,
                                             _id(r))))
    if not legacy or legacy == reference:
        return Found()
    candidates = tuple(
        r for r in rows
        if r.get("POReference") == legacy and _id(r) and free(r)
        and (not ordersource_id or r.get("C_OrderSource_ID") in (None, "", str(ordersource_id)))
        and (r.get("Description") is None or (r.get("Description") or "").startswith(external_id + " ")))
    if not candidates:
        return Found()
    if len(candidates) == 1 and rivals == 0:
        return Found(candidates[0])
    return Found(ambiguous=candidates)
