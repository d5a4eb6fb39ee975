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
from collections.abc import Callable
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

from oms_bridge.erp.answers import (
    AnswerError,
    AnswerSchema,
    StdResult,
    answer_element,
    composite_results,
    query_answer,
    standard_result,
)
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

    def append_to(self, parent: etree._Element, ns: str) -> None:
        """``<ADLoginRequest>`` in the XSD's order."""
        _children(etree.SubElement(parent, f"{{{ns}}}ADLoginRequest"), ns, (
            ("user", self.user), ("pass", self.password), ("lang", self.lang), ("ClientID", self.client_id),
            ("RoleID", self.role_id), ("OrgID", self.org_id), ("WarehouseID", self.warehouse_id),
            ("stage", self.stage)))


#: What XML 1.0 cannot carry at all (C0 controls but tab/newline/return, lone surrogates, U+FFFE/U+FFFF).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: str) -> str:
    """``value`` without the characters XML 1.0 cannot hold: one such character in a buyer's address must not
    make the whole batch unsendable (lxml refuses to write it) and retry until it is dead."""
    return _NOT_XML.sub("", value)


@dataclass(frozen=True)
class Field:
    """One ``<field column=..>``: a value, an ``@Table.Column`` reference, or a display text (``lval``).
    Texts are cleaned of what XML cannot hold when the field is made (:func:`xml_text`)."""

    column: str
    val: str = ""
    lval: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.val, str) and _NOT_XML.search(self.val):
            object.__setattr__(self, "val", xml_text(self.val))
        if self.lval is not None and _NOT_XML.search(self.lval):
            object.__setattr__(self, "lval", xml_text(self.lval))


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

    def append_to(self, parent: etree._Element, ns: str) -> None:
        """``<ModelCRUD>`` in the XSD's order (serviceType, TableName, RecordID, Filter, Action, DataRow)."""
        crud = etree.SubElement(parent, f"{{{ns}}}ModelCRUD")
        _children(crud, ns, (("serviceType", self.service_type), ("TableName", self.table),
                             ("RecordID", self.record_id), ("Filter", self.filter), ("Action", self.action)))
        if self.fields or self.target_port in WRITE_PORTS:
            # The write methods call getDataRow().getFieldArray() with no null check (ModelADServiceImpl,
            # iDempiere 12): without a DataRow the server faults, so a write always carries one, empty or not.
            row = etree.SubElement(crud, f"{{{ns}}}DataRow")
            field_tag, val_tag = f"{{{ns}}}field", f"{{{ns}}}val"
            for f in self.fields:
                el = etree.SubElement(row, field_tag, column=f.column)
                if f.lval is not None:
                    el.set("lval", f.lval)
                etree.SubElement(el, val_tag).text = f.val if isinstance(f.val, str) else str(f.val)


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

    def append_to(self, parent: etree._Element, ns: str) -> None:
        """``<ModelSetDocAction>`` in the XSD's order."""
        _children(etree.SubElement(parent, f"{{{ns}}}ModelSetDocAction"), ns, (
            ("serviceType", self.service_type), ("tableName", self.table), ("recordID", self.record_id),
            ("recordIDVariable", self.record_id_variable or None), ("docAction", self.doc_action)))


Operation = CrudOp | DocActionOp


@dataclass(frozen=True)
class _Port:
    """One service as its WSDL describes it: zeep's client and binding (operation names, faults), the address,
    and the WSDL's schema (answers are validated against it)."""

    client: Any
    binding: Any
    address: str
    schema: AnswerSchema


class _Transport(Transport):
    """zeep's transport, keeping the text of each document it loaded (the WSDL's schema validates answers)."""

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.loaded: dict[str, bytes] = {}

    def load(self, url: str) -> bytes:
        content = super().load(url)
        self.loaded[url] = content
        return content


