"""momo adapter: no OAuth, a vendor login on every call, unsent-order queries in <= 2-month windows.

docs/contracts/momo.md lists every fact this relies on, with its source. Settings (``PlatformConfig.settings``
overridden by ``ChannelConfig.settings``), each an unknown or a choice with a documented default:

- ``queries`` (all three: ``unsendCompanyQuery``, ``unsendStoresQuery``, ``unsendThirdQuery``): the unsent lists
  GetOrder reads.
- ``query_filters``: the ``sendInfo`` variants per query, one call each. momo has no "all" value for the store
  chain (``dely_gb``) nor the third-party carrier and temperature (``third_delyGb`` / ``third_delyTemp``), so
  the default asks every documented code: 6 chains (21 27 28 29 2A 2B) and 4 carriers x 3 temperatures (61 62 63
  65 x 01 02 03). A vendor that uses fewer narrows it, e.g. ``{"unsendThirdQuery": [{"third_delyGb": "62",
  "third_delyTemp": "01"}]}``. A window costs 1 + 6 + 12 list calls with the defaults, plus the stop list once.
- ``max_window_days`` (59): momo refuses windows over 2 months ("最大區間2個月"); 59 days fits in any two calendar
  months, so longer ranges are split. With no paging, one window's rows are held while they are mapped (rows of
  the same order found under several variants are merged, each ``completeOrderNo`` once).
- ``to_minute_inclusive`` (True): the query takes minutes only; ``*_to_*`` is taken as including its whole minute,
  so ``[since, until)`` is floored to minutes and sent as ``fr=floor(since)``, ``to=floor(until)-1min``: adjacent
  windows partition time exactly. ``False`` sends ``to=floor(until)``.
- ``order_key_parts`` (1), ``unsent_status`` (``ready_to_ship``), ``price_field`` (``buyPrice``): see
  :mod:`platforms.momo.mapping`.
- ``default_carrier`` (``其他宅配``): ``delyGbStr`` when a company shipment names no carrier.
- ``packaging`` (``{"shipTypeStr": "紙箱", "packTypeStr": "標準", "packUnit": "1"}``, the example values of the
  TypeScript client's tests): what the store and third-party finish calls send; momo lists the valid values at
  ``/order/shipType/getShipTypeList.scm``.
- ``stop_query`` (True): also read ``stopSendingQuery`` (攔貨 requests) on every fetch and re-read; it has no time
  window, so every run sees the whole current list and the channel's upsert makes an unchanged re-read a no-op.
- ``user_agent``: optional ``User-Agent`` header.

momo has no token: :attr:`uses_oauth` is False and :meth:`refresh` returns the tokens unchanged.

Shipping (:meth:`ship`), for every delivery type: company orders (廠商配送) with ``unsendCompanyConfirm``
(已配送, the tracking number as ``slipNo``, the carrier as ``delyGbStr``); store pickup with ``unsendStoresFinish``
and third-party logistics with ``unsendThirdFinish`` (可出貨 plus the packaging; momo prints the label and assigns
the slip number, read back from ``sendingStoresQuery`` / ``sendingThirdQuery``). Every confirm's ``resultInfo``
goes through :func:`platforms.momo.results.interpret`: ok or repeat = done; fail = refused (held with momo's
reason); undo or in no list = not done (retried; a repeat then answers what was done meanwhile).

Stop-shipping requests: :meth:`answer_cancel_request` sends ``stopSendingConfirm`` (``stopAct`` 1 確定攔貨 when
accepted, 0 來不及攔貨 when the goods already left). Read-backs without side effects: :meth:`shipment_state`
(the order left the unsent list / sits in the in-delivery list with momo's slip) and :meth:`list_orders`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from oms_bridge.remote.http import RetryPolicy
from platforms.base import (
    CANONICAL_STATUSES,
    Adapter,
    CancelAnswer,
    Order,
    OrderRef,
    PermanentError,
    PlatformError,
    Shipment,
    ShipResult,
    TokenSet,
    TransientError,
    UnmappableOrder,
)
from platforms.momo.client import QUERIES, SENDING, STORE_CHAINS, THIRD_CARRIERS, THIRD_TEMPS, MomoClient
from platforms.momo.mapping import (
    PRICE_FIELDS,
    group_rows,
    map_order,
    order_number,
    order_time,
    request_only_order,
)
from platforms.momo.results import Outcome, interpret
from platforms.settings import as_flag, lookup_setting
from platforms.windows import split_range

__all__ = ["MomoAdapter", "CARRIERS", "CARRIER_ALIASES", "split_windows", "query_bounds", "DEFAULT_FILTERS"]

log = logging.getLogger("oms_bridge.platforms.momo")

#: The ``delyGbStr`` values momo accepts for a company confirm (Momo.java).
CARRIERS = ("宅配通", "新竹貨運", "統一速達", "大榮貨運", "東元物流", "其他宅配", "郵局", "便利袋", "其他")
#: Common carrier codes -> momo's names (lower-case keys).
CARRIER_ALIASES = {
    "pelican": "宅配通", "ecan": "宅配通", "e_can": "宅配通", "hct": "新竹貨運", "tcat": "統一速達",
    "t-cat": "統一速達", "blackcat": "統一速達", "ezcat": "統一速達", "kerry": "大榮貨運", "kerrytj": "大榮貨運",
    "tonlin": "東元物流", "post": "郵局", "postserv": "郵局", "chunghwa_post": "郵局", "other": "其他",
}
SHIPPED = "已配送"
READY = "可出貨"
#: the finish call of each list whose orders momo's logistics carries
FINISH = {"unsendStoresQuery": "unsendStoresFinish", "unsendThirdQuery": "unsendThirdFinish"}
PACKAGING_FIELDS = ("shipTypeStr", "packTypeStr", "packUnit")
#: every documented code: momo has no "all" value for the store chain, the carrier and the temperature
DEFAULT_FILTERS: dict[str, list[dict[str, str]]] = {
    "unsendStoresQuery": [{"dely_gb": code} for code in STORE_CHAINS],
    "unsendThirdQuery": [{"third_delyGb": carrier, "third_delyTemp": temp}
                         for carrier in THIRD_CARRIERS for temp in THIRD_TEMPS],
}
DEFAULTS: dict[str, Any] = {
    "queries": tuple(QUERIES), "max_window_days": 59, "to_minute_inclusive": True, "order_key_parts": 1,
    "unsent_status": "ready_to_ship", "default_carrier": "其他宅配", "user_agent": None, "stop_query": True,
    "query_filters": {}, "price_field": "buyPrice",
    "packaging": {"shipTypeStr": "紙箱", "packTypeStr": "標準", "packUnit": "1"},
}

#: one row as found: (query, the filters variant that found it, the row)
Found = tuple[str, dict[str, str], dict[str, Any]]


def _floor_minute(when: datetime) -> datetime:
    return when.astimezone(UTC).replace(second=0, microsecond=0)


def split_windows(since: datetime, until: datetime, max_days: int) -> list[tuple[datetime, datetime]]:
    """``[since, until)`` as consecutive half-open windows of at most ``max_days`` days, minute-aligned."""
    return split_range(_floor_minute(since), _floor_minute(until), timedelta(days=max_days))


def _id_windows(timed: list[tuple[datetime, str]], days: int) -> list[tuple[datetime, list[str]]]:
    """Sorted (time, number) pairs grouped greedily into windows of at most ``days`` days."""
    groups: list[tuple[datetime, list[str]]] = []
    for when, number in timed:
        if groups and when - groups[-1][0] < timedelta(days=days):
            groups[-1][1].append(number)
        else:
            groups.append((when, [number]))
    return groups


def query_bounds(start: datetime, stop: datetime, *, to_inclusive: bool) -> tuple[datetime, datetime]:
    """The ``fr``/``to`` instants to send for the half-open minute window ``[start, stop)``."""
    return start, (stop - timedelta(minutes=1) if to_inclusive else stop)


class MomoAdapter(Adapter):
    """momo SCM (supplier) orders: see the module docstring for the choices made."""

    platform_type = "momo"
    display_name = "momo購物網"
    credential_fields: ClassVar[Mapping[str, str]] = {
        "entpID": "統一編號 (company tax id, 8 digits)",
        "entpCode": "廠商編號 (vendor code, 6 digits)",
        "entpPwd": "SCM password",
        "otpBackNo": "last 3 digits of the OTP token serial (may be empty)",
    }

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self._client: MomoClient | None = None

    # -- configuration ----------------------------------------------------------------------------
    def setting(self, name: str) -> Any:
        """A setting: channel overrides platform overrides the documented default."""
        return lookup_setting(name, self.channel.settings, self.platform.settings, DEFAULTS[name])

    def _window_days(self) -> int:
        """``max_window_days`` as a whole number of days from 1 to 62; anything else is a clear setting error."""
        raw = self.setting("max_window_days")
        try:
            days = int(raw)
        except (TypeError, ValueError):
            days = 0
        if not 1 <= days <= 62:
            raise PermanentError(f"momo setting max_window_days must be a whole number of days from 1 to 62, "
                                 f"got {raw!r}", platform="momo")
        return days

    @property
    def client(self) -> MomoClient:
        if self._client is None:
            self._client = MomoClient(self.platform.host, self.channel.credentials,
                                      policy=self.policy or RetryPolicy(), user_agent=self.setting("user_agent"))
        return self._client

    def call_counters(self) -> Iterable[Any]:
        return (getattr(self, "_client", None),)

    # -- auth ---------------------------------------------------------------------------------------
    @property
    def uses_oauth(self) -> bool:
        return False

    def refresh(self, tokens: TokenSet) -> TokenSet:
        """momo has no tokens: nothing to refresh, the same set comes back."""
        return tokens

    def check_credentials(self) -> str:
        """One query over the last minute: momo checks the login on every call."""
        end = _floor_minute(self.clock())
        rows = self.client.query_unsent("unsendCompanyQuery", end - timedelta(minutes=1), end)
        code = self.client.login["entpCode"]
        return f"momo login accepted for vendor {code} ({len(rows)} unsent order rows in the last minute)"

    # -- orders -------------------------------------------------------------------------------------
    def _queries(self) -> list[str]:
        configured = self.setting("queries")
        if isinstance(configured, str):  # "unsendCompanyQuery,unsendThirdQuery" typed by an admin
            configured = [q.strip() for q in configured.split(",") if q.strip()]
        queries = [str(q) for q in configured]
        unknown = [q for q in queries if q not in QUERIES]
        if unknown:
            raise PermanentError(f"unknown momo queries {unknown}; known: {', '.join(QUERIES)}", platform="momo")
        return queries

    def _variants(self, query: str) -> list[dict[str, str]]:
        """The ``sendInfo`` filter sets to send for one query (``query_filters``; default: every documented code)."""
        configured = (self.setting("query_filters") or {}).get(query) or DEFAULT_FILTERS.get(query) or [{}]
        if not isinstance(configured, list) or not all(isinstance(v, Mapping) for v in configured):
            raise PermanentError(f"momo setting query_filters[{query!r}] must be a list of objects", platform="momo")
        optional = QUERIES[query][1]
        variants = []
        for variant in configured:
            unknown = [k for k in variant if k not in optional]
            if unknown:
                raise PermanentError(f"momo setting query_filters[{query!r}] names unknown fields {unknown}; "
                                     f"known: {', '.join(optional)}", platform="momo")
            variants.append({str(k): str(v) for k, v in variant.items()})
        return variants

    def _status(self) -> str:
        status = str(self.setting("unsent_status"))
        if status not in CANONICAL_STATUSES:
            raise PermanentError(f"momo setting unsent_status {status!r} is not one of {', '.join(CANONICAL_STATUSES)}",
                                 platform="momo")
        return status

    def _price_field(self) -> str:
        field = str(self.setting("price_field"))
        if field not in PRICE_FIELDS:
            raise PermanentError(f"momo setting price_field {field!r} is not one of {', '.join(PRICE_FIELDS)}",
                                 platform="momo")
        return field

    def _parts(self) -> int:
        return int(self.setting("order_key_parts"))

    def _check_settings(self) -> None:
        """Every reading setting at once, so a bad one fails before the first call (not half-way through)."""
        self._status(), self._price_field(), self._window_days()
        for query in self._queries():
            self._variants(query)

    def _collect(self, start: datetime, stop: datetime, order_no: str = "") -> dict[str, list[Found]]:
        """Every configured list and variant over one window, rows merged by order number (each
        ``completeOrderNo`` once, as first found: an order may show under several codes)."""
        seen: set[str] = set()
        orders: dict[str, list[Found]] = {}
        for query in self._queries():
            prefix = QUERIES[query][0]
            for filters in self._variants(query):
                extra = {**filters, f"{prefix}_orderNo": order_no} if order_no else filters
                for row in self.client.query_unsent(query, start, stop, extra):
                    number = str(row.get("completeOrderNo") or "").strip()
                    if number and number in seen:
                        continue
                    seen.add(number)
                    key = order_number(number, self._parts()) if number else ""
                    orders.setdefault(key, []).append((query, filters, row))
        return orders

    def _stop_rows(self, order_no: str = "") -> dict[str, list[dict[str, Any]]]:
        """The stop list grouped by order number (empty when ``stop_query`` is off)."""
        if not as_flag(self.setting("stop_query"), True):
            return {}
        return group_rows(self.client.query_stop_sending(order_no), self._parts())  # type: ignore[return-value]

    def _build(self, number: str, found: list[Found], stop_rows: list[dict[str, Any]] | None
               ) -> Order | UnmappableOrder:
        query, filters = found[0][0], found[0][1]
        return map_order(number, [row for _q, _f, row in found], query=query, status=self._status(),
                         channel=self.channel.name, filters=filters, price_field=self._price_field(),
                         stop_rows=stop_rows)

    def _request_only(self, number: str, stop_rows: list[dict[str, Any]]) -> Order | UnmappableOrder:
        return request_only_order(number, stop_rows, status=self._status(), channel=self.channel.name)

    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        """Every configured unsent list over ``[since, until)`` in <= ``max_window_days`` windows, then the
        stop list: a request joins its order when the order was read too, else it comes as ``request_only``."""
        inclusive = as_flag(self.setting("to_minute_inclusive"), True)
        self._check_settings()
        windows = split_windows(since, until, self._window_days())
        if not windows:
            return
        stops = self._stop_rows()
        for start, stop in windows:
            fr, to = query_bounds(start, stop, to_inclusive=inclusive)
            for number, found in self._collect(fr, to).items():
                yield self._build(number, found, stops.pop(number, None))
        for number, stop_rows in stops.items():
            yield self._request_only(number, stop_rows)

    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        """Re-read orders by number: the numbers' timestamps are grouped into windows of at most
        ``max_window_days``; each window costs one call per list variant (a lone number uses the ``*_orderNo``
        filter), then one stop-list call: every open request is attached (an order seen only there comes as
        ``request_only``). Orders already confirmed are in neither list; they are left out and logged.
        """
        ids = list(dict.fromkeys(str(i) for i in external_ids))
        timed: list[tuple[datetime, str]] = []
        for external_id in ids:
            try:
                timed.append((_floor_minute(order_time(external_id)), external_id))
            except ValueError:
                log.warning("momo order number %r has no timestamp; not re-read", external_id)
        self._check_settings()
        if not timed:
            return []
        days = self._window_days()
        edge = _floor_minute(self.clock()) + timedelta(minutes=1)
        rows: dict[str, list[Found]] = {}
        for start, group in _id_windows(sorted(timed), days):
            stop = max(min(start + timedelta(days=days), edge), start + timedelta(minutes=1))
            got = self._collect(start, stop, group[0] if len(group) == 1 else "")
            rows.update((number, found) for number, found in got.items() if number in group)
        wanted = [i for _t, i in timed]
        stops = self._stop_rows(wanted[0] if len(wanted) == 1 else "")
        result: dict[str, Order | UnmappableOrder] = {}
        for number in wanted:
            if number in rows:
                result[number] = self._build(number, rows[number], stops.get(number))
            elif number in stops:
                result[number] = self._request_only(number, stops[number])
        left = [i for i in wanted if i not in result]
        if left:
            log.warning("momo orders %s not re-read: in no unsent list nor the stop list (already confirmed?)",
                        ", ".join(left))
        return [result[i] for i in ids if i in result]

    def list_orders(self, since: datetime, until: datetime) -> Iterator[OrderRef]:
        """The unsent lists' orders over ``[since, until)``, without mapping (same windows and variants as
        :meth:`fetch_orders`; the stop list, which has no window, is not part of it)."""
        inclusive = as_flag(self.setting("to_minute_inclusive"), True)
        for start, stop in split_windows(since, until, self._window_days()):
            fr, to = query_bounds(start, stop, to_inclusive=inclusive)
            for number, found in self._collect(fr, to).items():
                try:
                    created = order_time(number)
                except ValueError:
                    created = None
                if number:
                    yield OrderRef(external_id=number, created_at=created, updated_at=created,
                                   platform_status=found[0][0])

    # -- logistics ----------------------------------------------------------------------------------
    def carrier_name(self, carrier: str | None) -> str:
        """momo's ``delyGbStr`` for a carrier code or name; PermanentError for one momo does not know."""
        if not carrier:
            return str(self.setting("default_carrier"))
        if carrier in CARRIERS:
            return carrier
        alias = CARRIER_ALIASES.get(carrier.strip().lower())
        if alias:
            return alias
        raise PermanentError(f"carrier {carrier!r} is not a momo delyGbStr ({', '.join(CARRIERS)})", platform="momo")

    def _packaging(self) -> dict[str, str]:
        packaging = self.setting("packaging")
        if not isinstance(packaging, Mapping) or not all(str(packaging.get(k) or "").strip()
                                                          for k in PACKAGING_FIELDS):
            raise PermanentError(f"momo setting packaging must give {', '.join(PACKAGING_FIELDS)} (momo lists the "
                                 f"valid values at /order/shipType/getShipTypeList.scm), got {packaging!r}",
                                 platform="momo")
        return {k: str(packaging[k]).strip() for k in PACKAGING_FIELDS}

    def _line_ids(self, order: Order, line_ids: Iterable[str] = ()) -> list[str]:
        ids = list(line_ids) or [ln.external_line_id or "" for ln in order.lines]
        wrong = [i for i in ids if not i or order_number(i, self._parts()) != order.external_id]
        if wrong or not ids:
            raise PermanentError(f"lines {wrong} are not rows of momo order {order.external_id}", platform="momo")
        return ids

    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """Confirm the order (or ``shipment.line_ids``) shipped, per delivery type (module doc)."""
        query = order.platform_status
        if query not in QUERIES:
            raise PermanentError(f"momo order {order.external_id} is known only from the {query or 'unknown'} list; "
                                 "it has no unsent rows to confirm (answer its stop-shipping request instead)",
                                 platform="momo")
        line_ids = self._line_ids(order, shipment.line_ids)
        if query == "unsendCompanyQuery":
            if not shipment.tracking_number:
                raise PermanentError("momo needs a tracking number (slipNo) to confirm a shipment", platform="momo")
            dely = self.carrier_name(shipment.carrier)
            items = [{"completeOrderNo": line_id, "remark5VStr": SHIPPED, "slipNo": shipment.tracking_number,
                      "delyGbStr": dely} for line_id in line_ids]
            outcome = self._confirmed("unsendCompanyConfirm", items, f"confirm order {order.external_id}")
            return ShipResult(tracking_number=shipment.tracking_number, raw=outcome.raw())
        packaging = self._packaging()
        items = [{"completeOrderNo": line_id, "remark5VStr": READY, **packaging} for line_id in line_ids]
        outcome = self._confirmed(FINISH[query], items, f"finish the shipment of order {order.external_id}")
        slip = next((r.slip for r in outcome.rows.values() if r.slip), None)
        if slip is None:
            try:
                slip = self._sending_slip(order)
            except PlatformError as exc:  # the finish is done; the slip can be read back later
                log.warning("momo order %s finished, but its slip number could not be read: %s", order.external_id, exc)
        return ShipResult(tracking_number=slip or shipment.tracking_number or None, raw=outcome.raw())

    def _confirmed(self, action: str, items: list[dict[str, str]], what: str) -> Outcome:
        """Send one confirm call and read its answer: every row done, or the typed error (module doc)."""
        infos = self.client.confirm(action, items)
        outcome = interpret([i["completeOrderNo"] for i in items], infos)
        if outcome.of("fail"):
            raise PermanentError(f"momo refused to {what}: " + "; ".join(outcome.messages("fail")), platform="momo",
                                 code="confirmFail")
        pending = outcome.of("undo") + outcome.of("missing")
        if pending:
            raise TransientError(f"momo did not execute {action} for {', '.join(pending)} (undoList or no result); "
                                 "it is sent again, and a row done meanwhile answers as a repeat", platform="momo",
                                 code="undo")
        return outcome

    def _sending_slip(self, order: Order) -> str | None:
        """momo's slip number of a store / third-party order from its in-delivery list (None: not listed)."""
        query = order.platform_status
        code_field = SENDING[query][1]
        filters = dict((order.raw or {}).get("filters") or {})
        code = filters.get("dely_gb" if query == "unsendStoresQuery" else "third_delyGb")
        codes = [code] if code else list(STORE_CHAINS if query == "unsendStoresQuery" else THIRD_CARRIERS)
        start = _floor_minute(order.created_at)
        end = start + timedelta(days=self._window_days())
        for value in codes:
            for status in SENDING[query][2]:
                for row in self.client.query_sending(query, start, end, value, status, order.external_id):
                    if order_number(str(row.get("completeOrderNo") or ""), self._parts()) == order.external_id \
                            and row.get("slip_no"):
                        return str(row["slip_no"])
        log.debug("momo order %s is in no %s list (%s)", order.external_id, SENDING[query][0], code_field)
        return None

    def shipment_state(self, order: Order) -> ShipResult | None:
        """What momo holds for the order's shipment, read without changing anything.

        Still in its unsent list, or in the stop list: not shipped (``None``). Store / third-party orders found in
        their in-delivery list: shipped, with momo's slip number. Gone from the unsent list otherwise: taken as
        shipped (inferred: momo removes a confirmed row from the unsent lists), with no tracking number.
        """
        query = order.platform_status if order.platform_status in QUERIES else "unsendCompanyQuery"
        start = _floor_minute(order.created_at)
        stop = min(start + timedelta(days=self._window_days()), _floor_minute(self.clock()) + timedelta(minutes=1))
        stop = max(stop, start + timedelta(minutes=1))
        filters = dict((order.raw or {}).get("filters") or {})
        prefix = QUERIES[query][0]
        variants = [filters] if filters else self._variants(query)
        for variant in variants:
            rows = self.client.query_unsent(query, start, stop, {**variant, f"{prefix}_orderNo": order.external_id})
            if any(order_number(str(r.get("completeOrderNo") or ""), self._parts()) == order.external_id
                   for r in rows):
                return None
        if order.external_id in self._stop_rows(order.external_id):
            return None
        slip = self._sending_slip(order) if query in SENDING else None
        return ShipResult(tracking_number=slip, raw={"read_back": "left the unsent list",
                                                    **({"slip_no": slip} if slip else {})})

    # -- stop-shipping requests -------------------------------------------------------------------------
    def answer_cancel_request(self, order: Order, accept: bool) -> CancelAnswer:
        """``stopSendingConfirm`` for every row of the request: ``stopAct`` 1 (確定攔貨) or 0 (來不及攔貨)."""
        request = order.cancel_request
        if request is None or not request.reference:
            raise PermanentError(f"momo order {order.external_id} has no open stop-shipping request to answer",
                                 platform="momo")
        if request.allowed is False:
            raise PermanentError(f"momo does not let the vendor answer the stop-shipping request of order "
                                 f"{order.external_id} yet: {request.reason or 'allowExecuteYN is N'}", platform="momo",
                                 code="not_allowed")
        rows = [n for n in request.reference.split(",") if n]
        items = [{"completeOrderNo": number, "stopAct": "1" if accept else "0"} for number in rows]
        what = f"{'intercept' if accept else 'mark too late'} the stop-shipping request of order {order.external_id}"
        outcome = self._confirmed("stopSendingConfirm", items, what)
        repeated = all(r.outcome == "repeat" for r in outcome.rows.values())
        return CancelAnswer(accepted=accept, repeated=repeated, raw=outcome.raw())
