"""A local momo SCM order servlet (``POST /OrderServlet.do``), built from the public record, not from our client.

Sources (docs/contracts/momo.md lists each fact): the Java client ``com/dsc/spos/utils/ec/Momo.java`` (field
lists, example values, the stopSendingConfirm answer), the TypeScript ``momo-scm-client`` and its tests
(``unsendStoresFinish`` / ``unsendThirdFinish`` payloads, delivery-type codes, "SCM has no 'all' value"),
``resolveMomoOrderStates`` (the result lists and their entry formats) and a C# client (``ConfirmRepeatList`` on
every confirm answer). What the sandbox does, and where a source is silent, what it chose (marked *choice*):

- every request carries ``loginInfo``; a wrong entpID/entpCode/entpPwd/otpBackNo answers ``200 {"ERROR":"登入失敗"}``;
- unsent queries need every field of their ``sendInfo`` (optional ones as ``""``); ``dely_gb`` (stores),
  ``third_delyGb`` and ``third_delyTemp`` (third party) have no "all" value: ``""`` is refused, a client queries
  each code; ``third_orderGb`` ("" all, 10 一般訂單, 40 交換配送訂單) must be present. A bad date, a start after
  the end or a window over 2 calendar months answers ``basicCheckMsgList`` ("最大區間2個月"); nothing found
  answers ``{"basicCheckMsgList":["查無資料"]}``; only ``unsendCompanyQuery`` answers an encrypted ``dataList``
  (Base64 AES-128-ECB keyed by the password), the others a plain list;
- rows carry exactly the fields the Java client reads per list, with its example values (``20140918203512-001-
  001-001`` style numbers, ``custName`` 林O筠 style, ``buyPrice`` the vendor's tax-inclusive purchase price);
  store rows add ``storeIdName`` (the pickup store), ``receiverMask``; third-party rows ``receiverMask``,
  ``receiverAddrMask``, ``custNameMask``, ``postNo``, ``orderDelyGbName``; store and third-party rows also carry
  ``salePrice`` (the consumer price, seen in the TypeScript client's fixtures);
- a third-party order whose items travel at two temperatures appears under both ``third_delyTemp`` codes, each
  answer listing only its own rows (*choice*: momo splits such an order per temperature; the TypeScript
  client dedupes repeated orders across combinations);
- ``stopSendingQuery`` (攔貨) lists the company (廠商配送) rows momo asks the vendor to stop, with
  ``allowExecuteYN`` / ``notAllowReason`` / ``returnReason``; no prices, no address. Whether such an order also
  stays in ``unsendCompanyQuery`` is not public: ``stop_keeps_unsent`` (default False) decides;
- ``stopSendingConfirm`` ``sendInfoList [{completeOrderNo, stopAct}]`` (1 確定攔貨, 0 來不及攔貨) answers
  ``resultInfo {undoCnt, undoList, okCnt, okList, failCnt, failList}`` (Java); a row answered before comes back
  in ``confirmRepeatList`` (*choice*, as the shipment confirms do); an answered row leaves the stop list;
  ``allowExecuteYN`` N refuses the row with its ``notAllowReason``;
- ``unsendCompanyConfirm`` (已配送 needs ``slipNo`` and a ``delyGbStr`` from the list), ``unsendStoresFinish`` and
  ``unsendThirdFinish`` (``remark5VStr`` 可出貨 plus ``shipTypeStr``/``packTypeStr``/``packUnit``, all required)
  move rows out of the unsent lists; momo assigns the store/third-party slip number, read back through
  ``sendingStoresQuery`` (``status`` 1 已印單待驗收) / ``sendingThirdQuery`` (``status`` 1 已印單). Answers:
  ``confirmOkList`` / ``confirmFailList`` (``"<completeOrderNo> : <reason>"``) / ``confirmRepeatList`` (a row
  confirmed before) / ``undoList``, with string counts; the store finish answers a *list* of such objects, the
  others one object;
- more than ``rate_limit`` (default 200, *choice*: momo publishes no limit) requests per second per vendor answer
  429 with ``Retry-After``.
"""

from __future__ import annotations

import json
import random
import re
import threading
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from werkzeug.wrappers import Request, Response

from platforms.momo.crypto import encrypt_data_list
from sandboxes import data
from sandboxes.server import RateLimiter, Sandbox, SandboxClock, json_response

__all__ = ["MomoSandbox", "STORE_CHAINS", "THIRD_CARRIERS", "THIRD_TEMPS"]