class ErpClient:
    """Calls to one iDempiere server with one login; ``calls`` counts SOAP requests sent.

    The server's WSDL is the contract: zeep loads it and names each operation's wrapper, request and answer
    elements and its SOAPAction; zeep reads faults and HTTP errors. The request body is written with lxml
    from the operation objects (``append_to``, in the XSD's element order) and the answer is read with lxml
    after validation against the WSDL's own schema (:mod:`oms_bridge.erp.answers`): zeep's generic
    serialiser and reader together took several times as long as the server on a 50-order composite.
    """

    def __init__(self, url: str, login: Login, *, cache_dir: Path | None = None, timeout: float = 30.0,
                 session: requests.Session | None = None):
        self.url = url.rstrip("/")
        self.login = login
        self.calls = 0
        cache = None
        if cache_dir is not None:
            cache_dir.mkdir(parents=True, exist_ok=True)
            cache = SqliteCache(path=str(cache_dir / "zeep-wsdl.sqlite"), timeout=86400)
        # One requests.Session per client: HTTP keep-alive across the run's calls.
        self._transport = _Transport(session=session or requests.Session(), cache=cache, timeout=timeout,
                                    operation_timeout=timeout)
        self._ports: dict[str, _Port] = {}

    # -- plumbing --------------------------------------------------------------------------------
    def _port(self, name: str) -> _Port:
        """``ModelADService`` or ``compositeInterface`` as the server's WSDL describes it (loaded once)."""
        if name not in self._ports:
            wsdl_url = f"{self.url}/{name}?wsdl"
            try:
                client = zeep.Client(wsdl_url, transport=self._transport)
            except (requests.RequestException, TransportError, ZeepError, etree.XMLSyntaxError, OSError) as exc:
                raise ErpTransient(f"cannot load WSDL {wsdl_url}: {_reason(exc)}") from exc
            service = next(iter(client.wsdl.services.values()))
            port = next(iter(service.ports.values()))
            schema = AnswerSchema(self._transport.loaded.get(wsdl_url, b""))
            self._ports[name] = _Port(client, port.binding, f"{self.url}/{name}", schema)
        return self._ports[name]

    def _envelope(self, port: _Port, operation: str, write: Callable[[etree._Element, str], None]) -> Any:
        """(operation, SOAP envelope): the wrapper and request element named as the WSDL names them; ``write``
        appends the request's children in the namespace of the request element."""
        op = port.binding.get(operation)
        request_name = _part(op, op.input.body)
        envelope = etree.Element(_SOAP_ENVELOPE, nsmap={"soap-env": SOAP_ENV, "ns0": request_name.namespace})
        parent = etree.SubElement(envelope, _SOAP_BODY)
        if request_name != op.input.body.qname:
            parent = etree.SubElement(parent, op.input.body.qname)  # rpc: the operation's wrapper element
        write(etree.SubElement(parent, request_name), request_name.namespace)
        return op, envelope

    def _call(self, service: str, operation: str, write: Callable[[etree._Element, str], None], *,
              timeout: float | None = None) -> Any:
        """Send one request; returns the answer's element (the WSDL's output part), validated against the WSDL.

        A non-200 answer or a SOAP Fault goes to zeep's reader, which raises the Fault or the HTTP error.
        """
        port = self._port(service)
        self.calls += 1
        started = time.monotonic()
        outcome = "ok"
        try:
            op, envelope = self._envelope(port, operation, write)
            headers = {"SOAPAction": f'"{op.soapaction}"' if op.soapaction else '""',
                       "Content-Type": "text/xml; charset=utf-8"}
            if timeout is None:
                response = self._transport.post_xml(port.address, envelope, headers)
            else:
                with self._transport.settings(timeout=timeout):
                    response = self._transport.post_xml(port.address, envelope, headers)
            answer = None if response.status_code != 200 else \
                answer_element(response.content, _part(op, op.output.body), port.schema)
            if answer is None:  # an HTTP error or a SOAP Fault: zeep raises it as TransportError / Fault
                port.binding.process_reply(port.client, op, response)
                outcome = "transient"
                raise ErpTransient(f"{service}.{operation} answered HTTP {response.status_code} without a fault")
            return answer
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
        except (requests.RequestException, TransportError, ZeepError, etree.XMLSyntaxError, AnswerError) as exc:
            outcome = "transient"
            raise ErpTransient(f"{service}.{operation} failed: {_reason(exc)}") from exc
        finally:
            observe_call(METRICS_PLATFORM, outcome, time.monotonic() - started)

    def _crud_request(self, op: CrudOp) -> Callable[[etree._Element, str], None]:
        """``<ModelCRUDRequest>``: the operation, then the login."""
        def write(request: etree._Element, ns: str) -> None:
            op.append_to(request, ns)
            self.login.append_to(request, ns)
        return write

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
        def write(request: etree._Element, ns: str) -> None:
            self.login.append_to(request, ns)
            _children(request, ns, (("serviceType", service_type),))
            operations_tag, operation_tag, port_tag = f"{{{ns}}}operations", f"{{{ns}}}operation", f"{{{ns}}}TargetPort"
            for group in groups:
                operations = etree.SubElement(request, operations_tag)
                for op in group:
                    operation = etree.SubElement(operations, operation_tag, preCommit=_bool(op.pre_commit),
                                                 postCommit="false")
                    etree.SubElement(operation, port_tag).text = op.target_port
                    op.append_to(operation, ns)

        results = composite_results(self._call("compositeInterface", "compositeOperation", write, timeout=timeout))
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
        answer = query_answer(self._call("ModelADService", "queryData", self._crud_request(op)))
        if answer.error or answer.success is False:
            text = answer.error or "queryData failed"
            raise (ErpLoginError if is_login_error(text) else ErpRejected)(text)
        rows = answer.rows
        missing = sorted({c for row in rows for c in require if c not in row})
        if missing:
            raise ErpRejected(f"Web service type {service_type}: output column {', '.join(missing)} not configured "
                              "(queryData returns only the WS_WebServiceFieldOutput columns)")
        return rows

    def set_doc_action(self, op: DocActionOp) -> StdResult:
        """setDocAction outside a composite (its own transaction)."""
        def write(request: etree._Element, ns: str) -> None:
            op.append_to(request, ns)
            self.login.append_to(request, ns)

        result = standard_result(self._call("ModelADService", "setDocAction", write))
        if result.is_error and is_login_error(result.error):
            raise ErpLoginError(result.error or "")
        return result

    def create(self, op: CrudOp) -> StdResult:
        """createData / createUpdateData outside a composite."""
        result = standard_result(self._call("ModelADService", op.target_port, self._crud_request(op)))
        if result.is_error and is_login_error(result.error):
            raise ErpLoginError(result.error or "")
        return result


SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
_SOAP_ENVELOPE = f"{{{SOAP_ENV}}}Envelope"
_SOAP_BODY = f"{{{SOAP_ENV}}}Body"


def _part(op: Any, body: Any) -> etree.QName:
    """The message part's element: inside the operation's wrapper (rpc, as iDempiere's CXF publishes), or the
    body element itself (document style)."""
    parts = getattr(body.type, "elements", None) or []
    return parts[0][1].qname if op.style == "rpc" and parts else body.qname


def _children(parent: etree._Element, ns: str, values: tuple[tuple[str, Any], ...]) -> None:
    """Append ``<name>value</name>`` for each value that is not None (numbers and booleans as XSD text)."""
    for name, value in values:
        if value is not None:
            etree.SubElement(parent, f"{{{ns}}}{name}").text = _bool(value) if isinstance(value, bool) else str(value)


def _bool(value: bool) -> str:
    return "true" if value else "false"


def _reason(exc: BaseException) -> str:
    """A one-line reason without the request body (which holds the password)."""
    if isinstance(exc, TransportError):
        return f"HTTP {exc.status_code}"
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:300]
