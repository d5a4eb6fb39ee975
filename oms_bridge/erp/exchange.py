"""An ERP call as the admin reads it on the held page: the request and the answer of an order's last attempt (PURE).

The composite operation carries the buyer's name, phone and address (partner, location, the order's
Description "ship to ..."). Those must never be stored outside the order itself, so the request is kept as
one line per operation with only the columns that say *what* was sent (product, quantity, price, the
channel's ERP ids, POReference); every other column shows as ``***``. The answer is the ERP's text per
operation (its error text names records and columns, not the buyer).
"""

from __future__ import annotations

from collections.abc import Sequence

from oms_bridge.erp.client import CrudOp, DocActionOp, Operation, StdResult

__all__ = ["request_text", "answer_text", "SHOWN_COLUMNS"]

#: Columns whose values are shown (no personal data in them); any other column's value is masked.
SHOWN_COLUMNS = frozenset({
    "M_Product_ID", "QtyEntered", "QtyOrdered", "PriceEntered", "PriceActual", "C_Charge_ID", "C_BPartner_ID",
    "C_BPartner_Location_ID", "M_PriceList_ID", "C_DocTypeTarget_ID", "M_Warehouse_ID", "C_OrderSource_ID",
    "AD_Org_ID", "POReference", "DateOrdered", "DatePromised", "PaymentRule", "IsSOTrx", "C_Order_ID",
    "C_Location_ID", "C_Country_ID", "IsCustomer", "IsShipTo", "IsBillTo", "C_Currency_ID",
})
MASK = "***"


def _operation(op: Operation) -> str:
    if isinstance(op, DocActionOp):
        target = op.record_id_variable or str(op.record_id)
        return f"setDocAction {op.table} {target} DocAction={op.doc_action} [{op.role}]"
    assert isinstance(op, CrudOp)
    fields = " ".join(f"{f.column}={(f.lval or f.val) if f.column in SHOWN_COLUMNS else MASK}" for f in op.fields)
    head = f"{op.target_port} {op.table}" + (f" {op.record_id}" if op.record_id else "") + f" [{op.role}]"
    return f"{head} {fields}".rstrip()


def request_text(service_type: str, group: Sequence[Operation]) -> str:
    """One line per operation of an order's group, personal columns masked."""
    return "\n".join([f"compositeOperation {service_type}", *(f"  {_operation(op)}" for op in group)])


def answer_text(group: Sequence[Operation], results: Sequence[StdResult]) -> str:
    """The ERP's answer per operation: the record it wrote, or its error text (the group stops at the first)."""
    lines = []
    for index, result in enumerate(results):
        role = getattr(group[index], "role", "") if index < len(group) else ""
        if result.is_error:
            lines.append(f"[{role}] error: {result.error or 'unknown error'}"
                         + (" (rolled back)" if result.is_rolled_back else ""))
        else:
            outputs = " ".join(f"{k}={v}" for k, v in sorted(result.outputs.items()))
            lines.append(f"[{role}] ok RecordID={result.record_id}" + (f" {outputs}" if outputs else ""))
    if len(results) < len(group):
        lines.append(f"({len(group) - len(results)} operation(s) not run)")
    return "\n".join(lines)
