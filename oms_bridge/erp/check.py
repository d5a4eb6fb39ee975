"""``oms-bridge erp check``: what the iDempiere admin still has to configure, as a checklist.

How it probes without changing data (``shared/specs/idempiere.md`` §1.3):

1. **login** with a queryData that matches nothing (``Filter 1=0``); the login texts are exact;
2. the two **query types** with the same harmless queryData;
3. one **compositeOperation** whose groups each end with an operation of a service type that
   cannot exist (``OmsBridgeCheckRollback``): the server stops at the first error of a group and
   rolls the group back, so nothing is ever saved. Each write type gets one group without fields
   (type, role access, parameters) and one group per input column (WS_WebServiceFieldInput), so
   every missing column is found in the same single call; a data error from the save itself (for
   instance the probe's C_Order_ID 0) means the configuration passed. Every write carries a
   ``DataRow`` (empty for the type-level probe): iDempiere's createData/createUpdateData dereference it
   without a null check, and one missing DataRow faults the whole composite;
4. the query types' **output columns** on the newest C_Order / M_Product the role can see (queryData
   returns only WS_WebServiceFieldOutput columns: a pre-check without POReference would find nothing);
5. **C_Order.POReference's length** from AD_Column (service type ``query_column``, optional: a role
   that may not read it leaves the item "unverified" and the bridge uses ``po_reference_length``), and
   that every channel of the connection gets a reference that fits.

The result is a list of :class:`CheckItem` and the numbered to-do list ``format_report`` prints,
in the step-by-step style of an admin guide. A clean check re-arms the rows held for ERP
configuration (``erp_config:*``) and login (``erp_login:<connection>``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from oms_bridge.erp.client import CrudOp, DocActionOp, ErpClient, ErpError, ErpLoginError, Field, Operation
from oms_bridge.erp.config import REQUIRED_OUTPUTS, SERVICE_SPECS, WRITE_ROLES, ErpOptions, ServiceSpec
from oms_bridge.erp.reference import ReferenceFormatError, po_reference

__all__ = ["CheckItem", "CheckReport", "run_check", "format_report", "SENTINEL_TYPE"]

SENTINEL_TYPE = "OmsBridgeCheckRollback"
_PROBE_VALUES = {"IsSOTrx": "Y", "IsCustomer": "Y", "IsShipTo": "Y", "IsBillTo": "Y",
                 "DateOrdered": "2000-01-01 00:00:00", "DatePromised": "2000-01-01 00:00:00", "PaymentRule": "P"}
_CONFIG_ERRORS = re.compile(r"not registered|not configured|does not have access|invalid parameter|not allowed|"
                            r"Error login|Error logging in")
#: AD_Table_ID of C_Order (I_C_Order.Table_ID: dictionary ids are the same in every iDempiere).
C_ORDER_TABLE_ID = 259
_NEWEST = {"query_order": ("C_Order", "C_Order_ID=(SELECT MAX(C_Order_ID) FROM C_Order)"),
           "query_product": ("M_Product", "M_Product_ID=(SELECT MAX(M_Product_ID) FROM M_Product)")}


@dataclass
class CheckItem:
    """One line of the checklist: ``ok`` or the step the admin must do."""

    subject: str
    ok: bool
    detail: str = ""
    todo: str = ""
    #: The fix is on the bridge's side or the network (login data, URL), not in a Web Service Type window.
    connection_step: bool = False
    #: The check could not find out (ok stays True: nothing is known to be wrong); ``detail`` says why.
    unverified: bool = False
    #: About a channel's ERP mapping (oms_bridge.erp.check_mapping), not the web-service setup.
    mapping_step: bool = False


@dataclass
class CheckReport:
    connection: str
    url: str
    items: list[CheckItem] = field(default_factory=list)
    #: The server refused the login with this text (the delivery remembers it), or None.
    login_error: str | None = None
    #: The login was accepted (a refusal the delivery remembered can be forgotten).
    logged_in: bool = False

    @property
    def ok(self) -> bool:
        return all(i.ok for i in self.items)

    @property
    def services_ok(self) -> bool:
        """Login and web-service types are fine (what re-arms ``erp_config:*`` holds; a channel's mapping
        problem holds only that channel's orders, re-armed by the channel's edit)."""
        return all(i.ok for i in self.items if not i.mapping_step)

    def as_dict(self) -> dict:
        """The report as data (``erp check --json``)."""
        return {"connection": self.connection, "url": self.url, "ok": self.ok, "logged_in": self.logged_in,
                "login_error": self.login_error,
                "items": [{"subject": i.subject, "ok": i.ok, "unverified": i.unverified, "detail": i.detail,
                           "todo": i.todo, "kind": "mapping" if i.mapping_step else
                           "connection" if i.connection_step else "service"} for i in self.items],
                "problems": [i.subject + (f": {i.detail}" if i.detail else "") for i in self.items if not i.ok]}


def _probe_value(column: str) -> str:
    if column in _PROBE_VALUES:
        return _PROBE_VALUES[column]
    if column.endswith("_ID"):
        return "0"
    if column.startswith(("Qty", "Price")):
        return "0"
    return "oms-bridge check"


def _sentinel() -> CrudOp:
    return CrudOp("createData", SENTINEL_TYPE, "C_Order", "Create")


def _write_op(name: str, spec: ServiceSpec, fields: tuple[Field, ...]) -> Operation:
    if spec.method == "setDocAction":
        return DocActionOp(name, dict(spec.params).get("docAction") or "CO", table=spec.table or "C_Order",
                           record_id=0)
    action = dict(spec.params).get("Action") or "Create"
    port = "createUpdateData" if action == "CreateUpdate" else "createData"
    return CrudOp(port, name, spec.table or "", action, fields)


def _todo_for(error: str, name: str, spec: ServiceSpec, role_id: int) -> str:
    params = ", ".join(f"{p} ({'Constant ' + repr(c) if c else 'Free'})" for p, c in spec.params) or "none"
    if m := re.search(r"output column (.+?) not configured", error):
        return (f'Web Service Type "{name}" > tab Output (WS_WebServiceFieldOutput): add column(s) {m.group(1)}'
                f" (all of: {', '.join(spec.outputs)}).")
    if "does not have access" in error:
        return (f'Web Service Type "{name}" > tab Web Service Type Access: add role {role_id} '
                f"(WS_WebServiceTypeAccess, Read Write).")
    if "not configured" in error:
        inputs = ", ".join(c + (" (Is Identifier)" if c in spec.identifiers else "") for c in spec.inputs)
        outputs = ", ".join(spec.outputs)
        return (f'Web Services > {spec.web_service} > method {spec.method} > create Web Service Type "{name}" '
                f"(table {spec.table or '-'}) for: {spec.purpose}; parameters: {params}"
                + (f"; input columns: {inputs}" if inputs else "") + (f"; output columns: {outputs}" if outputs else "")
                + f"; grant role {role_id} access.")
    if "invalid parameter" in error:
        return f'Web Service Type "{name}" > tab Web Service Parameters (WS_WebService_Para): add {params}.'
    if m := re.search(r"input column (\S+) not allowed", error):
        ident = " with Is Identifier = Y" if m.group(1) in spec.identifiers else ""
        return (f'Web Service Type "{name}" > tab Input (WS_WebServiceFieldInput): add column {m.group(1)}'
                f"{ident}.")
    if "not registered" in error:
        return f"Register web service {spec.web_service} / method {spec.method} (WS_WebService, WS_WebServiceMethod)."
    return f'Web Service Type "{name}": {error}'


def run_check(client: ErpClient, options: ErpOptions, *, connection: str, role_id: int,
              channels: Sequence[tuple[int, str]] = ()) -> CheckReport:
    """Probe every configured service type (see module doc); ``channels`` = (id, name) of the connection's channels."""
    report = CheckReport(connection, client.url)
    names = options.service_types
    try:
        client.query(names["query_order"], "C_Order", filter="1=0")
        report.logged_in = True
        report.items.append(CheckItem(f"login as {client.login.user} (role {role_id})", True))
        report.items.append(CheckItem(f"{names['query_order']}: {SERVICE_SPECS['query_order'].purpose}", True))
    except ErpLoginError as exc:
        report.login_error = str(exc)
        report.items.append(CheckItem(f"login as {client.login.user}", False, str(exc),
                                      "Fix the login data: oms-bridge erp connection update " + connection,
                                      connection_step=True))
        return report
    except ErpError as exc:
        if not _CONFIG_ERRORS.search(str(exc)):
            report.items.append(CheckItem(f"reach {client.url}", False, str(exc),
                                          "Check the URL and the server. A wrong URL: oms-bridge erp connection "
                                          f"update {connection} --url URL", connection_step=True))
            return report
        report.logged_in = True
        report.items.append(CheckItem(f"login as {client.login.user} (role {role_id})", True))
        spec = SERVICE_SPECS["query_order"]
        report.items.append(CheckItem(f"{names['query_order']}: {spec.purpose}", False, str(exc),
                                      _todo_for(str(exc), names["query_order"], spec, role_id)))
    try:
        client.query(names["query_product"], "M_Product", filter="1=0")
        report.items.append(CheckItem(f"{names['query_product']}: {SERVICE_SPECS['query_product'].purpose}", True))
    except ErpError as exc:
        spec = SERVICE_SPECS["query_product"]
        report.items.append(CheckItem(f"{names['query_product']}: {spec.purpose}", False, str(exc),
                                      _todo_for(str(exc), names["query_product"], spec, role_id)))
    _check_writes(client, options, report, role_id)
    _check_outputs(client, options, report, role_id)
    _check_reference(client, options, report, channels)
    return report


