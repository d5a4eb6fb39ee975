"""Admin pages for the flow of orders: orders (search, filters, paging: :mod:`oms_bridge.store.order_search`) and
an order's detail with its deliveries and Retry. Process runs: :mod:`oms_bridge.web.admin_runs`. Held deliveries
and SKU mappings: :mod:`oms_bridge.web.admin_held`. Buyer data is shown to the logged-in admin only and never logged."""

from __future__ import annotations

import json
import logging
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select
from starlette.datastructures import FormData

from oms_bridge.configure.lookups import list_channels
from oms_bridge.store import cancel_requests, outbox
from oms_bridge.store.causes import cause_label
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import DELIVERY_STATES, DESTINATIONS, Channel, Order
from oms_bridge.store.order_search import NO_DELIVERY, SEARCH_FIELDS, OrderQuery, search_orders
from oms_bridge.store.orders import OrderNotFound, order_detail
from oms_bridge.web import display, pages
from oms_bridge.web.security import SessionInfo

__all__ = ["router"]

class SearchTextFilter(logging.Filter):
    """The orders search text (``?q=``: a buyer's name, phone or e-mail) never reaches the access log."""

    _Q = re.compile(r"([?&]q=)[^&\s]*")

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(self._Q.sub(r"\1****", a) if isinstance(a, str) and "q=" in a else a
                                for a in record.args)
        return True


if not any(isinstance(f, SearchTextFilter) for f in logging.getLogger("uvicorn.access").filters):
    logging.getLogger("uvicorn.access").addFilter(SearchTextFilter())

#: The delivery states an admin retry re-arms.
RETRYABLE = ("held", "dead", "retry", "resolved")

router = APIRouter()


ORDER_STATUSES = ("unpaid", "paid", "ready_to_ship", "shipped", "delivered", "completed", "cancelled", "returned")
PAGE_SIZE = 50


def _day(text: str, *, end: bool = False) -> datetime | None:
    """A ``YYYY-MM-DD`` in the admins' time zone → the aware UTC start of that day (of the next one for ``end``)."""
    if not text:
        return None
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=display.display_zone())
    except ValueError:
        return None
    return (day + timedelta(days=1) if end else day).astimezone(UTC)


@router.get("/orders")
def orders_page(request: Request, q: str = "", field: str = "any", channel: str = "", status: str = "",
                erp: str = "", oms: str = "", held: str = "", created_from: str = Query("", alias="from"),
                created_to: str = Query("", alias="to"), page: int = 1,
                admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    """Orders newest first: search (number from its start, buyer, exact SKU), filters, total and pages."""
    page = max(1, min(page, 100_000))
    query = OrderQuery(text=q[:120], field=field if field in SEARCH_FIELDS else "any", channel=channel,
                       status=status, erp_state=erp, oms_state=oms, unreadable={"Y": True, "N": False}.get(held),
                       created_from=_day(created_from), created_to=_day(created_to, end=True))
    with session_scope(pages.settings(), readonly=True) as session:
        total, rows = search_orders(session, query, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE)
        requested = cancel_requests.open_requests(session, [r["id"] for r in rows])
        channels = [c.value for c in list_channels(session)]
    for row in rows:
        row["cancel_request"] = row["id"] in requested
        row["erp_label"] = cause_label(row["erp_cause"], row["erp_subject"]) if row["erp_cause"] else ""
    filters = {"q": q, "field": query.field, "channel": channel, "status": status, "erp": erp, "oms": oms,
               "held": held, "from": created_from, "to": created_to}
    link = {k: v for k, v in filters.items() if v and not (k == "field" and v == "any")}
    pages_total = max(1, (total + PAGE_SIZE - 1) // PAGE_SIZE)
    return pages.render(request, "orders.html", admin=admin, orders=rows, total=total, page=page,
                        pages_total=pages_total, channels=channels, filters=filters, statuses=ORDER_STATUSES,
                        delivery_states=(*DELIVERY_STATES, NO_DELIVERY), fields=SEARCH_FIELDS,
                        prev_link=f"/admin/orders?{urlencode({**link, 'page': page - 1})}" if page > 1 else None,
                        next_link=f"/admin/orders?{urlencode({**link, 'page': page + 1})}" if page < pages_total
                        else None)


@router.get("/orders/{channel}/{number}")
def order_page(channel: str, number: str, request: Request,
               admin: SessionInfo = Depends(pages.current_admin)) -> HTMLResponse:
    try:
        with session_scope(pages.settings(), readonly=True) as session:
            detail = order_detail(session, number, channel=channel)
            raw = session.scalar(select(Order.raw_payload).join(Channel, Channel.id == Order.oms_channel_id)
                                 .where(Channel.value == channel, Order.external_id == number))
    except OrderNotFound as exc:
        return pages.render(request, "message.html", status_code=404, admin=admin, title="Order", error=str(exc))
    try:
        raw_pretty = json.dumps(json.loads(raw), indent=2, ensure_ascii=False) if raw else ""
    except ValueError:
        raw_pretty = raw
    for d in detail["deliveries"]:
        d["label"] = cause_label(d["cause"], d["subject"]) if d["cause"] and d["state"] != "sent" else ""
    return pages.render(request, "order.html", admin=admin, order=detail, raw_payload=raw_pretty,
                        retryable=RETRYABLE)


@router.post("/orders/{channel}/{number}/retry")
def retry_order(channel: str, number: str, request: Request, admin: SessionInfo = Depends(pages.current_admin),
                form: FormData = Depends(pages.csrf_form)) -> Response:
    """Queue one order's delivery to one destination again (held, dead or retrying; never a leased one)."""
    destination = pages.text(form, "destination")
    here = f"/admin/orders/{quote(channel, safe='')}/{quote(number, safe='')}"
    if destination not in DESTINATIONS:
        return pages.back(here, err="choose a destination to retry")
    with session_scope(pages.settings()) as session:
        order_id = session.scalar(select(Order.id).join(Channel, Channel.id == Order.oms_channel_id)
                                  .where(Channel.value == channel, Order.external_id == number))
        if order_id is None:
            return pages.back("/admin/orders", err=f"no order {number} in channel {channel}")
        count = outbox.rearm(session, destination, order_ids=[order_id], states=RETRYABLE)
        in_flight = outbox.count_leased(session, destination, order_ids=[order_id])
    if count:
        return pages.back(here, msg=f"order {number} queued again for {destination}")
    if in_flight:
        return pages.back(here, err=f"order {number} is being sent to {destination} right now; it was left to that "
                                    "delivery")
    return pages.back(here, err=f"order {number} has nothing to retry for {destination}")