TAIPEI = ZoneInfo("Asia/Taipei")
LOGIN_FAILED = {"ERROR": "登入失敗"}
NO_DATA = "查無資料"
KINDS = {"company": "unsendCompanyQuery", "stores": "unsendStoresQuery", "third": "unsendThirdQuery"}
#: the query fields of each unsent list (Java client + TypeScript client tests): prefix, fields besides the window
QUERY_FIELDS = {
    "unsendCompanyQuery": ("company", ("company_receiver", "company_goodsCode", "company_orderNo",
                                       "company_entpGoodsNo", "company_orderGb")),
    "unsendStoresQuery": ("stores", ("stores_receiver", "stores_goodsCode", "stores_orderNo", "stores_entpGoodsNo",
                                     "stores_special", "dely_gb")),
    "unsendThirdQuery": ("third", ("third_receiver", "third_goodsCode", "third_orderNo", "third_entpGoodsNo",
                                   "third_orderGb", "third_delyGb", "third_delyTemp")),
}
#: store pickup ``dely_gb`` codes (TypeScript client definitions)
STORE_CHAINS = {"21": "7-11", "27": "全家", "28": "7-11 店到店", "29": "全家 店到店", "2A": "OK mart", "2B": "萊爾富"}
#: third-party ``third_delyGb`` carriers and ``third_delyTemp`` temperatures (Java comments, TypeScript client)
THIRD_CARRIERS = {"61": "宅配通", "62": "新竹貨運", "63": "宅急便", "65": "其他物流"}
THIRD_TEMPS = {"01": "常溫", "02": "冷凍", "03": "冷藏"}
#: ``delyGbStr`` values the company confirm accepts (Java client)
COMPANY_CARRIERS = ("宅配通", "新竹貨運", "統一速達", "大榮貨運", "東元物流", "其他宅配", "郵局", "便利袋", "其他")
COMPANY_FIELDS = ("itemNo", "isRedStr", "completeOrderNo", "remark5VStr", "msgNote", "scmDelyDate", "delyGbStr",
                  "slipNo", "orderGbStr", "msg", "lastPricDate", "delyHopeDate", "receiver", "receiverTel",
                  "receiverMobile", "postNo", "receiverAddr", "entpGoodsNo", "goodsCode", "goodsName", "goodsDtCode",
                  "goodsDtInfo", "syslast", "buyPrice", "describeNote", "custName", "invoiceNo", "invoiceDate",
                  "custId", "packYnStr", "claimReason")
STORES_FIELDS = ("itemNo", "isRedStr", "storeIdName", "completeOrderNo", "remark5VStr", "msgNote", "reason",
                 "orderGbStr", "msg", "lastPricDate", "delyHopeDate", "receiverMask", "receiver", "entpGoodsNo",
                 "goodsCode", "goodsName", "goodsDtCode", "goodsDtInfo", "syslast", "buyPrice", "salePrice",
                 "describeNote", "custNameMask", "invoiceNo", "invoiceDate", "custId", "packYnStr", "boxYn")
THIRD_FIELDS = ("itemNo", "isRedStr", "completeOrderNo", "remark5VStr", "msgNote", "scmDelyDate", "orderDelyGbName",
                "outplacePost", "outplaceAddr", "outplaceRtnPost", "outplaceRtnAddr", "orderGbStr", "msg",
                "receiverMask", "postNo", "receiverAddrMask", "lastPricDate", "delyHopeDate", "entpGoodsNo",
                "goodsCode", "goodsName", "goodsDtCode", "goodsDtInfo", "syslast", "buyPrice", "salePrice",
                "describeNote", "custNameMask", "invoiceNo", "invoiceDate", "custId", "packYnStr", "boxYn",
                "claimReason", "scm_msg")
FIELDS = {"company": COMPANY_FIELDS, "stores": STORES_FIELDS, "third": THIRD_FIELDS}
STOP_FIELDS = ("itemNo", "allowExecuteYN", "completeOrderNo", "notAllowReason", "returnReason", "receiver",
               "entpGoodsNo", "goodsCode", "goodsName", "goodsDtCode", "goodsDtInfo", "syslast", "msgNote", "packYnStr")
SENDING_STORES_FIELDS = ("itemNo", "completeOrderNo", "slip_i_no", "storeId", "storeName", "remark5_vStr",
                         "msg_note", "create_date", "overDays", "dely_hope_date", "slip_no", "box_yn", "order_gb_str",
                         "cust_name", "receiver", "entp_goods_no", "goods_code", "goods_name", "goodsdt_code",
                         "goodsdt_info", "syslast", "code_name")
