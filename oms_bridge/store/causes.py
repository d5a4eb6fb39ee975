"""Why a delivery is held, retrying or dead, as a key that groups: ``cause_code`` + ``cause_subject`` (PURE).

The sentence an admin reads (``Delivery.last_error``) names the order, so no two rows share it and nothing can
be counted by it. The *hold code* (``missing_sku:<SKU>``, ``price_list:<SKU>@<channel>``, see
:mod:`oms_bridge.erp.holds`) names what cures a row, for the fix that re-arms it. The *cause* is the hold code
reduced to what an operator groups by: a stable family (``sku_unmapped``) and the one thing it is about
(``SAUCE-CHILI``, a channel, a service type); never an order number or personal data.

This module is the one place that turns hold codes into causes (:func:`cause_of_hold`) and causes into the
words the web pages, the CLI and the alerts show (:func:`cause_label`). :mod:`oms_bridge.store.outbox`
records the cause with every outcome; :func:`backfill` derives it for rows written before causes were
stored (``unknown`` when nothing can be derived).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from oms_bridge.store.models import Delivery

__all__ = ["Cause", "cause_of_hold", "cause_label", "backfill", "CAUSE_LABELS", "GAVE_UP", "FAILED", "UNKNOWN",
           "UNREADABLE", "DEFERRED", "SKU_CAUSES", "MAPPABLE"]

GAVE_UP = "gave_up"
FAILED = "delivery_failed"
UNKNOWN = "unknown"
UNREADABLE = "order_unreadable"
DEFERRED = "deferred"

#: cause code → the phrase an operator reads; ``{s}`` is the cause subject (left out when there is none).
CAUSE_LABELS: dict[str, tuple[str, str]] = {
    # code: (label with a subject, label without one)
    "sku_unmapped": ("SKU {s} has no ERP product", "a SKU has no ERP product"),
    "sku_unpriced": ("SKU {s} has no usable price on the price list", "a SKU has no usable price"),
    "line_without_sku": ("an order line has no SKU", "an order line has no SKU"),
    "channel_config": ("channel {s}: the ERP mapping names a record iDempiere does not have",
                       "a channel's ERP mapping names a record iDempiere does not have"),
    "erp_webservice": ("ERP web service type {s} is not set up", "an ERP web service type is not set up"),
    "erp_docaction": ("iDempiere could not complete the order (channel {s})", "iDempiere could not complete the order"),
    "erp_rejected": ("the ERP rejected the order", "the ERP rejected the order"),
    "erp_ambiguous": ("an earlier bridge's ERP order could belong to several orders",
                      "an earlier bridge's ERP order could belong to several orders"),
    "erp_login": ("ERP connection {s}: login refused", "the ERP login was refused"),
    "erp_settings": ("ERP connection {s}: its settings do not fit the order", "an ERP connection's settings"),
    "no_erp_connection": ("no ERP connection for the channel", "no ERP connection for the channel"),
    "oms_product_unmapped": ("SKU {s} has no Omnitron product id", "a SKU has no Omnitron product id"),
    "oms_push_config": ("the OMS push URL is not set", "the OMS push URL is not set"),
    "oms_push_auth": ("the OMS refused the push login", "the OMS refused the push login"),
    "oms_push_rejected": ("the OMS rejected the order (HTTP {s})", "the OMS rejected the order"),
    "carrier_unmapped": ("carrier {s} has no OMS carrier mapping", "a carrier has no mapping"),
    UNREADABLE: ("the order could not be read at intake", "the order could not be read at intake"),
    "cancel_request": ("an open cancellation request", "an open cancellation request"),
    "awaiting_status": ("waiting for order status {s}", "waiting for the order status"),
    DEFERRED: ("deferred: {s}", "deferred until another system answers"),
    FAILED: ("delivery failed: {s}", "delivery failed (retrying)"),
    GAVE_UP: ("gave up after every attempt: {s}", "gave up after every attempt"),
    UNKNOWN: ("unknown cause (recorded before causes were kept)", "unknown cause (recorded before causes were kept)"),
}
#: Causes whose subject is a marketplace SKU (the held page offers "Map" for the ERP ones).
SKU_CAUSES = ("sku_unmapped", "sku_unpriced", "oms_product_unmapped")
#: Causes a SKU → ERP product mapping cures.
MAPPABLE = ("sku_unmapped",)

# hold-code prefix → cause code; the part after the prefix is the subject unless noted in _subject.
_PREFIXES = (
    ("missing_sku:", "sku_unmapped"), ("price_list:", "sku_unpriced"), ("no_sku:", "line_without_sku"),
    ("config:", "channel_config"), ("erp_config:", "erp_webservice"), ("erp_docaction@", "erp_docaction"),
    ("erp_login:", "erp_login"), ("erp_settings:", "erp_settings"), ("omnitron_product:", "oms_product_unmapped"),
    ("oms_push_rejected:", "oms_push_rejected"), ("carrier:", "carrier_unmapped"), ("awaiting:", "awaiting_status"),
)
_EXACT = {"erp_rejected": "erp_rejected", "erp_ambiguous": "erp_ambiguous", "no_erp_connection": "no_erp_connection",
          "oms_push_config": "oms_push_config", "oms_push_auth": "oms_push_auth", "order_held": UNREADABLE,
          "cancel_request": "cancel_request"}


@dataclass(frozen=True)
class Cause:
    """A groupable cause: ``code`` (a key of :data:`CAUSE_LABELS`, or a hold code's family) and its subject."""

    code: str
    subject: str | None = None

    @property
    def label(self) -> str:
        return cause_label(self.code, self.subject)


def _subject(cause: str, rest: str) -> str | None:
    if cause == "sku_unpriced":  # price_list:<SKU>@<channel>
        rest = rest.rpartition("@")[0] if "@" in rest else rest
    elif cause == "erp_webservice":  # erp_config:<kind>:<service type>
        rest = rest.partition(":")[2] or rest
    elif cause == "line_without_sku":  # no_sku:<order number>: an order number is no group
        return None
    return rest[:255] or None


def cause_of_hold(code: str | None) -> Cause:
    """The cause a hold code stands for (``missing_sku:ABC`` → ``sku_unmapped`` / ``ABC``); ``unknown`` for none."""
    if not code:
        return Cause(UNKNOWN)
    if code in _EXACT:
        return Cause(_EXACT[code])
    for prefix, cause in _PREFIXES:
        if code.startswith(prefix):
            return Cause(cause, _subject(cause, code[len(prefix):]))
    family, _sep, rest = code.partition(":")
    return Cause(family[:40] or UNKNOWN, rest[:255] or None)


def cause_label(code: str | None, subject: str | None = None) -> str:
    """The words for a cause (``SKU SAUCE-CHILI has no ERP product``); an unlisted code reads as itself."""
    code = code or UNKNOWN
    with_subject, without = CAUSE_LABELS.get(code, (f"{code}: {{s}}", code))
    return with_subject.format(s=subject) if subject else without


def backfill(session: Session) -> int:
    """Give rows kept before causes were stored their cause (from the hold code; dead: ``gave_up``; else
    ``unknown``). Safe to repeat: only rows without a cause are touched. Returns how many were set."""
    done = 0
    rows = session.execute(select(Delivery.id, Delivery.state, Delivery.hold_code).where(
        Delivery.cause_code.is_(None), Delivery.state.in_(("held", "dead", "retry", "waiting")))).all()
    for row_id, state, code in rows:
        cause = Cause(GAVE_UP) if state == "dead" else Cause(FAILED) if state == "retry" and not code \
            else cause_of_hold(code)
        session.execute(update(Delivery).where(Delivery.id == row_id)
                        .values(cause_code=cause.code, cause_subject=cause.subject))
        done += 1
    return done