def _check_outputs(client: ErpClient, options: ErpOptions, report: CheckReport, role_id: int) -> None:
    """The query types return the columns the delivery reads (seen on the newest record, when there is one)."""
    names = options.service_types
    for role, (table, newest) in _NEWEST.items():
        if any(not i.ok and i.subject.startswith(names[role] + ":") for i in report.items):
            continue  # the type itself is missing: that item says so
        try:
            client.query(names[role], table, filter=newest, require=REQUIRED_OUTPUTS[role])
        except ErpError as exc:
            spec = SERVICE_SPECS[role]
            report.items.append(CheckItem(f"{names[role]}: output columns", False, str(exc),
                                          _todo_for(str(exc), names[role], spec, role_id)))


def _check_reference(client: ErpClient, options: ErpOptions, report: CheckReport,
                     channels: Sequence[tuple[int, str]]) -> None:
    """C_Order.POReference's length in the ERP against ``po_reference_length``, and every channel's reference fits."""
    name, setting = options.service_types["query_column"], options.po_reference_length
    subject = "C_Order.POReference length"
    update = f"oms-bridge erp connection update {report.connection} --settings '{{\"po_reference_length\": {{n}}}}'"
    try:
        rows = client.query(name, "AD_Column", filter=f"AD_Table_ID={C_ORDER_TABLE_ID} AND ColumnName='POReference'",
                            require=("FieldLength",))
        length = int(rows[0]["FieldLength"]) if rows else None
    except (ErpError, ValueError) as exc:
        report.items.append(CheckItem(subject, True, f"not read from iDempiere ({exc}); the bridge assumes "
                                      f"po_reference_length = {setting} (iDempiere's default). To have it checked, "
                                      f"set up Web Service Type \"{name}\" (oms-bridge erp check --setup-guide).",
                                      unverified=True))
        length = None
    else:
        if length is None:
            report.items.append(CheckItem(subject, True, "AD_Column has no C_Order.POReference row the role can read; "
                                          f"the bridge assumes po_reference_length = {setting}", unverified=True))
        elif length < setting:
            report.items.append(CheckItem(
                subject, False, f"iDempiere keeps {length} characters but po_reference_length is {setting}: longer "
                "references would be cut silently and never found again after a lost answer",
                "Match the ERP: " + update.replace("{n}", str(length)), connection_step=True))
        else:
            note = f"{length} characters" + (f" (po_reference_length {setting}; raise it to keep more of long order "
                                             "numbers readable)" if length > setting else "")
            report.items.append(CheckItem(f"{subject}: {note}", True))
    for channel_id, channel in channels:
        try:
            po_reference("9" * 40, channel_id, channel, fmt=options.po_reference_format, length=setting)
        except ReferenceFormatError as exc:
            report.items.append(CheckItem(f"POReference of channel {channel}", False, str(exc),
                                          f"Shorten po_reference_format: oms-bridge erp connection update "
                                          f"{report.connection} --settings '{{\"po_reference_format\": "
                                          f"\"{{channel_id}}-{{order}}\"}}'", connection_step=True))


