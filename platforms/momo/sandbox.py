"""A local momo SCM: ``POST /OrderServlet.do`` with the login check, encrypted ``dataList``, window
limits, the confirm state machine, rate limit, faults and a deterministic order generator.

Behaviour (spec §3, third-party sources; the sandbox picks the most plausible answer):

- every request carries ``loginInfo``; a wrong entpID/entpCode/entpPwd/otpBackNo answers
  ``200 {"ERROR":"登入失敗"}``;
- unsent queries need every field (optional ones as ``""``); a bad date, a start after the end or
  a window over 2 calendar months answers ``{"basicCheckMsgList":[...]}`` ("最大區間2個月");
  nothing found answers ``{"basicCheckMsgList":["查無資料"]}``; rows come back as
  ``{"dataList": Base64(AES-128-ECB(json))}`` keyed by the vendor password;
- only ``unsendCompanyQuery`` answers an encrypted ``dataList`` (the one third-party clients mark
  "資料加密"); the other lists answer a plain JSON array (``encrypted_queries`` changes that);
- a cancelled order leaves the unsent lists and appears in ``stopSendingQuery`` (攔貨), without
  prices, until the vendor acts on it;
- the window filters on the transfer time (轉單日, here the order time), ``fr`` from the start of its
  minute, ``to`` through the end of its minute, both Asia/Taipei;
- ``unsendCompanyConfirm`` moves company rows from unsent to shipped (``已配送`` needs ``slipNo`` and a
  valid ``delyGbStr``); failures are listed per row in ``confirmFailList``; a shipped row is no longer
  unsent and confirming it again fails with "訂單已出貨";
- more than ``rate_limit`` requests per second per vendor answer 429 with ``Retry-After``.
"""

from __future__ import annotations

import json
import random
import re
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from platforms import sandbox_data as data
from platforms.momo.adapter import CARRIERS
from platforms.momo.client import NO_DATA, QUERIES, STOP_QUERY
from platforms.momo.crypto import encrypt_data_list
from platforms.sandboxing import RateLimiter, Sandbox, SandboxClock, json_response

__all__ = ["MomoSandbox"]

TAIPEI = ZoneInfo("Asia/Taipei")
LOGIN_FAILED = {"ERROR": "登入失敗"}
KINDS = {"company": "unsendCompanyQuery", "stores": "unsendStoresQuery", "third": "unsendThirdQuery"}
PUBLIC_FIELDS = ("itemNo", "isRedStr", "completeOrderNo", "remark5VStr", "msgNote", "scmDelyDate", "delyGbStr",
                 "slipNo", "orderGbStr", "msg", "lastPricDate", "delyHopeDate", "receiver", "receiverMask",
                 "receiverTel", "receiverMobile", "postNo", "receiverAddr", "storeIdName", "entpGoodsNo", "goodsCode",
                 "goodsName", "goodsDtCode", "goodsDtInfo", "syslast", "buyPrice", "describeNote", "custName",
                 "custNameMask", "invoiceNo", "invoiceDate", "custId", "packYnStr")
STOP_FIELDS = ("itemNo", "allowExecuteYN", "completeOrderNo", "notAllowReason", "returnReason", "receiver",
               "entpGoodsNo", "goodsCode", "goodsName", "goodsDtCode", "goodsDtInfo", "syslast", "msgNote", "packYnStr")
_DATE_RE = re.compile(r"^\d{4}/\d{2}/\d{2}$")


def _add_months(when: datetime, months: int) -> datetime:
    month0 = when.month - 1 + months
    year, month = when.year + month0 // 12, month0 % 12 + 1
    for day in (when.day, 30, 29, 28):
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def _mask_name(name: str) -> str:
    return name[0] + "*" + name[2:] if len(name) >= 3 else name[0] + "*"


class _BadRequest(Exception):
    """A validation failure answered as ``basicCheckMsgList``."""


