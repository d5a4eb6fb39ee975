"""A stand-in for the Akinon OMS, configured only from the ``oms-bridge oms settings --json`` document.

For the demo and the tests: it builds URLs the way omnisdk does (``endpoint_conf.base_url + "/" +
endpoint + "/"``, ``…/<pk>/`` for a detail), sends ``Authorization: Token <that endpoint's token>``,
pages by following ``next`` until it is null, and posts package webhooks as dj-whisperer's
``WebhookClient.send_payload`` does with the printed subscription: the body is ``json.dumps`` of the
envelope with its defaults, ``X-Whisperer-Event`` names the event, ``X-Whisperer-Signature:
sha256=<hex>`` signs those exact bytes when the subscription has a ``secret_key``,
``config.auth`` basic credentials become HTTP basic auth and ``additional_headers`` are added.

``http`` is a ``requests.Session`` (default; a real server) or anything with the same ``get``/``post``
keywords as httpx/Starlette's TestClient (in-process app).

:class:`OmsEventReceiver` is the other direction: the OMS taking ``order.created`` / ``order.updated``
events when the bridge pushes them (``oms.order_notify = "push"``).

Usage::

    oms = OmsSimulator(json.loads(setup_json_text))
    orders = oms.pull_all("orders")
    oms.ship(orders[0], package_id=1, tracking_number="TW123", carrier="黑貓宅急便")
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Mapping
from typing import Any

import requests
from werkzeug.wrappers import Request as WzRequest
from werkzeug.wrappers import Response as WzResponse

from sandboxes.server import FaultPlan, Served, drop_connection

__all__ = ["OmsSimulator", "OmsEventReceiver", "package_payload", "SimulatorError"]


class SimulatorError(RuntimeError):
    """The bridge answered the simulated OMS with something an OMS could not use."""


def package_payload(package_id: int, order_number: str, code: str, name: str, *, at: str | None = None,
                    item_ids: tuple[int, ...] = (), tracking: str | None = None,
                    carrier: str | None = None) -> dict[str, Any]:
    """A package payload shaped like the Akinon package webhook example (spec §4.2)."""
    state: dict[str, Any] = {"id": 1, "name": name, "config": {}, "enum_class": "PackageStatus",
                             "enum_value": code, "content_type": 26}
    if at:
        state["modified_date"] = at
    return {
        "id": package_id, "number": f"PKG{package_id}", "order_number": order_number, "order_id": 9000 + package_id,
        "state": state, "commands": [], "channel_name": "oms-bridge", "remote_id": None,
        "shipment": ({"tracking_number": tracking, "cargo_company": {"name": carrier, "erp_code": carrier}}
                     if tracking else None),
        "packageitem_set": [{"id": 100 + i, "order_item": {"omnitron_id": i}} for i in item_ids],
    }


class OmsSimulator:
    """See module doc."""

    def __init__(self, setup: Mapping[str, Any], http: Any = None, *, timeout: float = 10.0):
        settings = setup["OMNITRON_CLIENT_SETTINGS"]["json_value"]
        self.conf = {e["endpoint"]: e for e in settings["endpoint_conf"]}
        self.webhooks = {w["event_type"]: w for w in setup["webhooks"]}
        self.http = http if http is not None else requests.Session()
        self.timeout = timeout
        self.requests = 0

    # -- transport ---------------------------------------------------------------------------------
    def _get(self, url: str, params: Mapping[str, Any] | None, headers: Mapping[str, str]) -> Any:
        self.requests += 1
        if isinstance(self.http, requests.Session):
            return self.http.get(url, params=params, headers=headers, timeout=self.timeout)
        return self.http.get(url, params=params, headers=headers)

    def _post(self, url: str, body: bytes, headers: Mapping[str, str]) -> Any:
        self.requests += 1
        if isinstance(self.http, requests.Session):
            return self.http.post(url, data=body, headers=headers, timeout=self.timeout)
        return self.http.post(url, content=body, headers=headers)

    # -- pull API ----------------------------------------------------------------------------------
    def url(self, endpoint: str, pk: int | None = None) -> str:
        base = self.conf[endpoint]["base_url"].rstrip("/")
        return f"{base}/{endpoint}/" + (f"{pk}/" if pk is not None else "")

    def headers(self, endpoint: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.conf[endpoint]['auth']['token']}"}

    def get(self, endpoint: str, pk: int | None = None, **params: Any) -> Any:
        return self._get(self.url(endpoint, pk), params or None, self.headers(endpoint))

    def post(self, endpoint: str, body: Any) -> Any:
        return self._post(self.url(endpoint), json.dumps(body).encode(),
                          {**self.headers(endpoint), "Content-Type": "application/json"})

    def pull_all(self, endpoint: str, **params: Any) -> list[dict[str, Any]]:
        """Every result of a list endpoint, following ``next`` (checks the DRF page shape on the way)."""
        out: list[dict[str, Any]] = []
        resp = self.get(endpoint, **params)
        while True:
            if resp.status_code != 200:
                raise SimulatorError(f"{endpoint}: HTTP {resp.status_code} {resp.text[:300]}")
            body = resp.json()
            if set(body) != {"count", "next", "previous", "results"}:
                raise SimulatorError(f"{endpoint}: not a DRF page: {sorted(body)}")
            out.extend(body["results"])
            if not body["next"]:
                if len(out) != body["count"]:
                    raise SimulatorError(f"{endpoint}: {len(out)} results but count {body['count']}")
                return out
            resp = self._get(body["next"], None, self.headers(endpoint))

    def pull_everything(self, page_size: int = 100) -> dict[str, list[dict[str, Any]]]:
        """What an OMS copies: orders, items, plans and the whole address catalogue."""
        return {name: self.pull_all(name, limit=page_size) for name in (
            "orders", "orderitem_set", "cancellation_plans", "countries", "cities", "townships", "districts")}

    # -- webhooks ----------------------------------------------------------------------------------
    def send(self, event_type: str, payload: Mapping[str, Any], *, event_uuid: str | None = None,
             raw: bytes | None = None, headers: Mapping[str, str] | None = None) -> Any:
        """POST a webhook as dj-whisperer would for the OMS's subscription to ``event_type`` (module doc)."""
        hook = self.webhooks[event_type]
        body = raw if raw is not None else json.dumps(
            {"event": {"type": event_type, "uuid": event_uuid or uuid.uuid4().hex}, "payload": payload}).encode()
        hdrs = {"Content-Type": "application/json", "X-Whisperer-Event": event_type}
        if hook.get("secret_key"):
            digest = hmac.new(hook["secret_key"].encode("utf-8"), body, hashlib.sha256).hexdigest()
            hdrs["X-Whisperer-Signature"] = f"sha256={digest}"
        auth = (hook.get("config") or {}).get("auth") or {}
        hdrs.update(hook.get("additional_headers") or {})
        if auth.get("auth_type") == "basic":  # requests' HTTPBasicAuth wins over a header of the same name
            pair = f"{auth.get('username')}:{auth.get('password')}".encode("latin-1")
            hdrs["Authorization"] = "Basic " + base64.b64encode(pair).decode("ascii")
        hdrs.update(headers or {})
        return self._post(hook["target_url"], body, hdrs)

    def ship(self, order: Mapping[str, Any], *, package_id: int, tracking_number: str, carrier: str | None = None,
             shipped_code: str = "600") -> dict[str, Any]:
        """Play one package of ``order`` (as pulled) through created → packed → shipped; the last answer."""
        items = tuple(i["id"] for i in order.get("orderitem_set", []))
        number = order["number"]
        steps = (("package.created", "100", "Waiting", None), ("package.status.packed", "500", "Packed", None),
                 ("package.status.shipped", shipped_code, "Shipped", tracking_number))
        answer: dict[str, Any] = {}
        for event, code, name, tracking in steps:
            resp = self.send(event, package_payload(package_id, number, code, name, item_ids=items, tracking=tracking,
                                                    carrier=carrier if tracking else None))
            if resp.status_code != 200:
                raise SimulatorError(f"{event}: HTTP {resp.status_code} {resp.text[:300]}")
            answer = resp.json()
        return answer


