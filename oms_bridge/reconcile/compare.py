"""The comparison itself, pure: what the marketplace lists, what the store holds, what the ERP has and
what the OMS took, per Asia/Taipei day, with every difference named by order number and reason.

No I/O here: :mod:`oms_bridge.reconcile.run` gathers the inputs (the adapter's list-only pass, the
store's orders with their delivery rows, the ERP's C_Orders found by POReference) and hands them over.

Which day an order belongs to: the Taipei calendar day of its creation (the update time when the
creation time is unknown), for the marketplace's listing and the store alike. A listing that shows no
time (Shopee) takes the store's creation time; an order the store lacks then counts on the day of the
listing window that showed it (``Inputs.located``: the day of its last change).

Reasons (``where`` says which side lacks the order):

=============  ===============================================================================================
missing        not there and nothing explains it (beyond the expected lag): the case the alert is about
dead           the delivery gave up after its attempts (counted with missing)
held           held with a reason the admin must act on (the hold reason is given)
waiting        not due for that destination yet, nobody has to act (e.g. unpaid: it goes once paid)
not_yet_due    inside the expected lag: the marketplace changed it after GetOrder's last window, or its
               delivery was armed less than ``reconcile_lag_minutes`` ago
cancelled      cancelled on the marketplace before it reached the ERP: correctly absent
not_listed     in the store but no longer listed by the marketplace for that time (deleted there, or moved)
=============  ===============================================================================================
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from platforms.base import OrderRef

__all__ = ["TAIPEI", "StoredOrder", "DeliveryState", "Difference", "DayRow", "Report", "compare", "day_of",
           "UNEXPLAINED", "REASONS"]

TAIPEI = ZoneInfo("Asia/Taipei")
REASONS = ("missing", "dead", "held", "waiting", "not_yet_due", "cancelled", "not_listed")
#: reasons no admin action or lag explains: they make a reconciliation "missing" and raise the alert
UNEXPLAINED = ("missing", "dead")
ERP_PRESENT_CANCELLED = ("VO", "CL", "RE")


def local(when: datetime) -> str:
    """A time as the admins read it: ``2026-03-15 12:00 (Asia/Taipei)``."""
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(TAIPEI).strftime("%Y-%m-%d %H:%M") + " (Asia/Taipei)"


def day_of(when: datetime | None) -> date | None:
    """The Asia/Taipei calendar day of an aware time."""
    if when is None:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.astimezone(TAIPEI).date()


@dataclass(frozen=True)
class DeliveryState:
    """One delivery row of a stored order, as reconciliation needs it."""

    state: str
    hold_code: str | None = None
    last_error: str | None = None
    armed_at: datetime | None = None
    erp_record_id: int | None = None
    external_ref: str | None = None


@dataclass(frozen=True)
class StoredOrder:
    """One stored order: its number, times, status, intake hold and delivery rows."""

    external_id: str
    reference: str
    created: datetime | None
    updated: datetime | None
    status: str | None
    is_held: bool = False
    held_reason: str | None = None
    deliveries: dict[str, DeliveryState] = field(default_factory=dict)

    @property
    def day(self) -> date | None:
        return day_of(self.created or self.updated)


@dataclass(frozen=True)
class Difference:
    day: date
    order: str
    where: str
    reason: str
    detail: str

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "order": self.order, "where": self.where, "reason": self.reason,
                "detail": self.detail}


@dataclass
class DayRow:
    """The counts of one day (None: that side was not compared)."""

    day: date
    listed: int | None = 0
    stored: int = 0
    in_erp: int | None = 0
    oms_taken: int | None = 0
    reasons: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "listed": self.listed, "stored": self.stored, "in_erp": self.in_erp,
                "oms_taken": self.oms_taken, "reasons": dict(sorted(self.reasons.items()))}


@dataclass
class Report:
    """The whole comparison of one channel over a range of days."""

    channel: str
    first_day: date
    last_day: date
    days: list[DayRow]
    differences: list[Difference]
    notes: list[str] = field(default_factory=list)
    listed: int | None = None
    stored: int = 0
    in_erp: int | None = None
    oms_taken: int | None = None
    api_calls_marketplace: int = 0
    api_calls_erp: int = 0

    @property
    def missing(self) -> int:
        return sum(1 for d in self.differences if d.reason in UNEXPLAINED)

    @property
    def outcome(self) -> str:
        """``match`` (no difference), ``differences`` (all explained) or ``missing``."""
        if self.missing:
            return "missing"
        return "differences" if self.differences else "match"

    def as_dict(self, *, limit: int | None = None) -> dict[str, Any]:
        diffs = self.differences if limit is None else self.differences[:limit]
        return {"channel": self.channel, "first_day": self.first_day.isoformat(), "last_day": self.last_day.isoformat(),
                "outcome": self.outcome, "listed": self.listed, "stored": self.stored, "in_erp": self.in_erp,
                "oms_taken": self.oms_taken, "missing": self.missing, "differences_total": len(self.differences),
                "api_calls": {"marketplace": self.api_calls_marketplace, "erp": self.api_calls_erp},
                "notes": self.notes, "days": [d.as_dict() for d in self.days],
                "differences": [d.as_dict() for d in diffs]}


@dataclass(frozen=True)
class Inputs:
    """Everything :func:`compare` needs; ``listed``/``erp_rows`` None when that side was not asked."""

    channel: str
    first_day: date
    last_day: date
    now: datetime
    lag_cutoff: datetime
    stored: list[StoredOrder]
    listed: list[OrderRef] | None
    erp_rows: dict[str, list[dict[str, str]]] | None
    erp_source: int | None
    destinations: tuple[str, ...]
    #: where the listing placed orders whose listing shows no time (Shopee lists numbers only) and that the store
    #: lacks: order number -> the window ``[from, to)`` of the listing call that showed it (see run._locate)
    located: dict[str, tuple[datetime, datetime]] = field(default_factory=dict)


def _in_range(day: date | None, first: date, last: date) -> bool:
    return day is not None and first <= day <= last


def _ref_time(ref: OrderRef) -> datetime | None:
    return ref.updated_at or ref.created_at


def _ref_day(ref: OrderRef, located: tuple[datetime, datetime] | None) -> date | None:
    """A listed order's Taipei day: its creation (or update) time; for a listing that shows no time (run.py
    gives it the store's creation time when the store has the order), the day its listing window starts: the
    day of its last change, the closest a time-less listing can tell without a detail call."""
    if ref.created_at or ref.updated_at:
        return day_of(ref.created_at or ref.updated_at)
    return day_of(located[0]) if located else None


def _store_lacks(ref: OrderRef, inputs: Inputs) -> tuple[str, str]:
    """Why the store lacks a listed order: changed inside the expected lag, or missing."""
    when = _ref_time(ref)
    if when is not None and when >= inputs.lag_cutoff:
        return "not_yet_due", f"changed on the marketplace at {local(when)}, after GetOrder's last window"
    window = inputs.located.get(ref.external_id)
    if when is None and window is not None and window[0] >= inputs.lag_cutoff:
        return "not_yet_due", (f"changed on the marketplace after {local(window[0])} (the listing shows no time), "
                               "after GetOrder's last window")
    return "missing", "listed by the marketplace but not in the bridge's store"


def _delivery_reason(row: DeliveryState | None, lag_cutoff: datetime, what: str) -> tuple[str, str]:
    """Why an order is not at a destination, from its delivery row."""
    if row is None:
        return "missing", f"no {what} delivery row"
    if row.state == "held":
        return "held", f"held ({row.hold_code or 'no code'}): {row.last_error or 'no reason recorded'}"
    if row.state == "waiting":
        return "waiting", row.last_error or "waiting"
    if row.state == "dead":
        return "dead", f"gave up: {row.last_error or 'no error recorded'}"
    armed = row.armed_at
    if row.state in ("pending", "retry"):
        if armed is not None and armed >= lag_cutoff:
            return "not_yet_due", f"queued for the {what} since {local(armed)} (inside the lag)"
        since = f" since {local(armed)}" if armed else ""
        error = f"; last error: {row.last_error}" if row.last_error else ""
        return "missing", f"still queued for the {what}{since}{error}"
    return "missing", f"recorded as {row.state} but not there"


def _erp_difference(order: StoredOrder, inputs: Inputs) -> tuple[str, str] | None:
    """None when the ERP has the order (or correctly does not), else (reason, detail)."""
    rows = [r for r in (inputs.erp_rows or {}).get(order.reference, [])
            if not inputs.erp_source or r.get("C_OrderSource_ID") in (None, "", str(inputs.erp_source))]
    if rows:
        return None
    row = order.deliveries.get("erp")
    if order.is_held:
        return "held", f"held at intake: {order.held_reason or 'no reason recorded'}"
    if row is not None and row.state == "sent":
        if row.erp_record_id is None and (order.status == "cancelled" or (row.external_ref or "").startswith("cancel")):
            return "cancelled", "cancelled on the marketplace before it reached the ERP"
        return "missing", (f"recorded as sent (C_Order_ID {row.erp_record_id}) but the ERP has no order with "
                           f"POReference {order.reference} (send it again: oms-bridge erp retry --order "
                           f"{order.external_id} --sent)")
    return _delivery_reason(row, inputs.lag_cutoff, "ERP")


def _oms_difference(order: StoredOrder, inputs: Inputs) -> tuple[str, str] | None:
    row = order.deliveries.get("oms")
    if row is not None and row.state == "sent":
        return None
    if order.is_held:
        return "held", f"held at intake (not served to the OMS): {order.held_reason or 'no reason recorded'}"
    reason, detail = _delivery_reason(row, inputs.lag_cutoff, "OMS")
    if reason == "missing" and row is not None and row.state in ("pending", "retry"):
        detail = detail.replace("still queued for the OMS", "the OMS has not read it")
    return reason, detail


def compare(inputs: Inputs) -> Report:
    """The report (see module doc)."""
    first, last = inputs.first_day, inputs.last_day
    stored = {o.external_id: o for o in inputs.stored}
    listed = None
    if inputs.listed is not None:
        listed = {}
        for ref in inputs.listed:
            day = _ref_day(ref, inputs.located.get(ref.external_id))
            if _in_range(day, first, last):
                listed.setdefault(ref.external_id, (day, ref))
    days: dict[date, DayRow] = {}
    differences: list[Difference] = []

    def row_of(day: date) -> DayRow:
        if day not in days:
            days[day] = DayRow(day, listed=0 if listed is not None else None,
                               in_erp=0 if inputs.erp_rows is not None else None,
                               oms_taken=0 if "oms" in inputs.destinations else None)
        return days[day]

    def note(day: date, order: str, where: str, reason: str, detail: str) -> None:
        differences.append(Difference(day, order, where, reason, detail))
        reasons = row_of(day).reasons
        reasons[reason] = reasons.get(reason, 0) + 1

    for number, (day, ref) in sorted((listed or {}).items()):
        row_of(day).listed += 1
        if number not in stored:
            note(day, number, "store", *_store_lacks(ref, inputs))
    for order in sorted(stored.values(), key=lambda o: o.external_id):
        day = order.day
        if not _in_range(day, first, last):
            continue
        row = row_of(day)
        row.stored += 1
        if listed is not None and order.external_id not in listed:
            note(day, order.external_id, "marketplace", "not_listed",
                 "in the store but not listed by the marketplace for this time")
        if inputs.erp_rows is not None and "erp" in inputs.destinations:
            found = _erp_difference(order, inputs)
            if found is None or found[0] == "cancelled":
                row.in_erp += 1 if found is None else 0
            if found is not None:
                note(day, order.external_id, "erp", *found)
        if "oms" in inputs.destinations:
            found = _oms_difference(order, inputs)
            if found is None:
                row.oms_taken += 1
            else:
                note(day, order.external_id, "oms", *found)
    for day in _each_day(first, last):
        row_of(day)
    report = Report(inputs.channel, first, last, [days[d] for d in sorted(days)], differences)
    report.listed = None if listed is None else sum(r.listed or 0 for r in report.days)
    report.stored = sum(r.stored for r in report.days)
    report.in_erp = None if inputs.erp_rows is None else sum(r.in_erp or 0 for r in report.days)
    report.oms_taken = None if "oms" not in inputs.destinations else sum(r.oms_taken or 0 for r in report.days)
    return report


def _each_day(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day = date.fromordinal(day.toordinal() + 1)
