"""momo SCM client: the ``POST /OrderServlet.do`` envelope, window fields, ``dataList`` decryption, errors.

Only I/O lives here (mapping is in :mod:`platforms.momo.mapping`). Every call is
``{"doAction", "loginInfo", "sendInfo"|"sendInfoList"}`` JSON; momo has no token, the login goes
with every request (spec §3). Retries are decided by :mod:`platforms.http`; this module only sorts
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

Choices where the spec says nothing:

- a top-level ``ERROR`` other than a login failure is taken as momo being unwell (retry), since
  every known validation problem comes back in ``basicCheckMsgList`` instead;
- no pagination is documented, so one query returns the whole window; the adapter keeps windows
  short enough (``max_window_days``) and memory is bounded by one window's rows.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import requests

from platforms.base import CredentialsInvalid, PermanentError, RateLimited, TransientError
from platforms.http import HttpClient, RetryPolicy, json_body, json_headers, parse_retry_after
from platforms.momo.crypto import DataListError, decrypt_data_list

__all__ = ["MomoClient", "QUERIES", "STOP_QUERY", "NO_DATA", "classify", "window_fields", "TAIPEI"]

PLATFORM = "momo"
TAIPEI = ZoneInfo("Asia/Taipei")
NO_DATA = "查無資料"
ORDER_PATH = "/OrderServlet.do"
STOP_QUERY = "stopSendingQuery"

#: doAction -> (field prefix, optional fields always sent as "")
QUERIES: dict[str, tuple[str, tuple[str, ...]]] = {
    "unsendCompanyQuery": ("company", ("company_receiver", "company_goodsCode", "company_orderNo",
                                       "company_entpGoodsNo", "company_orderGb")),
    "unsendStoresQuery": ("stores", ("stores_receiver", "stores_goodsCode", "stores_orderNo",
                                     "stores_entpGoodsNo", "stores_special", "dely_gb")),
    "unsendThirdQuery": ("third", ("third_receiver", "third_goodsCode", "third_orderNo",
                                   "third_entpGoodsNo", "third_delyGb", "third_delyTemp")),
}


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
              check: Callable[[requests.Response], Any] = classify) -> Any:
        body = {"doAction": do_action, "loginInfo": self.login, **payload}
        return self.http.request("POST", self.path, json=body, classify=check)

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
        """``stopSendingQuery``: rows momo asks the vendor to stop (攔貨: the buyer cancelled before shipping).

        ref: third-party Java client ``GetOrderstopSendingQuery``; no time window, optional filters as "".
        """
        send_info = {"receiver": "", "goodsCode": "", "orderNo": order_no, "entp_goods_no": ""}
        return self._post("stopSendingQuery", {"sendInfo": send_info}, check=lambda r: self._rows(classify(r)))

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

    def confirm_company(self, items: Sequence[Mapping[str, str]]) -> dict[str, Any]:
        """``unsendCompanyConfirm``: the ``resultInfo`` of confirming these rows (ref: spec §3 "Ship confirm")."""
        body = self._post("unsendCompanyConfirm", {"sendInfoList": [dict(i) for i in items]})
        result = body.get("resultInfo")
        if not isinstance(result, dict):
            raise TransientError("momo confirm answer has no resultInfo", platform=PLATFORM)
        return result