SENDING_THIRD_FIELDS = ("itemNo", "completeOrderNo", "slip_i_no", "remark5_vStr", "msg_note", "scm_msg",
                        "dely_hope_date", "create_date", "slip_no", "overDays", "scm_dely_date", "box_yn",
                        "order_gb_str", "cust_name_mask", "receiver_mask", "entp_goods_no", "goods_code", "goods_name",
                        "goodsdt_code", "goodsdt_info", "syslast", "code_name", "dely_gbStr")
SENDING_WINDOW = ("fromDate", "fromHour", "fromMinute", "toDate", "toHour", "toMinute")
#: store / third-party "in delivery" sub-states right after the finish call (Java and TypeScript definitions)
SENDING_STATUS = {"stores": ("1", "已印單待驗收"), "third": ("1", "已印單")}
FINISH_ACTIONS = {"unsendStoresFinish": "stores", "unsendThirdFinish": "third"}
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


def _counted(**lists: list[str]) -> dict[str, Any]:
    """A ``resultInfo``: each list with its count as a string (the Java client reads them with getString)."""
    info: dict[str, Any] = {}
    for name, items in lists.items():
        info[name.replace("List", "Cnt")] = str(len(items))
        info[name] = items
    return info


class _BadRequest(Exception):
    """A validation failure answered as ``basicCheckMsgList``."""


