"""Reading iDempiere's SOAP answers: lxml, validated against the types of the WSDL the server serves.

Why not zeep's reader: it builds a value object per element, and for a 50-order composite that took
about as long as the server needed to create the orders. The answer is still checked against the
contract: :class:`AnswerSchema` compiles the ``<wsdl:types>`` schema of the server's own WSDL (the one
zeep loaded) and every answer element is validated against it before it is read, so an answer that does
not fit the server's types is an :class:`AnswerError` (the client turns it into a transient error), never
a silently misread field. Only a 200 answer without a SOAP Fault comes here: faults and HTTP errors are
read by zeep (``ErpClient._call``).
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field

from lxml import etree

__all__ = ["AnswerError", "AnswerSchema", "StdResult", "answer_element", "standard_result", "composite_results",
           "query_answer"]

log = logging.getLogger("oms_bridge.erp.answers")

SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/"
XSD = "http://www.w3.org/2001/XMLSchema"
WSDL = "http://schemas.xmlsoap.org/wsdl/"
# No DTDs, no entities, no network: an answer is data, never instructions to the parser.
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False)


class AnswerError(Exception):
    """The answer is not what the server's WSDL promises (unparseable, wrong element, invalid against its types)."""


@dataclass
class StdResult:
    """One StandardResponse, flattened."""

    is_error: bool
    record_id: int | None = None
    error: str | None = None
    is_rolled_back: bool = False
    outputs: dict[str, str] = field(default_factory=dict)


class AnswerSchema:
    """The XML schemas in a WSDL's ``<wsdl:types>`` (one per target namespace); validates answer elements.

    A schema lxml cannot compile (or a namespace the WSDL declares no schema for) leaves its answers read
    without validation, logged once: zeep, which loaded the same WSDL, read them that way too.
    """

    def __init__(self, wsdl: bytes):
        self.schemas: dict[str, etree.XMLSchema | None] = {}
        try:
            root = etree.fromstring(wsdl, _PARSER)
        except etree.XMLSyntaxError:
            root = None
        for el in root.iterfind(f"{{{WSDL}}}types/{{{XSD}}}schema") if root is not None else ():
            namespace = el.get("targetNamespace") or ""
            # Prefixes used only inside attribute values (type="tns:...") are declared on wsdl:definitions:
            # the copy must carry every prefix in scope.
            schema = etree.Element(el.tag, attrib=dict(el.attrib), nsmap=el.nsmap)
            schema.extend(copy.deepcopy(child) for child in el)
            try:
                self.schemas[namespace] = etree.XMLSchema(schema)
            except etree.XMLSchemaParseError as exc:
                log.warning("the ERP's WSDL schema for %s cannot be compiled (%s): its answers are read without "
                            "validation", namespace, exc)
                self.schemas[namespace] = None

    def check(self, element: etree._Element) -> None:
        namespace = etree.QName(element).namespace or ""
        if namespace not in self.schemas:
            log.warning("the ERP's WSDL declares no schema for %s: its answers are read without validation", namespace)
            self.schemas[namespace] = None
        schema = self.schemas[namespace]
        if schema is not None and not schema.validate(element):
            error = schema.error_log.last_error
            raise AnswerError(f"{etree.QName(element).localname} does not fit the server's WSDL: "
                              f"{error.message if error else 'invalid'}")


def answer_element(content: bytes, expected: etree.QName, schema: AnswerSchema) -> etree._Element | None:
    """The answer's ``expected`` element (inside the RPC wrapper, or the body's child), validated;
    None when the body holds a SOAP Fault (the caller has zeep read it)."""
    try:
        envelope = etree.fromstring(content, _PARSER)
    except etree.XMLSyntaxError as exc:
        raise AnswerError(f"the answer is not XML: {exc}") from exc
    body = envelope.find(f"{{{SOAP_ENV}}}Body")
    if body is None or not len(body):
        raise AnswerError("the answer has no SOAP body")
    if body[0].tag == f"{{{SOAP_ENV}}}Fault":
        return None
    found = body[0] if body[0].tag == expected.text else body[0].find(expected.text)
    if found is None:
        raise AnswerError(f"the answer has no {expected.localname} element")
    schema.check(found)
    return found


def _bool(text: str | None) -> bool:
    return text in ("true", "1")


def _text(el: etree._Element, tag: str) -> str | None:
    child = el.find(tag)
    return None if child is None else child.text


def standard_result(el: etree._Element) -> StdResult:
    """One ``StandardResponse``: IsError (or an Error text), RecordID, IsRolledBack and the output fields.

    Older server schemas declare a single ``outputFields`` element, newer ones a list: every one is read.
    """
    ns = etree.QName(el).namespace
    outputs = {out.get("column"): out.get("value") for out in el.iterfind(f"{{{ns}}}outputFields/{{{ns}}}outputField")}
    error = _text(el, f"{{{ns}}}Error")
    record = el.get("RecordID")
    return StdResult(is_error=_bool(el.get("IsError")) or bool(error), record_id=int(record) if record else None,
                     error=error, is_rolled_back=_bool(el.get("IsRolledBack")), outputs=outputs)


def composite_results(el: etree._Element) -> list[list[StdResult]]:
    """``CompositeResponses``: one list of StandardResponses per ``<operations>`` group, in order."""
    ns = etree.QName(el).namespace
    return [[standard_result(s) for s in group.iterfind(f"{{{ns}}}StandardResponse")]
            for group in el.iterfind(f"{{{ns}}}CompositeResponse")]


@dataclass
class QueryAnswer:
    """A ``WindowTabData``: its Error text, Success flag (None when absent) and rows as {column: value}."""

    error: str | None
    success: bool | None
    rows: list[dict[str, str | None]]


def query_answer(el: etree._Element) -> QueryAnswer:
    ns = etree.QName(el).namespace
    success = _text(el, f"{{{ns}}}Success")
    rows = [{f.get("column"): _text(f, f"{{{ns}}}val") for f in row.iterfind(f"{{{ns}}}field")}
            for row in el.iterfind(f"{{{ns}}}DataSet/{{{ns}}}DataRow")]
    return QueryAnswer(error=_text(el, f"{{{ns}}}Error"), success=None if success is None else _bool(success),
                       rows=rows)