def _check_writes(client: ErpClient, options: ErpOptions, report: CheckReport, role_id: int) -> None:
    names = options.service_types
    groups: list[list[Operation]] = []
    labels: list[tuple[str, str | None]] = []
    for role in WRITE_ROLES:
        spec = SERVICE_SPECS[role]
        groups.append([_write_op(names[role], spec, ()), _sentinel()])
        labels.append((role, None))
        for column in spec.inputs:
            groups.append([_write_op(names[role], spec, (Field(column, _probe_value(column)),)), _sentinel()])
            labels.append((role, column))
    composite = names["composite"]
    try:
        results = client.composite(composite, groups)
    except ErpError as exc:
        spec = SERVICE_SPECS["composite"]
        report.items.append(CheckItem(f"{composite}: {spec.purpose}", False, str(exc),
                                      _todo_for(str(exc), composite, spec, role_id)))
        return
    report.items.append(CheckItem(f"{composite}: {SERVICE_SPECS['composite'].purpose}", True))
    failures: dict[str, list[str]] = {}
    for (role, _column), group in zip(labels, results, strict=True):
        first = next((r for r in group if r.is_error), None)
        text = first.error if first else ""
        if text and SENTINEL_TYPE not in text and _CONFIG_ERRORS.search(text):
            failures.setdefault(role, [])
            if text not in failures[role]:
                failures[role].append(text)
    for role in WRITE_ROLES:
        spec = SERVICE_SPECS[role]
        errors = failures.get(role, [])
        if not errors:
            report.items.append(CheckItem(f"{names[role]}: {spec.purpose}", True))
            continue
        # A type-level problem (missing type/access/parameter) hides the column checks: report it alone.
        type_level = [e for e in errors if "input column" not in e]
        for error in type_level[:1] or errors:
            report.items.append(CheckItem(f"{names[role]}: {spec.purpose}", False, error,
                                          _todo_for(error, names[role], spec, role_id)))


