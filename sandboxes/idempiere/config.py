"""What an iDempiere admin configures, as the sandbox holds it: users/roles and the WS_* web-service setup.

The real server keeps this in AD_User/AD_Role/AD_Org and in WS_WebService, WS_WebServiceMethod,
WS_WebServiceType, WS_WebService_Para, WS_WebServiceFieldInput/Output and WS_WebServiceTypeAccess
(``shared/specs/idempiere.md`` §1.3). The sandbox keeps the same facts in small dataclasses so tests
can remove a parameter, an input column or a role's access and watch the exact server error.

:func:`default_service_types` is the configuration the bridge needs (the same list ``erp check``
prints and ``docs/erp.md`` describes); it is what the sandbox is seeded with, so the happy path works.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from oms_bridge.erp.config import DEFAULT_SERVICE_TYPES, SERVICE_SPECS

__all__ = ["ServiceType", "LoginRealm", "default_service_types", "default_realm", "DEFAULT_TYPE_NAMES",
           "MODEL_AD_METHODS"]

#: WS_WebServiceMethod values of ModelADService (seeded 50021..50028) plus CompositeInterface/composite.
MODEL_AD_METHODS = ("setDocAction", "runProcess", "getList", "createData", "updateData", "deleteData", "readData",
                    "queryData")

#: Role keys used by the client → default WS_WebServiceType.Value (one source: oms_bridge.erp.config).
DEFAULT_TYPE_NAMES = DEFAULT_SERVICE_TYPES


@dataclass
class ServiceType:
    """One WS_WebServiceType with its parameters, input/output columns and role access."""

    value: str
    web_service: str  # "ModelADService" or "CompositeInterface"
    method: str  # WS_WebServiceMethod.Value, e.g. createData, setDocAction, composite
    table: str | None = None
    # WS_WebService_Para: name -> ("C", constant) or ("F", None)
    params: dict[str, tuple[str, str | None]] = field(default_factory=dict)
    # WS_WebServiceFieldInput: column -> IsIdentifier
    inputs: dict[str, bool] = field(default_factory=dict)
    # WS_WebServiceFieldOutput columns
    outputs: list[str] = field(default_factory=list)
    # WS_WebServiceTypeAccess roles
    roles: set[int] = field(default_factory=set)


def default_service_types(role: int = 50004, names: dict[str, str] | None = None) -> dict[str, ServiceType]:
    """The service types the bridge uses (``oms_bridge.erp.config.SERVICE_SPECS``), all granted to ``role``."""
    n = {**DEFAULT_TYPE_NAMES, **(names or {})}
    types = {}
    for key, spec in SERVICE_SPECS.items():
        params = {name: (("C", const) if const else ("F", None)) for name, const in spec.params}
        inputs = {c: c in spec.identifiers for c in spec.inputs}
        types[n[key]] = ServiceType(n[key], spec.web_service, spec.method, spec.table, params, inputs,
                                    list(spec.outputs), {role})
    return types


@dataclass
class LoginRealm:
    """AD_User → tenants → roles → organisations → warehouses, for the login checks."""

    # user -> (password, {client_id: {role_id: {org_id: {warehouse_ids}}}})
    users: dict[str, tuple[str, dict[int, dict[int, dict[int, set[int]]]]]] = field(default_factory=dict)

    def check(self, user: str, password: str, client: int, role: int, org: int, warehouse: int) -> str | None:
        """The server's login error text, in the server's check order, or None when allowed."""
        entry = self.users.get(user)
        if entry is None or entry[0] != password:
            return "Error login - User invalid"
        clients = entry[1]
        if client not in clients:
            return "Error logging in - tenant not allowed for this user"
        roles = clients[client]
        if role not in roles:
            return "Error logging in - role not allowed for this user"
        orgs = roles[role]
        if not orgs:
            return "Error logging in - no organizations for this role"
        if org not in orgs:
            return "Error logging in - org not allowed for this role"
        if warehouse not in orgs[org]:
            return "Error logging in - warehouse not allowed for this org"
        return None


def default_realm() -> LoginRealm:
    """GardenWorld-like: user WebService/WebService, tenant 11, role 50004, org 11, warehouse 103."""
    return LoginRealm({"WebService": ("WebService", {11: {50004: {11: {103}}}})})
