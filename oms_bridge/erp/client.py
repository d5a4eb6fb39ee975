"""zeep client for iDempiere's SOAP ADInterface: ModelADService and compositeInterface.

Only I/O lives here: build the request from plain operation objects (:class:`CrudOp`,
:class:`DocActionOp`, produced by :mod:`oms_bridge.erp.mapping`), send it, and turn the answer into
plain results (:class:`StdResult`, rows as dicts) or a typed error:

- :class:`ErpTransient`: HTTP 5xx, timeouts, connection errors, SOAP Faults (the server turns a
  RuntimeException into a Fault), unparseable answers. The caller retries later through the
  delivery outbox; the client itself never re-sends a write, because only the POReference
  pre-check of the next run can tell whether the ERP committed the first attempt.
- :class:`ErpRejected`: the server answered ``IsError="true"`` for the whole call (its text kept);
  :class:`ErpLoginError` when the text is one of AbstractService.login's messages.

WSDLs are loaded from the server (``<url>/ModelADService?wsdl``, ``<url>/compositeInterface?wsdl``)
and cached in ``Settings.cache_dir`` (zeep SqliteCache, one day), so a real server and the sandbox
are reached the same way. The endpoint address is always ``<url>/<service>``: a server behind a
proxy often publishes an internal address in its WSDL.

Request bodies follow ``shared/specs/idempiere.md`` §7: ``RecordID`` is always sent (0 when
none), every field has a ``<val>`` (empty when ``lval`` is used). The login password is decrypted
by the caller and never appears in a log or error: a logging filter masks ``<pass>`` in zeep's
debug output and :class:`Login` hides it in ``repr``.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import zeep
from lxml import etree
from zeep.cache import SqliteCache
from zeep.exceptions import Error as ZeepError
from zeep.exceptions import Fault, TransportError
from zeep.transports import Transport

from oms_bridge.remote.telemetry import observe_call

__all__ = ["Login", "Field", "CrudOp", "DocActionOp", "Operation", "StdResult", "ErpClient", "ErpError",
           "ErpTransient", "ErpRejected", "ErpLoginError", "is_login_error", "NS"]

log = logging.getLogger("oms_bridge.erp.client")

NS = "http://idempiere.org/ADInterface/1_0"
#: ModelCRUD ports whose server method dereferences the DataRow unconditionally.
WRITE_PORTS = frozenset({"createData", "createUpdateData", "updateData"})
#: the ``platform`` label of the ERP's SOAP calls in ``oms_bridge_api_calls_total`` / ``..._latency_seconds``
METRICS_PLATFORM = "idempiere"
LOGIN_ERROR_PREFIXES = ("Error login", "Error logging in")
#: IdempiereServiceFault texts of a service type's configuration (queryData does not catch them, so they
#: arrive as SOAP Faults): not transient, the admin must act.
_CONFIG_FAULT = re.compile(r"Web service type \S+: (invalid parameter|input column|table \S+ not found)")


class ErpError(Exception):
    """Base of every ERP client error; the message is for the admin (no secrets)."""


class ErpTransient(ErpError):
    """Try again later: the server or the network failed, not the data."""


class ErpRejected(ErpError):
    """The server refused the whole call with this text (IsError=true)."""


class ErpLoginError(ErpRejected):
    """AbstractService.login refused the ADLoginRequest."""


def is_login_error(text: str | None) -> bool:
    return bool(text) and str(text).startswith(LOGIN_ERROR_PREFIXES)


class _MaskPassword(logging.Filter):
    """zeep logs whole envelopes at DEBUG; the ADLoginRequest password must not reach the log."""

    _re = re.compile(r"(<(?:\w+:)?pass>)[^<]*(</)")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if "pass>" in message:
            record.msg = self._re.sub(r"\1****\2", message)
            record.args = ()
        return True


for _name in ("zeep.transports", "zeep"):
    logging.getLogger(_name).addFilter(_MaskPassword())


@dataclass(frozen=True)
class Login:
    """ADLoginRequest. ``stage`` = minutes the server may reuse the session for identical login data."""

    user: str
    password: str = field(repr=False)
    client_id: int
    role_id: int
    org_id: int
    warehouse_id: int
    lang: str = "en_US"
    stage: int = 9

    def as_request(self) -> dict[str, Any]:
        return {"user": self.user, "pass": self.password, "lang": self.lang, "ClientID": self.client_id,
                "RoleID": self.role_id, "OrgID": self.org_id, "WarehouseID": self.warehouse_id, "stage": self.stage}


@dataclass(frozen=True)
class Field:
    """One ``<field column=..>``: a value, an ``@Table.Column`` reference, or a display text (``lval``)."""

    column: str
    val: str = ""
    lval: str | None = None


@dataclass(frozen=True)
class CrudOp:
    """A ModelCRUD operation (createData, createUpdateData, queryData, ...)."""

    target_port: str
    service_type: str
    table: str
    action: str
    fields: tuple[Field, ...] = ()
    record_id: int = 0
    filter: str | None = None
    # Which part of the order this operation carries ("order", "line:2", "bpartner", ...), for results.
    role: str = ""
    # Composite only: commit the group's work so far before this operation (the bridge never does:
    # an order's group must stay one transaction).
    pre_commit: bool = False

    def as_request(self) -> dict[str, Any]:
        crud: dict[str, Any] = {"serviceType": self.service_type, "TableName": self.table,
                                "RecordID": self.record_id, "Action": self.action}
        if self.filter is not None:
            crud["Filter"] = self.filter
        if self.fields or self.target_port in WRITE_PORTS:
            # The write methods call getDataRow().getFieldArray() with no null check (ModelADServiceImpl,
            # iDempiere 12): without a DataRow the server faults, so a write always carries one, empty or not.
            crud["DataRow"] = {"field": [{"column": f.column, "val": f.val, "lval": f.lval} for f in self.fields]}
        return crud


@dataclass(frozen=True)
class DocActionOp:
    """A ModelSetDocAction: ``record_id_variable`` (``@C_Order.C_Order_ID``) overrides ``record_id``."""

    service_type: str
    doc_action: str
    table: str = "C_Order"
    record_id: int = 0
    record_id_variable: str | None = None
    role: str = "docaction"
    target_port: str = "setDocAction"
    pre_commit: bool = False

    def as_request(self) -> dict[str, Any]:
        req: dict[str, Any] = {"serviceType": self.service_type, "tableName": self.table, "recordID": self.record_id}
        if self.record_id_variable:
            req["recordIDVariable"] = self.record_id_variable
        req["docAction"] = self.doc_action
        return req


Operation = CrudOp | DocActionOp


@dataclass
class StdResult:
    """One StandardResponse, flattened."""

    is_error: bool
    record_id: int | None = None
    error: str | None = None
    is_rolled_back: bool = False
    outputs: dict[str, str] = field(default_factory=dict)


def _std(resp: Any) -> StdResult:
    outputs: dict[str, str] = {}
    groups = getattr(resp, "outputFields", None) or []
    if not isinstance(groups, list):  # older server schemas declare a single outputFields element
        groups = [groups]
    for group in groups:
        for out in getattr(group, "outputField", None) or []:
            outputs[out.column] = out.value
    error = getattr(resp, "Error", None)
    return StdResult(is_error=bool(resp.IsError) or bool(error), record_id=resp.RecordID, error=error,
                     is_rolled_back=bool(resp.IsRolledBack), outputs=outputs)


class ErpClient:
    """Calls to one iDempiere server with one login; ``calls`` counts SOAP requests sent."""

    def __init__(self, url: str, login: Login, *, cache_dir: Path | None = None, timeout: float = 30.0,
                 session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.login = login
        self.calls = 0
        cache = None
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            cache = SqliteCache(path=str(cache_dir / "zeep-wsdl.sqlite"), timeout=86400)
        self._transport = Transport(session=session or requests.Session(), cache=cache, timeout=timeout,
                                    operation_timeout=timeout)
        self._services: dict[str, Any] = {}

    # -- plumbing --------------------------------------------------------------------------------
    def _service(self, name: str) -> Any:
        """The zeep service proxy for ``ModelADService`` or ``compositeInterface`` (WSDL from the server)."""
        if name not in self._services:
            wsdl_url = f"{self.url}/{name}?wsdl"
            try:
                client = zeep.Client(wsdl_url, transport=self._transport)
            except (requests.RequestException, TransportError, ZeepError, etree.XMLSyntaxError, OSError) as exc:
                raise ErpTransient(f"cannot load WSDL {wsdl_url}: {_reason(exc)}") from exc
            service = next(iter(client.wsdl.services.values()))
            port = next(iter(service.ports.values()))
            self._services[name] = client.create_service(port.binding.name, f"{self.url}/{name}")
        return self._services[name]

    def _call(self, service: str, operation: str, *, timeout: float | None = None, **kwargs: Any) -> Any:
        proxy = self._service(service)
        self.calls += 1
        started = time.monotonic()
        outcome = "ok"
        try:
            if timeout is None:
                return getattr(proxy, operation)(**kwargs)
            with self._transport.settings(timeout=timeout):
                return getattr(proxy, operation)(**kwargs)
        except Fault as exc:
            if _CONFIG_FAULT.search(exc.message or ""):  # queryData throws its configuration errors as Faults
                outcome = "rejected"
                raise ErpRejected(exc.message) from exc
            outcome = "transient"
            raise ErpTransient(f"SOAP fault from {service}.{operation}: {exc.message}") from exc
        except requests.Timeout as exc:
            outcome = "timeout"
            raise ErpTransient(f"{service}.{operation} timed out: {_reason(exc)}") from exc
        except requests.ConnectionError as exc:
            outcome = "unreachable"
            raise ErpTransient(f"{service}.{operation} failed: {_reason(exc)}") from exc
        except (requests.RequestException, TransportError, ZeepError, etree.XMLSyntaxError) as exc:
            outcome = "transient"
            raise ErpTransient(f"{service}.{operation} failed: {_reason(exc)}") from exc
        finally:
            observe_call(METRICS_PLATFORM, outcome, time.monotonic() - started)

    # -- operations ------------------------------------------------------------------------------
    def composite(self, service_type: str, groups: list[list[Operation]], *,
                  timeout: float | None = None) -> list[list[StdResult]]:
        """One compositeOperation; each group is its own transaction. Returns one result list per group.

        ``timeout`` replaces the per-call timeout for this request (the server works through the groups
        one after another, so a big composite needs longer than a query).

        Raises :class:`ErpLoginError` / :class:`ErpRejected` when the server refused the whole
        request (login, or the composite service type itself), which it answers with a single
        error response instead of one per group.
        """
        request = {"ADLoginRequest": self.login.as_request(), "serviceType": service_type,
                   "operations": [{"operation": [_operation(op) for op in group]} for group in groups]}
        answer = self._call("compositeInterface", "compositeOperation", timeout=timeout, CompositeRequest=request)
        responses = list(answer or [])
        results = [[_std(r) for r in (resp.StandardResponse or [])] for resp in responses]
        if results and len(results[0]) == 1 and results[0][0].is_error:
            text = results[0][0].error or ""
            if is_login_error(text):
                raise ErpLoginError(text)
            if f"'{service_type}'" in text or f"type {service_type} " in text or "CompositeInterface" in text:
                raise ErpRejected(text)
        if len(results) != len(groups):
            raise ErpTransient(f"compositeOperation answered {len(results)} groups for {len(groups)} sent")
        return results

    def query(self, service_type: str, table: str, *, filter: str | None = None,
              fields: tuple[Field, ...] = (), require: tuple[str, ...] = ()) -> list[dict[str, str]]:
        """queryData: rows as {column: value} (values as the server's text).

        queryData returns only the type's WS_WebServiceFieldOutput columns; a row without a ``require``d
        column is a configuration error (:class:`ErpRejected`), never "nothing found".
        """
        op = CrudOp("queryData", service_type, table, "Read", fields, filter=filter)
        answer = self._call("ModelADService", "queryData",
                            ModelCRUDRequest={"ModelCRUD": op.as_request(), "ADLoginRequest": self.login.as_request()})
        if answer.Error or answer.Success is False:
            text = answer.Error or "queryData failed"
            raise (ErpLoginError if is_login_error(text) else ErpRejected)(text)
        rows = []
        for row in (answer.DataSet.DataRow if answer.DataSet else None) or []:
            rows.append({f.column: f.val for f in (row.field or [])})
        missing = sorted({c for row in rows for c in require if c not in row})
        if missing:
            raise ErpRejected(f"Web service type {service_type}: output column {', '.join(missing)} not configured "
                              "(queryData returns only the WS_WebServiceFieldOutput columns)")
        return rows

    def set_doc_action(self, op: DocActionOp) -> StdResult:
        """setDocAction outside a composite (its own transaction)."""
        answer = self._call("ModelADService", "setDocAction",
                            ModelSetDocActionRequest={"ModelSetDocAction": op.as_request(),
                                                      "ADLoginRequest": self.login.as_request()})
        result = _std(answer)
        if result.is_error and is_login_error(result.error):
            raise ErpLoginError(result.error or "")
        return result

    def create(self, op: CrudOp) -> StdResult:
        """createData / createUpdateData outside a composite."""
        answer = self._call("ModelADService", op.target_port,
                            ModelCRUDRequest={"ModelCRUD": op.as_request(), "ADLoginRequest": self.login.as_request()})
        result = _std(answer)
        if result.is_error and is_login_error(result.error):
            raise ErpLoginError(result.error or "")
        return result


def _operation(op: Operation) -> dict[str, Any]:
    extra = {"preCommit": True} if op.pre_commit else {}
    if isinstance(op, DocActionOp):
        return {"TargetPort": "setDocAction", "ModelSetDocAction": op.as_request(), **extra}
    return {"TargetPort": op.target_port, "ModelCRUD": op.as_request(), **extra}


def _reason(exc: BaseException) -> str:
    """A one-line reason without the request body (which holds the password)."""
    if isinstance(exc, TransportError):
        return f"HTTP {exc.status_code}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