class MomoSandbox(Sandbox):
    """The momo SCM order servlet; admin helpers create vendors, orders and stop-shipping requests."""

    platform_type = "momo"

    def __init__(self, *, clock: SandboxClock | None = None, seed: int = 1, rate_limit: int = 200,
                 max_window_months: int = 2, encrypted_queries: tuple[str, ...] = ("unsendCompanyQuery",),
                 stop_keeps_unsent: bool = False):
        super().__init__(clock=clock, seed=seed)
        self.encrypted_queries = encrypted_queries
        self.stop_keeps_unsent = stop_keeps_unsent
        self.limiter = RateLimiter(rate_limit, self.clock)
        self.max_window_months = max_window_months
        self.vendors: dict[str, dict[str, str]] = {}
        # entpCode -> completeOrderNo -> row (public fields plus _kind, _transfer, _state, routing and answers)
        self.rows: dict[str, dict[str, dict[str, Any]]] = {}
        self._numbers: dict[str, set[str]] = {}  # order numbers in use per vendor (numbers are times)
        self.corrupt_data_lists = 0  # answer the next N queries with an undecryptable dataList
        self._lock = threading.RLock()
        self._rng = random.Random(seed)
        self._shop_seq = 0
        self._slip_seq = 0
        self.actions: list[str] = []  # the doAction of every request that passed the login, in order
        # test knobs: the next N confirm rows are not executed (undoList) / executed but reported in no list
        self.undo_next = 0
        self.silent_next = 0

    # -- wire ---------------------------------------------------------------------------------------
    def error_body(self, code: str, message: str) -> Any:
        return {"ERROR": message}

    def is_detail_read(self, request: Request) -> bool:
        """momo has no detail call: a query filtered by order number (``*_orderNo``, the stop list's ``orderNo``)
        is its way of reading orders by number."""
        try:
            body = json.loads(request.get_data(as_text=True) or "null")
        except ValueError:
            return False
        info = body.get("sendInfo") if isinstance(body, dict) else None
        return isinstance(info, dict) and any(k.endswith("orderNo") and info[k] for k in info)

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
        action = str(body.get("doAction") or "")
        with self._lock:
            self.actions.append(action)
        handlers = {"stopSendingQuery": lambda: self._stop_query(vendor, body.get("sendInfo")),
                    "stopSendingConfirm": lambda: self._stop_confirm(vendor, body.get("sendInfoList")),
                    "unsendCompanyConfirm": lambda: self._company_confirm(vendor, body.get("sendInfoList")),
                    "sendingStoresQuery": lambda: self._sending(vendor, "stores", body.get("sendInfo")),
                    "sendingThirdQuery": lambda: self._sending(vendor, "third", body.get("sendInfo"))}
        try:
            if action in QUERY_FIELDS:
                return self._query(vendor, action, body.get("sendInfo"))
            if action in FINISH_ACTIONS:
                return self._finish(vendor, action, body.get("sendInfoList"))
            if action in handlers:
                return handlers[action]()
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

    @staticmethod
    def _required(info: Any, fields: tuple[str, ...]) -> dict[str, Any]:
        if not isinstance(info, dict):
            raise _BadRequest("sendInfo 不可為空")
        missing = [name for name in fields if name not in info]
        if missing:
            raise _BadRequest(f"缺少欄位: {', '.join(missing)}")
        return info

    def _window(self, names: tuple[str, ...], info: dict[str, Any]) -> tuple[datetime, datetime]:
        """``names`` = (fr_dd, fr_hh, fr_mm, to_dd, to_hh, to_mm) field names; [start, end) in UTC."""
        bounds = []
        for dd_name, hh_name, mm_name in (names[:3], names[3:]):
            dd, hh, mm = (str(info.get(n, "")) for n in (dd_name, hh_name, mm_name))
            if not _DATE_RE.match(dd):
                raise _BadRequest(f"{dd_name} 日期格式錯誤(yyyy/MM/dd)")
            try:
                local = datetime.strptime(f"{dd} {int(hh):02d}:{int(mm):02d}", "%Y/%m/%d %H:%M")
            except ValueError:
                raise _BadRequest(f"{hh_name} / {mm_name} 時間格式錯誤") from None
            bounds.append(local.replace(tzinfo=TAIPEI))
        start, end = bounds
        if start > end:
            raise _BadRequest("查詢起日不可大於迄日")
        if end > _add_months(start, self.max_window_months):
            raise _BadRequest(f"查詢區間最大區間{self.max_window_months}個月")
        return start.astimezone(UTC), (end + timedelta(minutes=1)).astimezone(UTC)

    def _query(self, vendor: str, action: str, info: Any) -> Response:
        prefix, optional = QUERY_FIELDS[action]
        window = tuple(f"{prefix}_{side}_{part}" for side in ("fr", "to") for part in ("dd", "hh", "mm"))
        info = self._required(info, window + optional)
        start, end = self._window(window, info)
        wanted: dict[str, str] = {}
        if prefix == "stores":
            wanted["_dely_gb"] = self._code(info, "dely_gb", STORE_CHAINS)
            special = str(info.get("stores_special") or "")
            if special not in ("", "Y", "N"):
                raise _BadRequest("stores_special 只能是 Y 或 N")
        if prefix == "third":
            wanted["_delyGb"] = self._code(info, "third_delyGb", THIRD_CARRIERS)
            wanted["_delyTemp"] = self._code(info, "third_delyTemp", THIRD_TEMPS)
            order_gb = str(info.get("third_orderGb") or "")
            if order_gb not in ("", "10", "40"):
                raise _BadRequest("third_orderGb 錯誤 (空值: 全部, 10: 一般訂單, 40: 交換配送訂單)")
            if order_gb:
                wanted["_orderGb"] = order_gb
        order_no = str(info.get(f"{prefix}_orderNo") or "")
        receiver = str(info.get(f"{prefix}_receiver") or "")
        with self._lock:
            rows = [self._public(r) for r in self.rows.get(vendor, {}).values()
                    if r["_kind"] == prefix and self._unsent(r) and start <= r["_transfer"] < end
                    and r["completeOrderNo"].startswith(order_no) and (not receiver or r.get("receiver") == receiver)
                    and all(r.get(key) == value for key, value in wanted.items())]
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

    @staticmethod
    def _code(info: dict[str, Any], name: str, known: dict[str, str]) -> str:
        value = str(info.get(name) or "")
        if value not in known:  # the SCM has no "all" value: each code is queried on its own
            raise _BadRequest(f"{name} 錯誤: {value!r} ({', '.join(known)})")
        return value

    def _unsent(self, row: dict[str, Any]) -> bool:
        return row["_state"] == "unsent" or (row["_state"] == "stop_requested" and self.stop_keeps_unsent)

    def _public(self, row: dict[str, Any]) -> dict[str, Any]:
        return {k: row[k] for k in FIELDS[row["_kind"]] if k in row}

    def _stop_query(self, vendor: str, info: Any) -> Response:
        info = self._required(info, ("receiver", "goodsCode", "orderNo", "entp_goods_no"))
        order_no = str(info.get("orderNo") or "")
        with self._lock:
            rows = [{k: r[k] for k in STOP_FIELDS if k in r} for r in self.rows.get(vendor, {}).values()
                    if r["_state"] == "stop_requested" and r["completeOrderNo"].startswith(order_no)]
        if not rows:
            return json_response({"basicCheckMsgList": [NO_DATA]})
        return json_response({"dataList": rows})

    @staticmethod
    def _items(items: Any) -> list[dict[str, Any]]:
        if not isinstance(items, list) or not items or not all(isinstance(i, dict) for i in items):
            raise _BadRequest("sendInfoList 不可為空")
        return items

    def _divert(self) -> str | None:
        """``undo`` / ``silent`` for the next row while a test knob asks for it (momo's undoList exists; when momo
        answers with it, or leaves a row out of every list, is not public: the knobs let tests provoke both)."""
        if self.undo_next > 0:
            self.undo_next -= 1
            return "undo"
        if self.silent_next > 0:
            self.silent_next -= 1
            return "silent"
        return None

    def _stop_confirm(self, vendor: str, items: Any) -> Response:
        ok: list[str] = []
        fail: list[str] = []
        repeat: list[str] = []
        undo: list[str] = []
        with self._lock:
            rows = self.rows.get(vendor, {})
            for item in self._items(items):
                number = str(item.get("completeOrderNo") or "")
                row = rows.get(number)
                divert = self._divert()
                if divert == "undo":
                    undo.append(number)
                    continue
                act = str(item.get("stopAct") if item.get("stopAct") is not None else "")
                if row is None or row.get("_stop_act") is None and row["_state"] != "stop_requested":
                    fail.append(f"{number} : 查無攔貨資料")
                elif row.get("_stop_act") is not None:
                    repeat.append(number)
                elif act not in ("0", "1"):
                    fail.append(f"{number} : stopAct 錯誤 (1: 確定攔貨 0: 來不及攔貨)")
                elif row["allowExecuteYN"] != "Y":
                    fail.append(f"{number} : 不可執行攔貨 {row.get('notAllowReason') or ''}".rstrip())
                else:
                    row.update(_state="intercepted" if act == "1" else "returning", _stop_act=act,
                               _stop_answered_at=self.clock.now())
                    if divert != "silent":
                        ok.append(number)
        info = _counted(undoList=undo, okList=ok, failList=fail)
        if repeat:
            info.update(_counted(confirmRepeatList=repeat))
        return json_response({"resultInfo": info})

    def _company_confirm(self, vendor: str, items: Any) -> Response:
        ok: list[str] = []
        fail: list[str] = []
        repeat: list[str] = []
        undo: list[str] = []
        with self._lock:
            rows = self.rows.get(vendor, {})
            for item in self._items(items):
                number = str(item.get("completeOrderNo") or "")
                row = rows.get(number)
                divert = self._divert()
                if divert == "undo":
                    undo.append(number)
                    continue
                if row is not None and row["_kind"] == "company" and row["_state"] == "shipped":
                    repeat.append(number)
                    continue
                problem = self._company_problem(row, item)
                if problem:
                    fail.append(f"{number} : {problem}")
                    continue
                row.update(_state="shipped", remark5VStr=item["remark5VStr"], slipNo=item["slipNo"],
                           delyGbStr=item["delyGbStr"], msgNote=str(item.get("msgNote") or ""),
                           _shipped_at=self.clock.now())
                if divert != "silent":
                    ok.append(number)
        return json_response({"resultInfo": {
            **_counted(undoList=undo, confirmOkList=ok, confirmFailList=fail, confirmRepeatList=repeat),
            "saveMsgOkCnt": "0", "saveMsgFailCnt": "0", "saveMsgFailList": []}})

    def _company_problem(self, row: dict[str, Any] | None, item: dict[str, Any]) -> str | None:
        if row is None or row["_kind"] != "company":
            return "查無此訂單"
        if not self._unsent(row):
            stopped = row["_state"] in ("stop_requested", "intercepted")
            return "訂單已攔貨, 不可出貨" if stopped else "訂單不在未出貨清單"
        if item.get("remark5VStr") != "已配送":
            return f"remark5VStr 不支援: {item.get('remark5VStr')!r}"
        if not str(item.get("slipNo") or "").strip():
            return "已配送時 slipNo 必填"
        if item.get("delyGbStr") not in COMPANY_CARRIERS:
            return f"delyGbStr 錯誤: {item.get('delyGbStr')!r}"
        return None

    def _finish(self, vendor: str, action: str, items: Any) -> Response:
        kind = FINISH_ACTIONS[action]
        slips: dict[str, str] = {}
        ok: list[str] = []
        fail: list[str] = []
        repeat: list[str] = []
        undo: list[str] = []
        with self._lock:
            rows = self.rows.get(vendor, {})
            for item in self._items(items):
                number = str(item.get("completeOrderNo") or "")
                row = rows.get(number)
                divert = self._divert()
                if divert == "undo":
                    undo.append(number)
                    continue
                if row is not None and row["_kind"] == kind and row["_state"] == "shipping":
                    repeat.append(number)
                    continue
                problem = self._finish_problem(row, kind, item)
                if problem:
                    fail.append(f"{number} : {problem}")
                    continue
                order_no = number.split("-")[0]
                if order_no not in slips:  # one slip (one box) per order and finish call
                    self._slip_seq += 1
                    slips[order_no] = f"M{self._slip_seq:011d}"
                row.update(_state="shipping", _shipped_at=self.clock.now(), _slip_no=slips[order_no],
                           _packaging={k: str(item[k]) for k in ("shipTypeStr", "packTypeStr", "packUnit")})
                if divert != "silent":
                    ok.append(number)
        info = _counted(undoList=undo, confirmOkList=ok, confirmFailList=fail, confirmRepeatList=repeat)
        return json_response({"resultInfo": [info] if kind == "stores" else info})

    def _finish_problem(self, row: dict[str, Any] | None, kind: str, item: dict[str, Any]) -> str | None:
        if row is None or row["_kind"] != kind:
            return "查無此訂單"
        if not self._unsent(row):
            return "訂單不在未出貨清單"
        if item.get("remark5VStr") != "可出貨":
            return f"remark5VStr 只能是 可出貨, 不是 {item.get('remark5VStr')!r}"
        empty = [k for k in ("shipTypeStr", "packTypeStr", "packUnit") if not str(item.get(k) or "").strip()]
        if empty:
            return f"包材欄位必填: {', '.join(empty)}"
        return None

    def _sending(self, vendor: str, kind: str, info: Any) -> Response:
        extra = ("receiver", "orderNo", "status", "dely_gb") if kind == "stores" else \
            ("receiver", "orderNo", "status", "logistics")
        info = self._required(info, SENDING_WINDOW + extra)
        start, end = self._window(SENDING_WINDOW, info)
        if kind == "stores":
            code, key = self._code(info, "dely_gb", STORE_CHAINS), "_dely_gb"
        else:
            code, key = self._code(info, "logistics", THIRD_CARRIERS), "_delyGb"
        status = str(info.get("status") or "")
        order_no = str(info.get("orderNo") or "")
        with self._lock:
            rows = [self._sending_row(r) for r in self.rows.get(vendor, {}).values()
                    if r["_kind"] == kind and r["_state"] == "shipping" and r.get(key) == code
                    and status == SENDING_STATUS[kind][0] and start <= r["_transfer"] < end
                    and r["completeOrderNo"].startswith(order_no)]
        if not rows:
            return json_response({"basicCheckMsgList": [NO_DATA]})
        return json_response({"dataList": rows})

    @staticmethod
    def _sending_row(row: dict[str, Any]) -> dict[str, Any]:
        kind = row["_kind"]
        shipped = row["_shipped_at"].astimezone(TAIPEI).strftime("%Y/%m/%d")
        out = {"itemNo": row["itemNo"], "completeOrderNo": row["completeOrderNo"], "slip_i_no": row["_slip_no"],
               "remark5_vStr": "可出貨", "msg_note": "", "create_date": shipped, "overDays": "0",
               "dely_hope_date": row["delyHopeDate"], "slip_no": row["_slip_no"], "box_yn": "00",
               "order_gb_str": row["orderGbStr"], "entp_goods_no": row["entpGoodsNo"], "goods_code": row["goodsCode"],
               "goods_name": row["goodsName"], "goodsdt_code": row["goodsDtCode"], "goodsdt_info": row["goodsDtInfo"],
               "syslast": row["syslast"], "code_name": SENDING_STATUS[kind][1]}
        if kind == "stores":
            out.update(storeId=row["_store_id"], storeName=row["storeIdName"], cust_name=row["custNameMask"],
                       receiver=row["receiverMask"])
            return {k: out[k] for k in SENDING_STORES_FIELDS if k in out}
        out.update(scm_msg=row.get("scm_msg", ""), scm_dely_date="", cust_name_mask=row["custNameMask"],
                   receiver_mask=row["receiverMask"], dely_gbStr=row["orderDelyGbName"])
        return {k: out[k] for k in SENDING_THIRD_FIELDS if k in out}

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

        ``kind`` (``company``/``stores``/``third``, or ``kinds`` to cycle) picks the list an order shows in;
        ``times=[...]`` gives exact transfer times; ``status`` may be ``ready_to_ship`` or ``paid`` (both:
        unsent, the only state momo lists) or ``cancelled`` (a company order momo asks to stop: in the stop
        list). ``temps=("01", "02")`` splits third-party orders over two temperatures. Two orders in the same
        second get consecutive seconds (order numbers are times).
        """
        status = options.get("status") or "ready_to_ship"
        if status not in ("ready_to_ship", "paid", "cancelled"):
            raise ValueError(f"momo lists only unsent (ready_to_ship/paid) or stop-requested orders, not {status!r}")
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
                self._add_order(rows, number, when, kinds[i % len(kinds)], rng, options.get("temps"))
                if status == "cancelled":
                    self._request_stop(rows, number, allowed=True, reason="", return_reason="客戶取消訂單")
                numbers.append(number)
        return numbers

    def _add_order(self, rows: dict[str, dict[str, Any]], number: str, when: datetime, kind: str,
                   rng: random.Random, temps: Any = None) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown momo order kind {kind!r}; known: {', '.join(KINDS)}")
        name, phone, address = data.person_name(rng), data.mobile(rng), data.tw_address(rng)
        buyer = data.person_name(rng)
        common = {"isRedStr": "正常", "remark5VStr": "可出貨", "msgNote": "", "orderGbStr": "一般訂單",
                  "msg": rng.choice(("", "(週一不配送)")), "lastPricDate": when.strftime("%Y/%m/%d"),
                  "delyHopeDate": (when + timedelta(days=3)).strftime("%Y/%m/%d"), "describeNote": "",
                  "invoiceNo": f"JF{rng.randrange(10**8):08d}", "invoiceDate": when.strftime("%Y/%m/%d"),
                  "custId": f"{rng.randrange(10000):04d}", "packYnStr": "否"}
        routing: dict[str, Any] = {"_kind": kind, "_transfer": when.astimezone(UTC), "_state": "unsent"}
        if kind == "company":
            head = {**common, "scmDelyDate": "", "delyGbStr": "", "slipNo": "", "receiver": name, "receiverTel": "",
                    "receiverMobile": phone, "postNo": address["zip"], "receiverAddr": address["full"],
                    "custName": buyer[0] + "O" + buyer[2:], "claimReason": ""}
        elif kind == "stores":
            chain = rng.choice(tuple(STORE_CHAINS))
            store = f"{STORE_CHAINS[chain]} {address['district']}{rng.choice(data.STREETS)}門市"
            head = {**common, "storeIdName": store, "reason": "", "receiverMask": _mask_name(name),
                    "receiver": _mask_name(name), "custNameMask": buyer[0] + "O" + buyer[2:], "boxYn": "00"}
            routing.update(_dely_gb=chain, _store_id=f"{rng.randrange(10**6):06d}")
        else:
            carrier = rng.choice(tuple(THIRD_CARRIERS))
            head = {**common, "scmDelyDate": "", "orderDelyGbName": THIRD_CARRIERS[carrier], "outplacePost": "330",
                    "outplaceAddr": "桃園市桃園區中正路1號", "outplaceRtnPost": "330",
                    "outplaceRtnAddr": "桃園市桃園區中正路1號", "receiverMask": _mask_name(name),
                    "postNo": address["zip"], "receiverAddrMask": f"{address['city']}{address['district']}****",
                    "custNameMask": buyer[0] + "O" + buyer[2:], "boxYn": "00", "claimReason": "",
                    "scm_msg": rng.choice(("", "請小心輕放"))}
            routing.update(_delyGb=carrier, _orderGb="10")
        products = data.pick_products(rng)
        temp_codes = list(temps or [rng.choice(("01", "02"))])
        for seq, (product, qty) in enumerate(products, start=1):
            complete = f"{number}-{seq:03d}-001-001"
            row: dict[str, Any] = {
                **head, "itemNo": str(seq), "completeOrderNo": complete, "entpGoodsNo": product.sku,
                "goodsCode": PRODUCTS_CODE[product.sku], "goodsName": product.name, "goodsDtCode": "001",
                "goodsDtInfo": "無", "syslast": str(qty), "buyPrice": str(buy_price(product.price)), **routing}
            if kind != "company":
                row["salePrice"] = str(product.price)
            if kind == "third":
                row["_delyTemp"] = temp_codes[(seq - 1) % len(temp_codes)]
            rows[complete] = row

    @staticmethod
    def _request_stop(rows: dict[str, dict[str, Any]], number: str, *, allowed: bool, reason: str,
                      return_reason: str) -> None:
        mine = [r for n, r in rows.items() if n.split("-")[0] == number]
        if any(r["_kind"] != "company" for r in mine):
            raise ValueError(f"momo order {number} is not vendor-delivered: only 廠商配送 orders can be stopped (攔貨)")
        for row in mine:
            if row["_state"] in ("unsent", "stop_requested"):
                row.update(_state="stop_requested", allowExecuteYN="Y" if allowed else "N",
                           notAllowReason="" if allowed else (reason or "待排程處理"), returnReason=return_reason)

    def request_stop(self, shop_id: str, external_id: str, *, allowed: bool = True, reason: str = "",
                     return_reason: str = "客戶取消訂單") -> None:
        """momo asks the vendor to stop a company order (攔貨); ``allowed=False`` lists it with
        ``allowExecuteYN`` N and ``notAllowReason`` (default 待排程處理) until called again with True."""
        with self._lock:
            self._order_rows(shop_id, external_id)
            self._request_stop(self.rows[shop_id], external_id, allowed=allowed, reason=reason,
                               return_reason=return_reason)

    def stop_answer(self, shop_id: str, external_id: str) -> str | None:
        """The vendor's recorded ``stopAct`` for an order ("1" intercepted, "0" too late), or None."""
        with self._lock:
            acts = {r.get("_stop_act") for r in self._order_rows(shop_id, external_id)}
        return acts.pop() if len(acts) == 1 else None

    def _order_rows(self, shop_id: str, external_id: str) -> list[dict[str, Any]]:
        rows = [r for n, r in self.rows.get(shop_id, {}).items() if n.split("-")[0] == external_id]
        if not rows:
            raise KeyError(f"momo sandbox has no order {external_id} for vendor {shop_id}")
        return rows

    def update_order(self, shop_id: str, external_id: str, **changes: Any) -> None:
        """``status="cancelled"``: momo asks the vendor to stop a company order (the stop list); a store or
        third-party order, which momo's own logistics carries, simply leaves the unsent lists. ``receiver`` /
        ``phone`` / ``address`` edit it."""
        status = changes.get("status")
        if status not in (None, "cancelled", "ready_to_ship", "paid"):
            raise ValueError(f"momo can only cancel an unsent order, not set it to {status!r}")
        with self._lock:
            rows = self._order_rows(shop_id, external_id)
            if status == "cancelled":
                if rows[0]["_kind"] == "company":
                    self._request_stop(self.rows[shop_id], external_id, allowed=True, reason="",
                                       return_reason="客戶取消訂單")
                else:
                    for row in rows:
                        row["_state"] = "cancelled"
            for row in rows:
                if "receiver" in changes:
                    row["receiver"] = changes["receiver"]
                    if "receiverMask" in row:
                        row["receiverMask"] = changes["receiver"]
                if "phone" in changes and row["_kind"] == "company":
                    row["receiverMobile"] = changes["phone"]
                if "address" in changes and row["_kind"] == "company":
                    address = changes["address"]
                    row["receiverAddr"] = address if isinstance(address, str) else address.get("full", "")

    def shipment_of(self, shop_id: str, external_id: str) -> dict[str, Any] | None:
        """The confirmed shipment: company rows carry the vendor's slip and carrier; store and third-party
        rows the slip number momo assigned at the finish call (with the packaging sent)."""
        with self._lock:
            rows = self._order_rows(shop_id, external_id)
            shipped = [r for r in rows if r["_state"] in ("shipped", "shipping")]
            if not shipped:
                return None
            first = shipped[0]
            if first["_kind"] == "company":
                return {"tracking_number": first["slipNo"], "carrier": first["delyGbStr"],
                        "lines": sorted(r["completeOrderNo"] for r in shipped)}
            return {"tracking_number": first["_slip_no"],
                    "carrier": first.get("orderDelyGbName") or first.get("storeIdName"),
                    "packaging": first["_packaging"], "lines": sorted(r["completeOrderNo"] for r in shipped)}


def buy_price(consumer_price: Decimal) -> Decimal:
    """The vendor's tax-inclusive purchase price (進價含稅) of a sample product: 75 % of its consumer price."""
    return (consumer_price * Decimal("0.75")).quantize(Decimal(1), rounding=ROUND_HALF_UP)


#: momo's own goods codes for the sample products (momo numbers its goods; 7 digits).
PRODUCTS_CODE = {p.sku: f"{5000000 + i * 1373:07d}" for i, p in enumerate(data.PRODUCTS)}
