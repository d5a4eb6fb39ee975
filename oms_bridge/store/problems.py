"""Deliveries that need an operator, grouped by cause: the one query behind /admin/held, ``oms-bridge
deliveries problems`` and ``oms-bridge erp status``.

A *problem* is a delivery row that is ``held`` (waits for a fix), ``dead`` (gave up) or ``retrying``
(state ``retry`` and not leased: a row a worker holds right now is in flight, not a problem). Rows are
grouped by (destination, state, cause code, cause subject), see :mod:`oms_bridge.store.causes`, so
"SKU SAUCE-CHILI has no ERP product: 839 orders" is one line with one action.

Orders that could not be read at intake (``Order.is_held``) are no delivery problem: they have their own
label ("unreadable") and list, :func:`unreadable_orders`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from oms_bridge.store import outbox
from oms_bridge.store.causes import UNKNOWN, cause_label
from oms_bridge.store.models import Channel, Delivery, Order, utcnow

__all__ = ["PROBLEM_STATES", "ProblemFilter", "problem_groups", "problem_rows", "problem_order_ids",
           "rearm_problems", "resolve_problems", "unreadable_orders", "state_of", "RESOLVED"]

#: The states an operator is asked about, by the names the pages and the CLI use.
PROBLEM_STATES = {"held": "held", "dead": "dead", "retrying": "retry"}
RESOLVED = "resolved"


def state_of(name: str) -> str:
    """``held``/``dead``/``retrying`` (or ``retry``) → the stored state; ValueError for anything else."""
    if name in PROBLEM_STATES:
        return PROBLEM_STATES[name]
    if name == "retry":
        return name
    raise ValueError(f"state must be one of {', '.join(PROBLEM_STATES)}, got {name!r}")


@dataclass(frozen=True)
class ProblemFilter:
    """Which problems: every field narrows (empty: all). ``state`` is ``held``, ``dead`` or ``retrying``."""

    state: str = ""
    destination: str = ""
    channel: str = ""
    cause: str = ""
    subject: str | None = None  # with ``cause``: one group
    ids: Sequence[int] = ()

    def conditions(self, now: datetime | None = None) -> list[ColumnElement[bool]]:
        states = [state_of(self.state)] if self.state else list(PROBLEM_STATES.values())
        where: list[ColumnElement[bool]] = [Delivery.state.in_(states)]
        if "retry" in states:  # a leased row is being sent right now: in flight, not a problem
            where.append(or_(Delivery.state != "retry", outbox.not_leased(now)))
        if self.destination:
            where.append(Delivery.destination == self.destination)
        if self.cause:  # rows without a cause (older than causes, not yet backfilled) count as unknown
            where.append(Delivery.cause_code == self.cause if self.cause != UNKNOWN
                         else or_(Delivery.cause_code == UNKNOWN, Delivery.cause_code.is_(None)))
            if self.subject is not None:
                where.append(Delivery.cause_subject == self.subject if self.subject
                             else Delivery.cause_subject.is_(None))
        if self.ids:
            where.append(Delivery.id.in_(list(self.ids)))
        if self.channel:
            where.append(Delivery.oms_order_id.in_(
                select(Order.id).join(Channel, Channel.id == Order.oms_channel_id)
                .where(Channel.value == self.channel)))
        return where


def problem_groups(session: Session, where: ProblemFilter = ProblemFilter(), *,
                   examples: bool = False) -> list[dict[str, Any]]:
    """One dict per (destination, state, cause, subject): ``orders``, ``since`` (oldest), ``attempts`` (most),
    ``label``; the biggest group first. ``examples``: also the newest row's full text (one query per group)."""
    stmt = (select(Delivery.destination, Delivery.state, Delivery.cause_code, Delivery.cause_subject, func.count(),
                   func.min(Delivery.updated), func.max(Delivery.attempts))
            .where(*where.conditions())
            .group_by(Delivery.destination, Delivery.state, Delivery.cause_code, Delivery.cause_subject))
    merged: dict[tuple, dict[str, Any]] = {}
    for dest, state, code, subject, n, since, attempts in session.execute(stmt):
        code = code or UNKNOWN
        key = (dest, state, code, subject)
        group = merged.get(key)
        if group is None:
            merged[key] = {"destination": dest, "state": _state_name(state), "cause": code, "subject": subject,
                           "label": cause_label(code, subject), "orders": n, "since": since, "attempts": attempts}
        else:  # NULL and "unknown" are one group
            group["orders"] += n
            group["since"] = min(group["since"], since) if group["since"] and since else group["since"] or since
            group["attempts"] = max(group["attempts"] or 0, attempts or 0)
    groups = list(merged.values())
    groups.sort(key=lambda g: (-g["orders"], g["destination"], g["state"], g["cause"], g["subject"] or ""))
    for g in groups if examples else ():
        one = ProblemFilter(state=g["state"], destination=g["destination"], channel=where.channel, cause=g["cause"],
                            subject=g["subject"] or "")
        g["example"] = session.scalar(select(Delivery.last_error).where(*one.conditions())
                                      .order_by(Delivery.updated.desc(), Delivery.id.desc()).limit(1))
    return groups