class MomoSandbox(Sandbox):
    """The momo SCM order servlet; admin helpers create vendors and orders."""

    platform_type = "momo"

    def __init__(self, *, clock: SandboxClock | None = None, seed: int = 1, rate_limit: int = 20,
                 max_window_months: int = 2, encrypted_queries: tuple[str, ...] = ("unsendCompanyQuery",)):
        super().__init__(clock=clock, seed=seed)
        self.encrypted_queries = encrypted_queries
        self.limiter = RateLimiter(rate_limit, self.clock)
        self.max_window_months = max_window_months
        self.vendors: dict[str, dict[str, str]] = {}
        # entpCode -> completeOrderNo -> row (public fields plus _kind, _transfer, _state)
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self._numbers: dict[str, set[str]] = {}  # order numbers in use per vendor (numbers are times)
        self.corrupt_data_lists = 0  # answer the next N queries with an undecryptable dataList
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._shop_seq = 0

    # -- wire ---------------------------------------------------------------------------------------
    def error_body(self, code: str, message: str) -> Any:
        return {"ERROR": message}

    def dispatch(self, request: Request) -> Response:
        if request.path != "/OrderServlet.do":
            return Response("<html><body>404 Not Found</body></html>", status=404, content_type="text/html")
        if request.method != "POST":
            return Response("<html><body>405 Method Not Allowed</body></html>", status=405, content_type="text/html")
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            return json_response({"basicCheckMsgList": ["傳入資料格式錯誤"]})
        if not isinstance(body, dict):
            return json_response({"basicCheckMsgList": ["傳入資料格式錯誤"]})
        vendor = self._login(body.get("loginInfo"))
        if vendor is None:
            return json_response(LOGIN_FAILED)
        if not self.limiter.allow(vendor):
            return json_response({"ERROR": "呼叫過於頻繁"}, 429, {"Retry-After": "1"})
        action = body.get("doAction")
        try:
            if action in QUERIES:
                return self._query(vendor, action, body.get("sendInfo"))
            if action == STOP_QUERY:
                return self._stop_query(vendor, body.get("sendInfo"))
            if action == "unsendCompanyConfirm":
                return self._confirm(vendor, body.get("sendInfoList"))
        except _BadRequest as exc:
            return json_response({"basicCheckMsgList": [str(exc)]})
        return json_response({"basicCheckMsgList": [f"doAction錯誤: {action}"]})

    def _login(self, info: Any) -> str | None:
        if not isinstance(info, dict):
            return None
        vendor = self.vendors.get(str(info.get("entpCode") or ""))
        if vendor is None:
            return None
        for key in ("entpID", "entpPwd"):
            if str(info.get(key) or "") != vendor[key]:
                return None
        if vendor["otpBackNo"] and str(info.get("otpBackNo") or "") != vendor["otpBackNo"]:
            return None
        return vendor["entpCode"]

    def _window(self, prefix: str, info: dict[str, Any]) -> tuple[datetime, datetime]:
        bounds = []
        for side in ("fr", "to"):
            dd, hh, mm = (str(info.get(f"{prefix}_{side}_{p}", "")) for p in ("dd", "hh", "mm"))
            if not _DATE_RE.match(dd):
                raise _BadRequest(f"{prefix}_{side}_dd 日期格式錯誤(yyyy/MM/dd)")
            try:
                local = datetime.strptime(f"{dd} {int(hh):02d}:{int(mm):02d}", "%Y/%m/%d %H:%M")
            except ValueError:
                raise _BadRequest(f"{prefix}_{side} 時間格式錯誤") from None
            bounds.append(local.replace(tzinfo=TAIPEI))
        start, end = bounds
        if start > end:
            raise _BadRequest("查詢起日不可大於迄日")
        if end > _add_months(start, self.max_window_months):
            raise _BadRequest(f"查詢區間最大區間{self.max_window_months}個月")
        return start.astimezone(UTC), (end + timedelta(minutes=1)).astimezone(UTC)

    def _query(self, vendor: str, action: str, info: Any) -> Response:
        if not isinstance(info, dict):
            raise _BadRequest("sendInfo 不可為空")
        prefix, optional = QUERIES[action]
        missing = [name for name in optional if name not in info]
        if missing:
            raise _BadRequest(f"缺少欄位: {', '.join(missing)}")
        start, end = self._window(prefix, info)
        order_no = str(info.get(f"{prefix}_orderNo") or "")
        receiver = str(info.get(f"{prefix}_receiver") or "")
        # carrier / store-chain / temperature filters: "" means all
        wanted = {name: str(info.get(name) or "") for name in ("dely_gb", "third_delyGb", "third_delyTemp")}
        kind = prefix
        with self._lock:
            rows = [self._public(r) for r in self.rows.get(vendor, {}).values()
                    if r["_kind"] == kind and r["_state"] == "unsent" and start <= r["_transfer"] < end
                    and r["completeOrderNo"].startswith(order_no) and (not receiver or r["receiver"] == receiver)
                    and all(not value or r.get(f"_{name}") == value for name, value in wanted.items())]
            if not rows:
                return json_response({"basicCheckMsgList": [NO_DATA]})
            if action not in self.encrypted_queries:
                return json_response({"dataList": rows})
            if self.corrupt_data_lists > 0:
                self.corrupt_data_lists -= 1
                return json_response({"dataList": "bm90IGEgY2lwaGVydGV4dA=="})
        password = self.vendors[vendor]["entpPwd"]
        plain = json.dumps(rows, ensure_ascii=False, separators=(",", ":"))
        return json_response({"dataList": encrypt_data_list(plain, password)})

    def _stop_query(self, vendor: str, info: Any) -> Response:
        if not isinstance(info, dict):
            raise _BadRequest("sendInfo 不可為空")
        missing = [name for name in ("receiver", "goodsCode", "orderNo", "entp_goods_no") if name not in info]
        if missing:
            raise _BadRequest(f"缺少欄位: {', '.join(missing)}")
        order_no = str(info.get("orderNo") or "")
        with self._lock:
            rows = [{k: r[k] for k in STOP_FIELDS if k in r} for r in self.rows.get(vendor, {}).values()
                    if r["_state"] == "stopped" and r["completeOrderNo"].startswith(order_no)]
        if not rows:
            return json_response({"basicCheckMsgList": [NO_DATA]})
        return json_response({"dataList": rows})

    @staticmethod
    def _public(row: dict[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in PUBLIC_FIELDS if k in row}

    def _confirm(self, vendor: str, items: Any) -> Response:
        if not isinstance(items, list) or not items:
            raise _BadRequest("sendInfoList 不可為空")
        ok: list[str] = []
        fail: list[str] = []
        with self._lock:
            rows = self.rows.get(vendor, {})
            for item in items:
                number = str((item or {}).get("completeOrderNo") or "")
                problem = self._confirm_problem(rows.get(number), item or {})
                if problem:
                    name = rows[number]["goodsName"] if number in rows else ""
                    fail.append(f"\t{number}\t{name}\t{problem}")  # momo's tab-separated failure lines
                    continue
                row = rows[number]
                row.update(_state="shipped", remark5VStr=item["remark5VStr"], slipNo=item["slipNo"],
                           delyGbStr=item["delyGbStr"], msgNote=str(item.get("msgNote") or ""),
                           _shipped_at=self.clock.now())
                ok.append(number)
        return json_response({"resultInfo": {
            "undoCnt": 0, "undoList": [], "confirmOkCnt": len(ok), "confirmOkList": ok,
            "confirmFailCnt": len(fail), "confirmFailList": fail, "saveMsgOkCnt": 0, "saveMsgFailCnt": 0,
        }})

    @staticmethod
    def _confirm_problem(row: dict[str, Any] | None, item: dict[str, Any]) -> str | None:
        if row is None or row["_kind"] != "company":
            return "查無此訂單"
        if row["_state"] == "shipped":
            return "訂單已出貨"
        if row["_state"] != "unsent":
            return "訂單已取消(攔貨)"
        if item.get("remark5VStr") != "已配送":
            return f"remark5VStr 不支援: {item.get('remark5VStr')!r}"
        if not str(item.get("slipNo") or "").strip():
            return "已配送時 slipNo 必填"
        if item.get("delyGbStr") not in CARRIERS:
            return f"delyGbStr 錯誤: {item.get('delyGbStr')!r}"
        return None

    # -- admin helpers --------------------------------------------------------------------------------
    def platform_fields(self) -> dict[str, Any]:
        return {"host": self.base_url, "app_id": None, "app_secret": None, "settings": {}}

    def add_shop(self, **options: Any) -> dict[str, Any]:
        """A vendor login; options may fix ``entpID``, ``entpCode``, ``entpPwd``, ``otpBackNo``."""
        with self._lock:
            self._shop_seq += 1
            code = str(options.get("entpCode") or f"{100000 + self._shop_seq:06d}")
            vendor = {
                "entpID": str(options.get("entpID") or f"{12345670 + self._shop_seq:08d}"),
                "entpCode": code,
                "entpPwd": str(options.get("entpPwd") or f"pw{self._rng.randrange(10**6):06d}"),
                "otpBackNo": str(options.get("otpBackNo", f"{self._rng.randrange(1000):03d}")),
            }
            self.vendors[code] = vendor
            self.rows.setdefault(code, {})
        return {"shop_id": code, "credentials": dict(vendor), "settings": {}}

    def generate_orders(self, shop_id: str, count: int, *, start: datetime | None = None,
                        end: datetime | None = None, **options: Any) -> list[str]:
        """``count`` orders spread evenly over ``[start, end)`` (default: the last day).

        ``kind`` (``company``/``stores``/``third``, or ``kinds`` to cycle) picks the list an order
        shows in; ``times=[...]`` gives exact transfer times; ``status`` may be ``ready_to_ship`` or
        ``paid`` (both: unsent, the only state momo lists) or ``cancelled`` (in the stop list). Two
        orders in the same second get consecutive seconds (order numbers are times).
        """
        status = options.get("status") or "ready_to_ship"
        if status not in ("ready_to_ship", "paid", "cancelled"):
            raise ValueError(f"momo lists only unsent (ready_to_ship/paid) or cancelled orders, not {status!r}")
        end = end or self.clock.now()
        start = start or end - timedelta(days=1)
        kinds = list(options.get("kinds") or [options.get("kind", "company")])
        rng = random.Random(f"{self.seed}-{shop_id}-{len(self.rows.get(shop_id, {}))}-{start.isoformat()}")
        numbers = []
        with self._lock:
            rows = self.rows[shop_id]
            step = (end - start) / max(count, 1)
            times = options.get("times") or [start + step * i for i in range(count)]
            for i, moment in enumerate(times):
                when = moment.astimezone(TAIPEI).replace(microsecond=0)
                taken = self._numbers.setdefault(shop_id, set())
                while when.strftime("%Y%m%d%H%M%S") in taken:
                    when += timedelta(seconds=1)
                number = when.strftime("%Y%m%d%H%M%S")
                taken.add(number)
                self._add_order(rows, number, when, kinds[i % len(kinds)], rng)
                if status == "cancelled":
                    self._stop(rows, number)
                numbers.append(number)
        return numbers

    def _add_order(self, rows: dict[str, dict[str, Any]], number: str, when: datetime, kind: str,
                   rng: random.Random) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown momo order kind {kind!r}; known: {', '.join(KINDS)}")
        name, phone, address = data.person_name(rng), data.mobile(rng), data.tw_address(rng)
        masked = kind != "company"
        buyer = data.person_name(rng)
        receiver = {
            "receiver": _mask_name(name) if masked else name,
            "receiverTel": "", "receiverMobile": phone[:4] + "***" + phone[7:] if masked else phone,
            "postNo": "" if masked else address["zip"],
            "receiverAddr": f"{address['city']}{address['district']}****" if masked else address["full"],
            "custName": buyer[0] + "O" + buyer[2:], "custId": f"{rng.randrange(10000):04d}",
        }
        if masked:
            receiver.update(receiverMask=receiver["receiver"], custNameMask=receiver.pop("custName"))
        routing: dict[str, str] = {}
        if kind == "stores":
            chain, code = rng.choice((("7-11", "21"), ("全家", "27")))
            receiver["storeIdName"] = f"{chain} {address['district']}{rng.choice(data.STREETS)}門市"
            routing["_dely_gb"] = code
        if kind == "third":
            routing.update(_third_delyGb=rng.choice(("61", "62", "63")), _third_delyTemp=rng.choice(("01", "02")))
        for seq, (product, qty) in enumerate(data.pick_products(rng), start=1):
            complete = f"{number}-{seq:03d}-001-001"
            rows[complete] = {
                "itemNo": str(seq), "isRedStr": "正常", "completeOrderNo": complete, "remark5VStr": "可出貨",
                "msgNote": "", "scmDelyDate": "", "delyGbStr": "", "slipNo": "", "orderGbStr": "一般訂單", "msg": "",
                "lastPricDate": when.strftime("%Y/%m/%d"), "delyHopeDate": (when + timedelta(days=3)).strftime(
                    "%Y/%m/%d"), **receiver,
                "entpGoodsNo": product.sku, "goodsCode": PRODUCTS_CODE[product.sku], "goodsName": product.name,
                "goodsDtCode": "001", "goodsDtInfo": "無", "syslast": str(qty), "buyPrice": str(product.price),
                "describeNote": "", "invoiceNo": "", "invoiceDate": "", "packYnStr": "否",
                "_kind": kind, "_transfer": when.astimezone(UTC), "_state": "unsent", **routing,
            }

    @staticmethod
    def _stop(rows: dict[str, dict[str, Any]], number: str) -> None:
        for complete, row in rows.items():
            if complete.split("-")[0] == number and row["_state"] == "unsent":
                row.update(_state="stopped", allowExecuteYN="Y", notAllowReason="", returnReason="客戶取消訂單")

    def _order_rows(self, shop_id: str, external_id: str) -> list[dict[str, Any]]:
        rows = [r for n, r in self.rows.get(shop_id, {}).items() if n.split("-")[0] == external_id]
        if not rows:
            raise KeyError(f"momo sandbox has no order {external_id} for vendor {shop_id}")
        return rows

    def update_order(self, shop_id: str, external_id: str, **changes: Any) -> None:
        """``status="cancelled"`` moves it from the unsent lists to the stop list; ``receiver``/``phone``/
        ``address`` edit it."""
        status = changes.get("status")
        if status not in (None, "cancelled", "ready_to_ship", "paid"):
            raise ValueError(f"momo can only cancel an unsent order, not set it to {status!r}")
        with self._lock:
            if status == "cancelled":
                self._order_rows(shop_id, external_id)
                self._stop(self.rows[shop_id], external_id)
            for row in self._order_rows(shop_id, external_id):
                if "receiver" in changes:
                    row["receiver"] = changes["receiver"]
                if "phone" in changes:
                    row["receiverMobile"] = changes["phone"]
                if "address" in changes:
                    address = changes["address"]
                    row["receiverAddr"] = address if isinstance(address, str) else address.get("full", "")

    def shipment_of(self, shop_id: str, external_id: str) -> dict[str, Any] | None:
        with self._lock:
            shipped = [r for r in self._order_rows(shop_id, external_id) if r["_state"] == "shipped"]
            if not shipped:
                return None
            return {"tracking_number": shipped[0]["slipNo"], "carrier": shipped[0]["delyGbStr"],
                    "lines": sorted(r["completeOrderNo"] for r in shipped)}


#: momo's own goods codes for the sample products (momo numbers its goods; 7 digits).
PRODUCTS_CODE = {p.sku: f"{5000000 + i * 1373:07d}" for i, p in enumerate(data.PRODUCTS)}
