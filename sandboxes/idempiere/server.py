"""iDempiere sandbox: a SOAP ADInterface server on 127.0.0.1 that behaves as ``shared/specs/idempiere.md`` says.

Endpoints (under ``base_url`` = ``http://127.0.0.1:<port>/ADInterface/services``):
``/ModelADService`` and ``/compositeInterface``, each serving the project's own WSDL at ``?wsdl``
(:mod:`sandboxes.idempiere.wsdl`). Behaviour copied from AbstractService/ModelADServiceImpl/CompositeServiceImpl:

- every call logs in from its ADLoginRequest; failures are the real texts in the real order, sent
  as ``StandardResponse IsError="true"`` with HTTP 200 (not a Fault);
- service types are authorised like WS_WebServiceType (web service, method, role access), request
  values validated against WS_WebService_Para (constants replace the value; an unconfigured
  parameter is an error) and every ``field@column`` against WS_WebServiceFieldInput;
  ``createUpdateData`` authenticates as ``createData``; the composite logs in once for its own
  type (CompositeInterface/composite) and re-authorises each inner operation;
- values are converted as ``convertToObj`` does (Timestamp.valueOf format, Y/N/true/false, empty =
  NULL, ``lval`` by display text, ``@Table.Column`` from records saved earlier in the same request);
- one transaction per ``<operations>`` group (``preCommit``/``postCommit`` honoured); the first
  error rolls the group back, marks its responses ``IsRolledBack="true"`` and stops that group;
- a write without ``<DataRow>`` faults (createData dereferences it with no null check): the current
  group is rolled back and the whole request answers a SOAP Fault, earlier groups stay committed;
- createData answers ``<StandardResponse RecordID="n"/>`` with no IsError attribute (+ outputFields);
- queryData returns only the type's output columns and throws its parameter/column/SQL errors as
  SOAP Faults; model texts, truncation and AD_Column come from :mod:`sandboxes.idempiere.database`.
  ``docs/contracts/idempiere.md`` names the iDempiere source of each behaviour.

Test helpers: :attr:`ErpSandbox.service_types` / :attr:`ErpSandbox.realm` (edit to provoke errors),
:meth:`ErpSandbox.orders`, :meth:`ErpSandbox.drop_responses_after_commit` (the ERP commits, the
answer is lost: a crash between its commit and ours), :attr:`ErpSandbox.faults` (``500``,
``error_envelope`` = SOAP Fault, ``malformed_json`` = broken XML, ``timeout`` = slow answer), and
:attr:`ErpSandbox.bodies` (every request body, for XSD validation).
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from lxml import etree
from werkzeug.wrappers import Request, Response

from sandboxes.idempiere.config import MODEL_AD_METHODS, ServiceType, default_realm, default_service_types
from sandboxes.idempiere.database import SEED, ErpDatabase, ModelError, column_kind
from sandboxes.idempiere.wsdl import NS, composite_wsdl, model_ad_service_wsdl
from sandboxes.server import Fault, FaultPlan, SandboxServer, Served

__all__ = ["ErpSandbox", "ServiceError", "ServerFault"]

SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"
_TS = re.compile(r"^\d{4}-\d{1,2}-\d{1,2} \d{1,2}:\d{2}:\d{2}(\.\d{1,9})?$")
_T = f"{{{NS}}}"


class ServiceError(Exception):
    """An error the server reports in the response (IsError=true); the message is its text."""


class ServerFault(Exception):
    """A RuntimeException inside the server: CXF answers the whole request with a SOAP Fault (faultstring =
    the message). In a composite the current group is rolled back first; groups before it stay committed."""


#: ModelADServiceImpl.createData/createUpdateData/updateData call ``dr.getFieldArray()`` on
#: ``modelCRUD.getDataRow()`` with no null check (iDempiere 12, org.idempiere.webservices
#: ModelADServiceImpl.java); Java 17's helpful NullPointerException message names it.
_NO_DATAROW = ('java.lang.NullPointerException: Cannot invoke "org.idempiere.adInterface.x10.DataRow.getFieldArray()" '
               'because "dr" is null')


def _q(name: str) -> str:
    return _T + name


def _text(el: etree._Element | None, name: str, default: str | None = None) -> str | None:
    if el is None:
        return default
    child = el.find(_q(name))
    if child is None:
        return default
    return child.text or ""


class ErpSandbox(Served):
    """A faithful local iDempiere ADInterface (see module doc). ``start()`` / ``stop()`` / ``base_url``."""

    def __init__(self) -> None:
        self.db = ErpDatabase()
        self.realm = default_realm()
        self.service_types: dict[str, ServiceType] = default_service_types()
        self.registered_services = {"ModelADService", "CompositeInterface"}
        self.registered_methods = set(MODEL_AD_METHODS)
        self.wsdl_fetches = 0
        # Serve these WSDL texts instead of the project's own (service name -> text), e.g. a real server's.
        self.wsdl_override: dict[str, str] = {}
        # Test hook: called with the service name when a SOAP request arrives, before it is processed.
        self.on_request: Callable[[str], None] | None = None
        self.faults = FaultPlan()
        self.bodies: list[bytes] = []
        self.request_log: list[tuple[str, str]] = []
        self._drop_after_commit = 0
        self._drop_service = "compositeInterface"
        self._server: SandboxServer | None = None
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        """What an admin enters as the connection URL (the ``.../ADInterface/services`` root)."""
        return self.server_url + "/ADInterface/services"

    # -- admin helpers ---------------------------------------------------------------------------
    def connection_fields(self) -> dict[str, Any]:
        """What ``oms-bridge erp connection add`` needs to reach this sandbox."""
        return {"url": self.base_url, "username": "WebService", "password": "WebService", "client_id": SEED.client,
                "role_id": 50004, "org_id": SEED.org, "warehouse_id": SEED.warehouse, "lang": "en_US", "stage": 0}

    def channel_mapping(self) -> dict[str, Any]:
        """The ERP mapping columns of a channel (oms_channel.erp_*) that fit the seeded data."""
        return {"erp_org_id": SEED.org, "erp_warehouse_id": SEED.warehouse, "erp_doctype_id": SEED.doc_type,
                "erp_pricelist_id": SEED.price_list, "erp_bpartner_id": SEED.default_bpartner,
                "erp_ordersource_id": 1000001, "erp_payment_rule": "T",
                "erp_shipping_charge_id": SEED.shipping_charge, "erp_discount_charge_id": SEED.discount_charge,
                "erp_bp_identifier": "email"}

    def orders(self) -> list[dict[str, Any]]:
        """Every C_Order with its lines: POReference, DocStatus, DocumentNo, GrandTotal, lines[...]."""
        with self.db.lock:
            orders = self.db.find("C_Order", {})
            for order in orders:
                order["lines"] = self.db.find("C_OrderLine", {"C_Order_ID": order["C_Order_ID"]})
            return orders

    def records(self, table: str, **where: Any) -> list[dict[str, Any]]:
        with self.db.lock:
            return self.db.find(table, where)

    def drop_responses_after_commit(self, count: int = 1, service: str = "compositeInterface") -> None:
        """The next ``count`` requests to ``service`` are processed and committed, but the caller gets an HTTP 502."""
        self._drop_after_commit = count
        self._drop_service = service

    def calls(self, path_contains: str = "") -> int:
        with self._lock:
            return sum(1 for _m, p in self.request_log if path_contains in p)

    def reset_calls(self) -> None:
        with self._lock:
            self.request_log.clear()
            self.bodies.clear()

    # -- HTTP ------------------------------------------------------------------------------------
    def wsgi_app(self, environ, start_response):
        request = Request(environ)
        response = self._handle(request)
        return response(environ, start_response)

    def _handle(self, request: Request) -> Response:
        path = request.path.rstrip("/")
        service = path.rsplit("/", 1)[-1]
        if service not in ("ModelADService", "compositeInterface"):
            return Response("No service was found.", status=404, content_type="text/plain")
        if request.method == "GET":
            if "wsdl" not in {k.lower() for k in request.args}:
                return Response("Use ?wsdl", status=400)
            with self._lock:
                self.wsdl_fetches += 1
            location = request.host_url.rstrip("/") + path
            text = model_ad_service_wsdl(location) if service == "ModelADService" else composite_wsdl(location)
            text = self.wsdl_override.get(service, text)
            return Response(text, content_type="text/xml; charset=utf-8")
        body = request.get_data()
        with self._lock:
            self.request_log.append((request.method, path))
            self.bodies.append(body)
        if self.on_request is not None:
            self.on_request(service)
        fault = self.faults.take(path)
        if fault is not None:
            answer = self._fault_response(fault)
            if answer is not None:
                return answer
        try:
            envelope = etree.fromstring(body)
        except etree.XMLSyntaxError as exc:
            return _soap_fault("soap:Client", f"Unmarshalling Error: {exc}")
        try:
            with self.db.lock:
                payload = self._dispatch(service, envelope)
                drop = self._drop_after_commit > 0 and service == self._drop_service
                if drop:
                    self._drop_after_commit -= 1
        except ServerFault as exc:
            return _soap_fault("soap:Server", str(exc))
        except Exception as exc:  # noqa: BLE001 - CXF turns a RuntimeException into a SOAP Fault
            return _soap_fault("soap:Server", f"{type(exc).__name__}: {exc}")
        if drop:
            return Response("<html><body>502 Bad Gateway</body></html>", status=502, content_type="text/html")
        return Response(_envelope(payload), content_type="text/xml; charset=utf-8")

    def _fault_response(self, fault: Fault) -> Response | None:
        if fault.kind in ("500", "502", "503", "429"):
            return Response("<html><body>Server Error</body></html>", status=int(fault.kind), content_type="text/html")
        if fault.kind == "timeout":
            time.sleep(fault.delay)
            return None
        if fault.kind == "error_envelope":
            return _soap_fault("soap:Server", "java.lang.NullPointerException")
        return Response("<soap:Envelope><soap:Body><ns1:createDataResp", status=200, content_type="text/xml")

    # -- SOAP dispatch ---------------------------------------------------------------------------
    def _dispatch(self, service: str, envelope: etree._Element) -> etree._Element:
        body = envelope.find(f"{{{SOAP_NS}}}Body")
        wrapper = body[0] if body is not None and len(body) else None
        if wrapper is None:
            raise ServiceError("empty SOAP body")
        op = etree.QName(wrapper).localname
        request = wrapper[0] if len(wrapper) else None
        out = etree.Element(f"{{{NS}}}{op}Response", nsmap={"ns1": NS})
        if service == "compositeInterface" and op == "compositeOperation":
            out.append(self._composite(request))
        elif service == "ModelADService" and op in ("createData", "createUpdateData", "setDocAction", "queryData",
                                                     "readData"):
            out.append(self._single(op, request))
        else:
            raise ServiceError(f"Unexpected wrapper element {op}")
        return out

    def _login(self, login: etree._Element | None) -> dict[str, int]:
        def num(name: str) -> int:
            try:
                return int(_text(login, name, "0") or 0)
            except ValueError:
                return -1

        error = self.realm.check(_text(login, "user", "") or "", _text(login, "pass", "") or "", num("ClientID"),
                                 num("RoleID"), num("OrgID"), num("WarehouseID"))
        if error:
            raise ServiceError(error)
        return {"AD_Client_ID": num("ClientID"), "AD_Role_ID": num("RoleID"), "AD_Org_ID": num("OrgID"),
                "M_Warehouse_ID": num("WarehouseID")}

    def _authorise(self, web_service: str, method: str, service_type: str, ctx: dict[str, int]) -> ServiceType:
        if web_service not in self.registered_services:
            raise ServiceError(f"Web Service {web_service} not registered")
        if web_service == "ModelADService" and method not in self.registered_methods:
            raise ServiceError(f"Method {method} not registered")
        st = self.service_types.get(service_type)
        if st is None or st.web_service != web_service or st.method != method:
            raise ServiceError(f"Service type {service_type} not configured")
        if ctx["AD_Role_ID"] not in st.roles:
            raise ServiceError("Web Service Error: Login role does not have access to the service type "
                               f"'{service_type}'")
        return st

    @staticmethod
    def _parameter(st: ServiceType, name: str, value: str | None) -> str | None:
        """validateParameter: constants replace the value; unconfigured parameters with a value fail."""
        para = st.params.get(name)
        if para is None:
            if value not in (None, ""):
                raise ServiceError(f"Web service type {st.value}: invalid parameter {name}")
            return value
        kind, constant = para
        return constant if kind == "C" else value

    def _single(self, op: str, request: etree._Element | None) -> etree._Element:
        """One ModelADService call: its own login and transaction."""
        is_query = op in ("queryData", "readData")
        try:
            ctx = self._login(request.find(_q("ADLoginRequest")) if request is not None else None)
            self.db.conn.execute("BEGIN")
            try:
                ctx["_vars"] = {}  # type: ignore[assignment]
                if op == "setDocAction":
                    result = self._set_doc_action(request.find(_q("ModelSetDocAction")), ctx)
                else:
                    result = self._crud(op, request.find(_q("ModelCRUD")), ctx)
            except (ServiceError, ServerFault):
                self.db.conn.execute("ROLLBACK")
                raise
            self.db.conn.execute("COMMIT")
            return result
        except ServiceError as exc:
            if is_query:
                return _window_error(str(exc))
            return _standard(error=str(exc))

    def _composite(self, request: etree._Element | None) -> etree._Element:
        responses = etree.Element(_q("CompositeResponses"), nsmap={None: NS})
        try:
            ctx = self._login(request.find(_q("ADLoginRequest")) if request is not None else None)
            self._authorise("CompositeInterface", "composite", _text(request, "serviceType", "") or "", ctx)
        except ServiceError as exc:
            group = etree.SubElement(responses, _q("CompositeResponse"))
            group.append(_standard(error=str(exc)))
            return responses
        ctx["_vars"] = {}  # type: ignore[assignment] - request context: records saved in this HTTP request
        for operations in request.findall(_q("operations")):
            responses.append(self._group(operations, ctx))
        return responses

    def _group(self, operations: etree._Element, ctx: dict[str, Any]) -> etree._Element:
        group = etree.Element(_q("CompositeResponse"))
        conn = self.db.conn
        conn.execute("BEGIN")
        for operation in operations.findall(_q("operation")):
            if operation.get("preCommit") in ("true", "1"):
                conn.execute("COMMIT")
                conn.execute("BEGIN")
            port = _text(operation, "TargetPort", "") or ""
            try:
                if port == "setDocAction":
                    response = self._set_doc_action(operation.find(_q("ModelSetDocAction")), ctx)
                elif port in ("createData", "createUpdateData"):
                    response = self._crud(port, operation.find(_q("ModelCRUD")), ctx)
                else:
                    raise ServiceError(f"TargetPort {port} not supported by this server")
            except ServiceError as exc:
                response = _standard(error=str(exc))
            except ServerFault:
                conn.execute("ROLLBACK")  # CompositeServiceImpl: rollbackAndSetError, then rethrow
                raise
            group.append(response)
            if response.get("IsError") == "true":
                conn.execute("ROLLBACK")
                for item in group:
                    item.set("IsRolledBack", "true")
                return group
            if operation.get("postCommit") in ("true", "1"):
                conn.execute("COMMIT")
                conn.execute("BEGIN")
        conn.execute("COMMIT")
        return group

    # -- operations ------------------------------------------------------------------------------
    def _crud(self, op: str, crud: etree._Element | None, ctx: dict[str, Any]) -> etree._Element:
        if crud is None:
            raise ServiceError("ModelCRUD missing")
        method = "createData" if op == "createUpdateData" else op
        service_type = _text(crud, "serviceType", "") or ""
        st = self._authorise("ModelADService", method, service_type, ctx)
        try:
            table = self._parameter(st, "TableName", _text(crud, "TableName"))
            record_text = self._parameter(st, "RecordID", _text(crud, "RecordID"))
            action = self._parameter(st, "Action", _text(crud, "Action"))
            sql_filter = self._parameter(st, "Filter", _text(crud, "Filter"))
        except ServiceError as exc:
            if op in ("queryData", "readData"):  # validateCRUD's IdempiereServiceFault is not caught there
                raise ServerFault(str(exc)) from exc
            raise
        if not table:
            raise ServiceError(f"Web service type {st.value}: no table")
        data_row = crud.find(_q("DataRow"))
        if op in ("queryData", "readData"):
            try:  # queryData does not catch IdempiereServiceFault: a bad parameter/column/Filter is a SOAP Fault
                values = self._fields(st, table, data_row, ctx)
                return self._query(st, table, int(record_text or 0), sql_filter, values, ctx)
            except ServiceError as exc:
                raise ServerFault(str(exc)) from exc
        if data_row is None:
            raise ServerFault(_NO_DATAROW)  # queryData checks for null; the writes do not
        values = self._fields(st, table, data_row, ctx)
        try:
            if op == "createUpdateData":
                record_id = self._identify(st, table, values, action or "CreateUpdate")
            else:
                record_id = int(record_text or 0)
            row = self.db.save(table, values, ctx, record_id)
        except ModelError as exc:
            raise ServiceError(str(exc)) from exc
        ctx["_vars"][table] = row
        response = _standard(record_id=row[f"{table}_ID"], no_is_error=True)
        if st.outputs:
            fields = etree.SubElement(response, _q("outputFields"))
            for column in st.outputs:
                value = row.get(column)
                etree.SubElement(fields, _q("outputField"), column=column, value="" if value is None else str(value))
        return response

    def _identify(self, st: ServiceType, table: str, values: dict[str, Any], action: str) -> int:
        identifiers = [c for c, is_id in st.inputs.items() if is_id]
        if not identifiers:
            raise ServiceError(f"Web service type {st.value}: There is no key column found ")
        matches = self.db.find(table, {c: values.get(c) for c in identifiers})
        matches = [m for m in matches if m.get("AD_Client_ID") in (0, None, self._client_of(values))] or matches
        if matches and action == "Create":
            raise ServiceError(f"Record already presents with {table}_ID = {matches[0][f'{table}_ID']}")
        if not matches and action == "Update":
            raise ServiceError(f"No Record to update for {st.value}")
        return int(matches[0][f"{table}_ID"]) if matches else 0

    @staticmethod
    def _client_of(values: dict[str, Any]) -> int | None:
        return values.get("AD_Client_ID")

    def _fields(self, st: ServiceType, table: str, row: etree._Element | None,
                ctx: dict[str, Any]) -> dict[str, Any]:
        """scanFields + convertToObj for every ``field`` of the DataRow."""
        values: dict[str, Any] = {}
        if row is None:
            return values
        for field in row.findall(_q("field")):
            column = field.get("column") or ""
            if column not in st.inputs:
                raise ServiceError(f"Web service type {st.value}: input column {column} not allowed")
            values[column] = self._convert(st, table, column, _text(field, "val", "") or "", field.get("lval"), ctx)
        return values

    def _convert(self, st: ServiceType, table: str, column: str, val: str, lval: str | None,
                 ctx: dict[str, Any]) -> Any:
        kind = column_kind(column)
        if lval:
            if kind == "list":
                found = self.db.list_value(column, lval)
            elif kind == "int":
                target = "C_DocType" if column == "C_DocTypeTarget_ID" else column[:-3]
                found = self.db.lookup_display(target, lval)
            else:
                found = lval
            if found is None:
                raise ServiceError(f"Web service type {st.value}: input column {column}: no {column} for '{lval}'")
            return found
        if val.startswith("@"):
            val = self._variable(st, column, val, ctx)
        if val == "":
            return None
        try:
            if kind == "int":
                return int(val)
            if kind == "decimal":
                return Decimal(val)
        except (ValueError, InvalidOperation) as exc:
            raise ServiceError(f"Web service type {st.value}: input column {column}: {val} is not a number") from exc
        if kind == "bool":
            if val not in ("Y", "N", "true", "false"):
                raise ServiceError(f"Web service type {st.value}: input column {column}: {val} is not Y/N")
            return "Y" if val in ("Y", "true") else "N"
        if kind == "timestamp" and not _TS.match(val):
            raise ServiceError("Timestamp format must be yyyy-mm-dd hh:mm:ss[.fffffffff]")
        return val

    @staticmethod
    def _variable(st: ServiceType, column: str, val: str, ctx: dict[str, Any]) -> str:
        if val.startswith("@#"):
            return str(ctx.get(val[2:], ""))
        ref = val[1:]
        table, _, col = ref.partition(".")
        record = ctx["_vars"].get(table)
        if record is None or record.get(col) is None:
            raise ServiceError(f"Web service type {st.value}: input column {column} can not found object of {table}. "
                               f"Request variable {val} can not resolved")
        return str(record[col])

    def _set_doc_action(self, action_el: etree._Element | None, ctx: dict[str, Any]) -> etree._Element:
        if action_el is None:
            raise ServiceError("ModelSetDocAction missing")
        st = self._authorise("ModelADService", "setDocAction", _text(action_el, "serviceType", "") or "", ctx)
        table = self._parameter(st, "tableName", _text(action_el, "tableName")) or ""
        record_text = self._parameter(st, "recordID", _text(action_el, "recordID"))
        variable = self._parameter(st, "recordIDVariable", _text(action_el, "recordIDVariable"))
        doc_action = self._parameter(st, "docAction", _text(action_el, "docAction")) or ""
        record_id = int(record_text or 0)
        if variable and variable.startswith("@"):
            record_id = int(self._variable(st, "recordIDVariable", variable, ctx))
        try:
            self.db.doc_action(table, record_id, doc_action)
        except ModelError as exc:
            raise ServiceError(str(exc)) from exc
        return _standard(record_id=record_id, is_error=False)

    def _query(self, st: ServiceType, table: str, record_id: int, sql_filter: str | None, values: dict[str, Any],
               ctx: dict[str, Any]) -> etree._Element:
        where = dict(values)
        if record_id:
            where[f"{table}_ID"] = record_id
        try:
            rows = self.db.query(table, sql_filter, where, ctx["AD_Client_ID"])
        except ModelError as exc:
            raise ServerFault(str(exc)) from exc
        data = etree.Element(_q("WindowTabData"), nsmap={None: NS}, NumRows=str(len(rows)), TotalRows=str(len(rows)),
                             StartRow="0")
        dataset = etree.SubElement(data, _q("DataSet"))
        for row in rows:
            data_row = etree.SubElement(dataset, _q("DataRow"))
            for column in st.outputs:  # isOutputColumnNameAllowed: no output columns, empty rows
                if column not in row:  # an allowed column of another table (a type whose TableName is Free)
                    continue
                field = etree.SubElement(data_row, _q("field"), column=column)
                value = row.get(column)
                etree.SubElement(field, _q("val")).text = "" if value is None else str(value)
        etree.SubElement(data, _q("RowCount")).text = str(len(rows))
        etree.SubElement(data, _q("Success")).text = "true"
        return data


def _standard(*, error: str | None = None, record_id: int | None = None, is_error: bool | None = None,
              no_is_error: bool = False) -> etree._Element:
    el = etree.Element(_q("StandardResponse"), nsmap={None: NS})
    if error is not None:
        el.set("IsError", "true")
        etree.SubElement(el, _q("Error")).text = error
    elif is_error is not None and not no_is_error:
        el.set("IsError", "true" if is_error else "false")
    if record_id is not None:
        el.set("RecordID", str(record_id))
    return el


def _window_error(error: str) -> etree._Element:
    """queryData's answer to a refused login or service type: ``resp.setError(err)`` and nothing else."""
    el = etree.Element(_q("WindowTabData"), nsmap={None: NS}, NumRows="0", TotalRows="0", StartRow="0")
    etree.SubElement(el, _q("Error")).text = error
    return el


def _envelope(payload: etree._Element) -> bytes:
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    body = etree.SubElement(env, f"{{{SOAP_NS}}}Body")
    body.append(payload)
    return etree.tostring(env, xml_declaration=True, encoding="UTF-8")


def _soap_fault(code: str, message: str) -> Response:
    env = etree.Element(f"{{{SOAP_NS}}}Envelope", nsmap={"soap": SOAP_NS})
    fault = etree.SubElement(etree.SubElement(env, f"{{{SOAP_NS}}}Body"), f"{{{SOAP_NS}}}Fault")
    etree.SubElement(fault, "faultcode").text = code
    etree.SubElement(fault, "faultstring").text = message
    return Response(etree.tostring(env, xml_declaration=True, encoding="UTF-8"), status=500,
                    content_type="text/xml; charset=utf-8")

