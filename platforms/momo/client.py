"""momo SCM client: the ``POST /OrderServlet.do`` envelope, window fields, ``dataList`` decryption, errors.

Only I/O lives here (mapping is in :mod:`platforms.momo.mapping`). Every call is
``{"doAction", "loginInfo", "sendInfo"|"sendInfoList"}`` JSON; momo has no token, the login goes
with every request (spec §3). Retries are decided by :mod:`oms_bridge.remote.http`; this module only sorts
answers into the error tree (:func:`classify`):

==========================================  ===========================================
answer                                      error
==========================================  ===========================================
HTTP 429                                    RateLimited (Retry-After honoured)
HTTP 5xx, not JSON, undecryptable dataList  TransientError
``{"ERROR": "登入失敗"}`` (any 登入)          CredentialsInvalid (admin fixes the login)
``{"ERROR": <other>}``                      TransientError (momo-side failure; choice, see below)
``{"basicCheckMsgList": ["查無資料"]}``        no error: an empty result
``{"basicCheckMsgList": [<other>...]}``     PermanentError with the messages
other HTTP 4xx                              PermanentError
==========================================  ===========================================

Choices where the sources say nothing:

- a top-level ``ERROR`` other than a login failure is taken as momo being unwell (retry), since
  every known validation problem comes back in ``basicCheckMsgList`` instead;
- no pagination is documented, so one query returns the whole window; the adapter keeps windows
  short enough (``max_window_days``) and memory is bounded by one window's rows.

State-changing calls (:meth:`MomoClient.confirm`: ``unsendCompanyConfirm``, ``unsendStoresFinish``,
``unsendThirdFinish``, ``stopSendingConfirm``) go out with ``idempotent=False``: a lost or unreadable answer
(no ``resultInfo`` either) raises :class:`~platforms.base.OutcomeUnknown` after one request; the caller reads
momo's lists before sending again. Their ``resultInfo`` is read by :mod:`platforms.momo.results` alone.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from oms_bridge.remote.http import HttpClient, RetryPolicy, json_body, json_headers, parse_retry_after
from platforms.base import CredentialsInvalid, PermanentError, RateLimited, TransientError
from platforms.momo.crypto import DataListError, decrypt_data_list
from platforms.momo.results import result_infos

__all__ = ["MomoClient", "QUERIES", "STOP_QUERY", "NO_DATA", "classify", "window_fields", "TAIPEI", "SENDING",
           "STORE_CHAINS", "THIRD_CARRIERS", "THIRD_TEMPS", "CONFIRM_ACTIONS"]

PLATFORM = "momo"
TAIPEI = ZoneInfo("Asia/Taipei")
NO_DATA = "查無資料"
ORDER_PATH = "/OrderServlet.do"
STOP_QUERY = "stopSendingQuery"

#: doAction -> (field prefix, optional fields always sent, as "" unless a filter sets them). ``third_orderGb``
#: ("" all, 10 一般訂單, 40 交換配送訂單) is in Momo.java and the TypeScript client's documented payload.
QUERIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "unsendCompanyQuery": ("company", ("company_receiver", "company_goodsCode", "company_orderNo",
                                       "company_entpGoodsNo", "company_orderGb")),
    "unsendStoresQuery": ("stores", ("stores_receiver", "stores_goodsCode", "stores_orderNo",
                                     "stores_entpGoodsNo", "stores_special", "dely_gb")),
    "unsendThirdQuery": ("third", ("third_receiver", "third_goodsCode", "third_orderNo",
                                   "third_entpGoodsNo", "third_orderGb", "third_delyGb", "third_delyTemp")),
}
#: store pickup ``dely_gb`` codes, third-party ``third_delyGb`` carriers and ``third_delyTemp`` temperatures
#: (TypeScript client definitions, Momo.java comments). momo has no "all" value for them: each is queried.
STORE_CHAINS = {"21": "7-11", "27": "全家", "28": "7-11 店到店", "29": "全家 店到店", "2A": "OK mart", "2B": "萊爾富"}
THIRD_CARRIERS = {"61": "宅配通", "62": "新竹貨運", "63": "宅急便", "65": "(code 65, name not public)"}
THIRD_TEMPS = {"01": "常溫", "02": "冷凍", "03": "冷藏"}
#: in-delivery ("出貨中") read-back per list: doAction, the code field, the ``status`` codes to ask
SENDING: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "unsendStoresQuery": ("sendingStoresQuery", "dely_gb", ("1", "2", "3", "4", "5")),
    "unsendThirdQuery": ("sendingThirdQuery", "logistics", ("1", "2")),
}
#: the state-changing doActions, all read by platforms.momo.results
CONFIRM_ACTIONS = ("unsendCompanyConfirm", "unsendStoresFinish", "unsendThirdFinish", "stopSendingConfirm")


def window_fields(prefix: str, start: datetime, end: datetime) -> dict[str, str]:
    """``<prefix>_fr_dd/hh/mm`` and ``<prefix>_to_dd/hh/mm`` in Asia/Taipei (``yyyy/MM/dd``, ``HH``, ``mm``)."""
    fields: dict[str, str] = {}
    for side, when in (("fr", start), ("to", end)):
        local = when.astimezone(TAIPEI)
        fields[f"{prefix}_{side}_dd"] = local.strftime("%Y/%m/%d")
        fields[f"{prefix}_{side}_hh"] = local.strftime("%H")
        fields[f"{prefix}_{side}_mm"] = local.strftime("%M")
    return fields


def classify(response: requests.Response) -> dict[str, Any]:
    """The JSON body of a good answer, or the typed error (table in the module docstring)."""
    status = response.status_code
    if status == 429:
        raise RateLimited("momo rate limit reached", platform=PLATFORM, status=status,
                          retry_after=parse_retry_after(response.headers.get("Retry-After")))
    if status >= 500:
        raise TransientError(f"momo server error HTTP {status}", platform=PLATFORM, status=status)
    try:
        body = json_body(response, platform=PLATFORM)
    except TransientError:
        if status >= 400:
            raise PermanentError(f"momo refused the request: HTTP {status}", platform=PLATFORM, status=status) from None
        raise
    if not isinstance(body, dict):
        raise TransientError(f"momo answered with JSON {type(body).__name__}, expected an object",
                             platform=PLATFORM, status=status)
    if "ERROR" in body:
        message = str(body["ERROR"])
        if "登入" in message:
            raise CredentialsInvalid(f"momo login rejected ({message}): check entpID, entpCode, entpPwd and "
                                     "otpBackNo", platform=PLATFORM, code="ERROR", status=status)
        raise TransientError(f"momo error: {message}", platform=PLATFORM, code="ERROR", status=status)
    messages = [str(m) for m in body.get("basicCheckMsgList") or []]
    problems = [m for m in messages if NO_DATA not in m]
    if problems:
        raise PermanentError("momo rejected the request: " + "; ".join(problems), platform=PLATFORM,
                             code="basicCheckMsgList", status=status)
    if status >= 400:
        raise PermanentError(f"momo refused the request: HTTP {status}", platform=PLATFORM, status=status)
    return body


class MomoClient:
    """One vendor login (entpID/entpCode/entpPwd/otpBackNo) against one host."""

    def __init__(self, host: str, login: Mapping[str, Any], *, policy: RetryPolicy | None = None,
                 user_agent: str | None = None, path: str = ORDER_PATH):
        missing = [k for k in ("entpID", "entpCode", "entpPwd") if not str(login.get(k) or "").strip()]
        if missing:
            raise CredentialsInvalid(f"momo credentials incomplete: missing {', '.join(missing)}", platform=PLATFORM)
        self.login = {
            "entpID": str(login["entpID"]).strip(),
            "entpCode": str(login["entpCode"]).strip(),
            "entpPwd": str(login["entpPwd"]),
            "otpBackNo": str(login.get("otpBackNo") or ""),
        }
        self.path = path
        self.http = HttpClient(host, platform=PLATFORM, classify=classify, policy=policy,
                               headers=json_headers(user_agent))

    @property
    def calls(self) -> int:
        return self.http.calls

    def _post(self, do_action: str, payload: Mapping[str, Any],
              check: Callable[[requests.Response], Any] = classify, *, idempotent: bool = True) -> Any:
        body = {"doAction": do_action, "loginInfo": self.login, **payload}
        return self.http.request("POST", self.path, json=body, classify=check, idempotent=idempotent)

    def query_unsent(self, do_action: str, start: datetime, end: datetime,
                     filters: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
        """Rows of one unsent-order query over ``[start, end]`` (minutes, Asia/Taipei), decrypted.

        ref: spec §3 "Queries"; ``查無資料`` gives ``[]``. ``filters`` sets optional fields by name.
        """
        prefix, optional = QUERIES[do_action]
        send_info = {name: "" for name in optional}
        send_info.update(window_fields(prefix, start, end))
        for name, value in (filters or {}).items():
            if name not in send_info:
                raise ValueError(f"{do_action} has no field {name!r}")
            send_info[name] = value
        # decrypting inside the classifier makes a truncated dataList retried like any transient answer
        return self._post(do_action, {"sendInfo": send_info}, check=lambda r: self._rows(classify(r)))

    def query_stop_sending(self, order_no: str = "") -> list[dict[str, Any]]:
        """``stopSendingQuery``: the rows momo asks the vendor to stop shipping (攔貨 requests, with
        ``allowExecuteYN`` / ``notAllowReason``); no time window, optional filters as "" (Momo.java)."""
        send_info = {"receiver": "", "goodsCode": "", "orderNo": order_no, "entp_goods_no": ""}
        return self._post("stopSendingQuery", {"sendInfo": send_info}, check=lambda r: self._rows(classify(r)))

    def query_sending(self, unsent_query: str, start: datetime, end: datetime, code: str, status: str,
                      order_no: str = "") -> list[dict[str, Any]]:
        """Rows of the in-delivery list of a store / third-party order (``sendingStoresQuery`` /
        ``sendingThirdQuery``) for one chain or carrier ``code`` and ``status``; where momo's slip number is."""
        action, code_field, _statuses = SENDING[unsent_query]
        send_info: dict[str, str] = {}
        for side, when in (("from", start), ("to", end)):
            local = when.astimezone(TAIPEI)
            send_info.update({f"{side}Date": local.strftime("%Y/%m/%d"), f"{side}Hour": local.strftime("%H"),
                              f"{side}Minute": local.strftime("%M")})
        send_info.update({"qryGoodsCode": "", "receiver": "", "orderNo": order_no, "entpGoodsCode": "",
                          "status": status, code_field: code})
        return self._post(action, {"sendInfo": send_info}, check=lambda r: self._rows(classify(r)))

    def _rows(self, body: Mapping[str, Any]) -> list[dict[str, Any]]:
        encoded = body.get("dataList")
        if encoded in (None, "", []):
            return []
        if isinstance(encoded, list):  # only unsendCompanyQuery is documented as encrypted; others are plain
            return [dict(r) for r in encoded if isinstance(r, Mapping)]
        try:
            rows = json.loads(decrypt_data_list(str(encoded), self.login["entpPwd"]))
        except DataListError as exc:
            raise TransientError(str(exc), platform=PLATFORM, code="dataList") from exc
        except ValueError as exc:
            raise TransientError("momo dataList decrypted to something that is not JSON", platform=PLATFORM,
                                 code="dataList") from exc
        if not isinstance(rows, list):
            raise TransientError("momo dataList is not a list of rows", platform=PLATFORM, code="dataList")
        return rows

    def confirm(self, do_action: str, items: Sequence[Mapping[str, str]]) -> tuple[Mapping[str, Any], ...]:
        """A state-changing call (:data:`CONFIRM_ACTIONS`) with ``sendInfoList``; its ``resultInfo`` objects.

        Sent once (``idempotent=False``): a lost answer, a 5xx or an answer without a readable ``resultInfo``
        raises :class:`~platforms.base.OutcomeUnknown` (momo may have applied it).
        """
        if do_action not in CONFIRM_ACTIONS:
            raise ValueError(f"{do_action} is not a momo confirm call")

        def check(response: requests.Response) -> tuple[Mapping[str, Any], ...]:
            infos = result_infos(classify(response))
            if infos is None:
                raise TransientError(f"momo {do_action} answer has no readable resultInfo", platform=PLATFORM)
            return infos

        return self._post(do_action, {"sendInfoList": [dict(i) for i in items]}, check=check, idempotent=False)
