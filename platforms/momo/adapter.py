"""momo adapter: no OAuth, a vendor login on every call, unsent-order queries in <= 2-month windows.

Settings (``PlatformConfig.settings`` overridden by ``ChannelConfig.settings``), each a choice where
the third-party-only spec (§3) is silent:

- ``queries`` (default all three: ``unsendCompanyQuery``, ``unsendStoresQuery``, ``unsendThirdQuery``):
  which unsent lists GetOrder reads.
- ``max_window_days`` (59): momo refuses windows over 2 months ("最大區間2個月"); 59 days fits in
  any two calendar months, so longer ranges are split. With no paging, one window's answer is held
  in memory while it is mapped; the unsent lists only hold orders not yet shipped, so that is the
  vendor's backlog; lower this to bound memory on a huge backlog (see benchmarks/bench_momo_fetch.py).
- ``to_minute_inclusive`` (True): the query takes minutes only. We take ``*_to_*`` as including its
  whole minute, so ``[since, until)`` is floored to minutes and sent as ``fr=floor(since)``,
  ``to=floor(until)-1min``: adjacent windows then partition time exactly (an order at 23:59:59 and
  one at 00:00:00 Asia/Taipei each arrive once). ``False`` sends ``to=floor(until)``.
- ``order_key_parts`` (1), ``unsent_status`` (``ready_to_ship``): see :mod:`platforms.momo.mapping`.
- ``default_carrier`` (``其他宅配``): ``delyGbStr`` when a shipment names no carrier.
- ``already_shipped_markers`` (``["已出貨"]``): a confirm failure containing one of these means the
  row was already confirmed (e.g. our earlier call timed out after momo accepted it): success.
- ``user_agent``: optional ``User-Agent`` header.
- ``query_filters`` (none): extra ``sendInfo`` variants per query, one call each, e.g.
  ``{"unsendStoresQuery": [{"dely_gb": "21"}, {"dely_gb": "27"}], "unsendThirdQuery":
  [{"third_delyGb": "62", "third_delyTemp": "01"}]}``. By default every optional field is sent as
  ``""`` (all); third-party clients query store chains and carriers one by one, so if momo insists
  on a value this is where it goes.
- ``stop_query`` (True): also read ``stopSendingQuery`` (攔貨, the cancellations momo asks the vendor
  not to ship). It has no time window, so every run sees the whole current list; the channel's
  upsert makes an unchanged re-read a no-op. Such orders map to ``cancelled``.

momo has no token: :attr:`uses_oauth` is False (the scheduler's signal not to run RefreshToken) and
:meth:`refresh` returns the tokens unchanged. Unsent queries list orders until they are confirmed;
a cancellation shows up in ``stopSendingQuery`` instead. ``get_orders`` re-reads by order number in
the unsent lists (windows opened by the numbers' timestamps) and in the stop list.

Shipping: only vendor-delivered (company) orders are confirmed (``unsendCompanyConfirm``); store
pickup and third-party logistics orders travel with momo's logistics, so :meth:`ship` refuses them
with :class:`NotSupported`. momo's own delivery progress (``sendingStoresQuery`` /
``sendingThirdQuery``) is not read: their date filter's meaning is unknown, so a window-based read
could not promise to see each change once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from platforms.base import (
    CANONICAL_STATUSES,
    Adapter,
    NotSupported,
    Order,
    PermanentError,
    Shipment,
    ShipResult,
    TokenSet,
    UnmappableOrder,
)
from platforms.http import RetryPolicy
from platforms.momo.client import QUERIES, STOP_QUERY, MomoClient
from platforms.momo.mapping import iter_orders, order_number, order_time
from platforms.settings import as_flag, lookup_setting
from platforms.windows import split_range

__all__ = ["MomoAdapter", "CARRIERS", "CARRIER_ALIASES", "split_windows", "query_bounds"]

log = logging.getLogger("oms_bridge.platforms.momo")

#: The ``delyGbStr`` values momo accepts (spec §3).
CARRIERS = ("宅配通", "新竹貨運", "統一速達", "大榮貨運", "東元物流", "其他宅配", "郵局", "便利袋", "其他")
#: Common carrier codes -> momo's names (lower-case keys).
CARRIER_ALIASES = {
    "pelican": "宅配通", "ecan": "宅配通", "e_can": "宅配通", "hct": "新竹貨運", "tcat": "統一速達",
    "t-cat": "統一速達", "blackcat": "統一速達", "ezcat": "統一速達", "kerry": "大榮貨運", "kerrytj": "大榮貨運",
    "tonlin": "東元物流", "post": "郵局", "postserv": "郵局", "chunghwa_post": "郵局", "other": "其他",
}
SHIPPED = "已配送"
#: lists whose orders momo's logistics carries (no vendor confirm call exists for them)
MOMO_LOGISTICS = ("unsendStoresQuery", "unsendThirdQuery")
DEFAULTS: dict[str, Any] = {
    "queries": tuple(QUERIES), "max_window_days": 59, "to_minute_inclusive": True, "order_key_parts": 1,
    "unsent_status": "ready_to_ship", "default_carrier": "其他宅配", "already_shipped_markers": ("已出貨",),
    "user_agent": None, "stop_query": True, "query_filters": {},
}


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
        """The ``sendInfo`` filter sets to send for one query (``query_filters``; default: one, all "")."""
        configured = (self.setting("query_filters") or {}).get(query) or [{}]
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

    def _map(self, rows: list[dict[str, Any]], query: str) -> Iterator[Order | UnmappableOrder]:
        status = str(self.setting("unsent_status"))
        if status not in CANONICAL_STATUSES:
            raise PermanentError(f"momo setting unsent_status {status!r} is not one of {', '.join(CANONICAL_STATUSES)}",
                                 platform="momo")
        return iter_orders(rows, query=query, parts=int(self.setting("order_key_parts")), status=status,
                           channel=self.channel.name)

    def fetch_orders(self, since: datetime, until: datetime) -> Iterator[Order | UnmappableOrder]:
        """Every configured unsent query over ``[since, until)`` split into <= ``max_window_days`` windows."""
        inclusive = as_flag(self.setting("to_minute_inclusive"), True)
        windows = split_windows(since, until, self._window_days())
        for start, stop in windows:
            fr, to = query_bounds(start, stop, to_inclusive=inclusive)
            for query in self._queries():
                for filters in self._variants(query):
                    yield from self._map(self.client.query_unsent(query, fr, to, filters), query)
        if windows and as_flag(self.setting("stop_query"), True):
            yield from self._map(self.client.query_stop_sending(), STOP_QUERY)

    def get_orders(self, external_ids: Iterable[str]) -> list[Order | UnmappableOrder]:
        """Re-read orders by number: the numbers' timestamps are grouped into windows of at most
        ``max_window_days``; each window costs one call per unsent list (a lone number uses the
        ``*_orderNo`` filter), then one stop-list call for those not found. Orders already confirmed
        are in neither list; they are left out and logged.
        """
        ids = list(dict.fromkeys(str(i) for i in external_ids))
        timed: list[tuple[datetime, str]] = []
        for external_id in ids:
            try:
                timed.append((_floor_minute(order_time(external_id)), external_id))
            except ValueError:
                log.warning("momo order number %r has no timestamp; not re-read", external_id)
        found: dict[str, Order | UnmappableOrder] = {}
        days = self._window_days()
        edge = _floor_minute(self.clock()) + timedelta(minutes=1)
        for start, group in _id_windows(sorted(timed), days):
            stop = max(min(start + timedelta(days=days), edge), start + timedelta(minutes=1))
            for query in self._queries():
                prefix = QUERIES[query][0]
                for filters in self._variants(query):
                    extra = {**filters, f"{prefix}_orderNo": group[0]} if len(group) == 1 else filters
                    rows = self.client.query_unsent(query, start, stop, extra)
                    found.update((o.external_id, o) for o in self._map(rows, query) if o.external_id in group)
        missing = [i for _t, i in timed if i not in found]
        if missing and as_flag(self.setting("stop_query"), True):
            rows = self.client.query_stop_sending(missing[0] if len(missing) == 1 else "")
            found.update((o.external_id, o) for o in self._map(rows, STOP_QUERY) if o.external_id in missing)
        left = [i for _t, i in timed if i not in found]
        if left:
            log.warning("momo orders %s not re-read: in no unsent list nor the stop list (already confirmed?)",
                        ", ".join(left))
        return [found[i] for i in ids if i in found]

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

    def ship(self, order: Order, shipment: Shipment) -> ShipResult:
        """``unsendCompanyConfirm`` every line (or ``shipment.line_ids``) as 已配送 with the tracking number.

        Only vendor-delivered (company) orders have a confirm call: store pickup and third-party
        logistics orders travel with momo's own logistics, so shipping one is :class:`NotSupported`.
        """
        if order.platform_status in MOMO_LOGISTICS:
            raise NotSupported(f"momo order {order.external_id} ({order.platform_status}) ships through momo's own "
                               "logistics; momo has no tracking-number confirm for it", platform="momo")
        if not shipment.tracking_number:
            raise PermanentError("momo needs a tracking number (slipNo) to confirm a shipment", platform="momo")
        line_ids = list(shipment.line_ids) or [ln.external_line_id or "" for ln in order.lines]
        parts = int(self.setting("order_key_parts"))
        wrong = [i for i in line_ids if not i or order_number(i, parts) != order.external_id]
        if wrong:
            raise PermanentError(f"lines {wrong} are not rows of momo order {order.external_id}", platform="momo")
        dely = self.carrier_name(shipment.carrier)
        items = [{"completeOrderNo": line_id, "remark5VStr": SHIPPED, "slipNo": shipment.tracking_number,
                  "delyGbStr": dely, "msgNote": "", "scmDelyDate": ""} for line_id in line_ids]
        result = self.client.confirm_company(items)
        failures = [f for f in _fail_messages(result) if not self._already_shipped(f)]
        if failures:
            raise PermanentError(f"momo refused to confirm order {order.external_id}: " + "; ".join(failures),
                                 platform="momo", code="confirmFail")
        return ShipResult(tracking_number=shipment.tracking_number, raw=result)

    def _already_shipped(self, message: str) -> bool:
        return any(marker in message for marker in self.setting("already_shipped_markers"))


def _fail_messages(result: Mapping[str, Any]) -> list[str]:
    """Readable ``confirmFailList`` entries.

    momo sends tab-separated strings (``"\t<completeOrderNo>\t<goods>\t<reason>"``); objects with a
    row number and a message are accepted too.
    """
    messages = []
    for item in result.get("confirmFailList") or []:
        if isinstance(item, Mapping):
            number = item.get("completeOrderNo", "")
            text = item.get("failMsg") or item.get("msg") or item.get("message") or item
            messages.append(f"{number}: {text}" if number else str(text))
        else:
            messages.append(" ".join(part.strip() for part in str(item).split("\t") if part.strip()))
    if not messages and int(result.get("confirmFailCnt") or 0):
        messages.append(f"{result.get('confirmFailCnt')} rows failed without a message")
    return messages