def format_report(report: CheckReport) -> str:
    """The checklist text ``erp check`` prints."""
    lines = [f"iDempiere setup check for ERP connection {report.connection} ({report.url})", ""]
    for item in report.items:
        mark = ("[?]      " if item.unverified else "[ok]     " if item.ok else "[MAPPING]" if item.mapping_step
                else "[MISSING]")
        shown = item.detail and (not item.ok or item.unverified)
        lines.append(f"{mark} {item.subject}" + (f" -- {item.detail}" if shown else ""))
    failing = [i for i in report.items if not i.ok and i.todo and not i.mapping_step]
    mapping = [i for i in report.items if not i.ok and i.todo and i.mapping_step]
    lines.append("")
    if not failing and not mapping:
        lines.append("Everything the bridge needs is configured.")
        return "\n".join(lines)
    if failing:
        if all(i.connection_step for i in failing):
            lines.append("To do before anything in iDempiere can be checked:")
        else:
            lines.append("To do in iDempiere (log in as System or the tenant admin; window \"Web Service Type\"):")
        for number, step in enumerate(dict.fromkeys(i.todo for i in failing), start=1):
            lines.append(f"  {number}. {step}")
        lines.append("")
    if mapping:
        lines.append(f"{len(mapping)} problem(s) in the channels' ERP mapping (each would hold that channel's "
                     "orders); fix the channel or the record in iDempiere:")
        for number, item in enumerate(mapping, start=1):
            lines.append(f"  {number}. {item.subject}: {item.detail}. Fix: {item.todo}")
        lines.append("")
    lines.append("Then run `oms-bridge erp check` again; held orders are re-armed when the check passes.")
    return "\n".join(lines)


def setup_guide(options: ErpOptions, role_id: int | str = "<your WS role>") -> str:
    """The full setup an iDempiere admin does once, without asking the server (``erp check --setup-guide``)."""
    names = options.service_types
    lines = ["iDempiere setup for oms-bridge (window \"Web Service Type\", as System or the tenant admin):", ""]
    step = 0
    for role, spec in SERVICE_SPECS.items():
        step += 1
        name = names[role]
        lines.append(f"{step}. Web Service Type \"{name}\": web service {spec.web_service}, method {spec.method}"
                     + (f", table {spec.table}" if spec.table else "") + f" -- {spec.purpose}.")
        if spec.params:
            params = ", ".join(f"{p} = {'Constant ' + repr(c) if c else 'Free'}" for p, c in spec.params)
            lines.append(f"   Web Service Parameters: {params}.")
        if spec.inputs:
            inputs = ", ".join(c + (" (Is Identifier = Y)" if c in spec.identifiers else "") for c in spec.inputs)
            lines.append(f"   Input columns (WS_WebServiceFieldInput): {inputs}.")
        if spec.outputs:
            lines.append(f"   Output columns (WS_WebServiceFieldOutput): {', '.join(spec.outputs)}.")
        lines.append(f"   Web Service Type Access: role {role_id}, Read Write.")
    lines += ["", f"{step + 1}. The login user's role must have RoleType empty or WS, access to the tenant, "
              "organization and warehouse entered in `oms-bridge erp connection add`.",
              f"{step + 2}. Put every marketplace product on the channel's price list (or use a doc type with "
              "No Price List Check), and create the shipping/discount charges and order sources the channels use.",
              "", "Then run `oms-bridge erp check`: it lists whatever is still missing."]
    return "\n".join(lines)