def _state_name(state: str) -> str:
    return "retrying" if state == "retry" else state


def problem_rows(session: Session, where: ProblemFilter = ProblemFilter(), *, offset: int = 0,
                 limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
    """(how many match, one page of them oldest first) with the order number and channel of each row."""
    conditions = where.conditions()
    total = session.scalar(select(func.count()).select_from(Delivery).where(*conditions)) or 0
    stmt = (select(Delivery, Order.external_id, Channel.value)
            .join(Order, Order.id == Delivery.oms_order_id).join(Channel, Channel.id == Order.oms_channel_id)
            .where(*conditions).order_by(Delivery.updated, Delivery.id).offset(offset).limit(limit))
    rows = [{"id": d.id, "destination": d.destination, "state": _state_name(d.state), "cause": d.cause_code or UNKNOWN,
             "subject": d.cause_subject, "label": cause_label(d.cause_code, d.cause_subject), "reason": d.last_error,
             "attempts": d.attempts, "since": d.updated, "next_attempt": d.next_attempt_at, "order": number,
             "channel": channel, "request": d.last_request, "answer": d.last_answer}
            for d, number, channel in session.execute(stmt)]
    return total, rows


def problem_order_ids(session: Session, where: ProblemFilter) -> dict[str, list[int]]:
    """destination → the order ids of the matching rows (what a re-arm needs)."""
    found: dict[str, list[int]] = {}
    for dest, order_id in session.execute(select(Delivery.destination, Delivery.oms_order_id)
                                          .where(*where.conditions())):
        found.setdefault(dest, []).append(order_id)
    return found


def rearm_problems(session: Session, where: ProblemFilter) -> int:
    """Queue the matching rows again (never a leased one, :func:`oms_bridge.store.outbox.rearm`); how many."""
    states = tuple({state_of(where.state)} if where.state else set(PROBLEM_STATES.values()))
    done = 0
    for dest, order_ids in problem_order_ids(session, where).items():
        for start in range(0, len(order_ids), 900):  # SQLite's bound-parameter limit
            done += outbox.rearm(session, dest, order_ids=order_ids[start:start + 900], states=states)
    return done


def resolve_problems(session: Session, where: ProblemFilter, *, note: str, by: str) -> int:
    """The operator settled these outside the bridge: state ``resolved`` with the note (a newer version of the
    order arms the row again as usual). Leased rows are left alone. Returns how many."""
    text = f"resolved by {by}: {note}"[:4000]
    conditions = [*where.conditions(), outbox.not_leased()]
    result = session.execute(update(Delivery).where(*conditions)
                             .values(state=RESOLVED, last_error=text, next_attempt_at=None, updated=utcnow())
                             .execution_options(synchronize_session=False))
    return result.rowcount or 0


def unreadable_orders(session: Session, *, channel: str = "", offset: int = 0,
                      limit: int = 50) -> tuple[int, list[dict[str, Any]]]:
    """Orders that could not be read at intake (not deliveries: nothing was armed for them)."""
    where: list[ColumnElement[bool]] = [Order.is_held.is_(True)]
    if channel:
        where.append(Channel.value == channel)
    base = select(Order, Channel.value).join(Channel, Channel.id == Order.oms_channel_id).where(*where)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = [{"order": o.external_id, "channel": chan, "reason": o.held_reason, "since": o.updated}
            for o, chan in session.execute(base.order_by(Order.id).offset(offset).limit(limit))]
    return total, rows