class OmsEventReceiver(Served):
    """The OMS's side of the order push: a real HTTP server on 127.0.0.1 taking whisperer-style events.

    It checks what a whisperer receiver checks: ``Authorization: Token <token>`` (when ``token`` is
    given) and ``X-Whisperer-Signature: sha256=<hex HMAC-SHA256(secret, raw body)>`` (when ``secret``
    is given) over the exact bytes received; then it deduplicates by ``event.uuid``: a new event is
    applied (201), a repeat answers 200 and is only counted (:attr:`duplicates`). Only ``paths`` are
    served (404 otherwise). Faults (:attr:`faults`, the sandboxes' :class:`FaultPlan`): ``500``/``502``/
    ``503``/``429`` answer without applying; ``lost_answer`` applies, then drops the connection.
    """

    def __init__(self, *, paths: tuple[str, ...] = ("/api/v1/oms/order/",), token: str | None = None,
                 secret: str | None = None):
        self.paths = paths
        self.token = token
        self.secret = secret
        self.faults = FaultPlan()
        self.events: dict[str, dict[str, Any]] = {}  # uuid -> {"type", "payload", "body", "path"}
        self.duplicates: dict[str, int] = {}
        self.refused: list[tuple[int, str]] = []  # (status, reason)
        self.requests = 0
        self._lock = threading.Lock()

    def orders(self) -> dict[str, list[str]]:
        """Order number → the event types applied for it, in arrival order."""
        out: dict[str, list[str]] = {}
        for event in self.events.values():
            out.setdefault(str(event["payload"].get("number")), []).append(event["type"])
        return out

    def _answer(self, request: WzRequest) -> WzResponse:
        if request.method != "POST" or request.path not in self.paths:
            return self._refuse(404, f"no route {request.method} {request.path}")
        if self.token is not None and request.headers.get("Authorization") != f"Token {self.token}":
            return self._refuse(401, "invalid token")
        body = request.get_data(cache=True)
        if self.secret is not None:
            expected = "sha256=" + hmac.new(self.secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
            if not hmac.compare_digest(expected, request.headers.get("X-Whisperer-Signature", "")):
                return self._refuse(401, "invalid signature")
        try:
            envelope = json.loads(body)
            event_type, event_uuid = envelope["event"]["type"], envelope["event"]["uuid"]
            payload = envelope["payload"]
        except (ValueError, KeyError, TypeError):
            return self._refuse(400, "not an event envelope")
        if request.headers.get("X-Whisperer-Event") != event_type:
            return self._refuse(400, "X-Whisperer-Event does not name event.type")
        with self._lock:
            if event_uuid in self.events:
                self.duplicates[event_uuid] = self.duplicates.get(event_uuid, 0) + 1
                return WzResponse(json.dumps({"detail": "duplicate"}), status=200, content_type="application/json")
            self.events[event_uuid] = {"type": event_type, "payload": payload, "body": body, "path": request.path}
        return WzResponse(json.dumps({"detail": "created"}), status=201, content_type="application/json")

    def _refuse(self, status: int, reason: str) -> WzResponse:
        with self._lock:
            self.refused.append((status, reason))
        return WzResponse(json.dumps({"detail": reason}), status=status, content_type="application/json")

    def wsgi_app(self, environ, start_response):
        request = WzRequest(environ)
        with self._lock:
            self.requests += 1
        fault = self.faults.take(request.path)
        if fault is not None and fault.kind in ("500", "502", "503"):
            return WzResponse("<html>Server Error</html>", status=int(fault.kind))(environ, start_response)
        if fault is not None and fault.kind == "429":
            headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after is not None else {}
            return WzResponse("{}", status=429, headers=headers)(environ, start_response)
        response = self._answer(request)
        if fault is not None and fault.kind == "lost_answer":
            return drop_connection(environ, start_response)
        return response(environ, start_response)
