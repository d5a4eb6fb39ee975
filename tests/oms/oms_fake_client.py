"""A fake Akinon OMS: configured only from the ``oms-bridge oms settings`` JSON, it builds URLs the way
omnisdk does (``endpoint_conf.base_url + "/" + endpoint + "/"``), sends ``Authorization: Token``,
pages by following ``next`` until it is null, and posts package webhooks with the subscription's
``additional_headers``."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any
from urllib.parse import urlsplit

import requests


class RealHttp:
    """requests with the TestClient call signature, for runs against a real server."""

    def __init__(self, timeout: float = 5.0):
        self.session = requests.Session()
        self.timeout = timeout

    def get(self, url: str, *, params: Any = None, headers: Any = None):
        return self.session.get(url, params=params, headers=headers, timeout=self.timeout)

    def post(self, url: str, *, json: Any = None, content: bytes | None = None, headers: Any = None):
        return self.session.post(url, json=json, data=content, headers=headers, timeout=self.timeout)


class FakeOms:
    def __init__(self, endpoint_conf: list[dict], webhooks: list[dict], http: Any, hmac_conf: dict | None = None):
        self.conf = {e["endpoint"]: e for e in endpoint_conf}
        self.webhooks = {w["event_type"]: w for w in webhooks}
        self.http = http  # a TestClient or a requests.Session-like object with get/post
        self.hmac_conf = hmac_conf
        self.requests = 0

    @classmethod
    def from_setup(cls, doc: dict, http: Any) -> FakeOms:
        settings = doc["OMNITRON_CLIENT_SETTINGS"]["json_value"]
        return cls(settings["endpoint_conf"], doc["webhooks"], http, doc.get("hmac"))

    def _path(self, url: str) -> str:
        """For a TestClient keep only path+query (its host is not ours); a real HTTP client gets the URL."""
        if isinstance(self.http, RealHttp):
            return url
        parts = urlsplit(url)
        return parts.path + (f"?{parts.query}" if parts.query else "")

    def url(self, endpoint: str, pk: int | None = None) -> str:
        base = self.conf[endpoint]["base_url"].rstrip("/")
        return f"{base}/{endpoint}/" + (f"{pk}/" if pk is not None else "")

    def headers(self, endpoint: str) -> dict[str, str]:
        return {"Authorization": f"Token {self.conf[endpoint]['auth']['token']}"}

    def get(self, endpoint: str, pk: int | None = None, **params: Any):
        self.requests += 1
        return self.http.get(self._path(self.url(endpoint, pk)), params=params or None,
                             headers=self.headers(endpoint))

    def post(self, endpoint: str, body: Any):
        self.requests += 1
        return self.http.post(self._path(self.url(endpoint)), json=body, headers=self.headers(endpoint))

    def pull_all(self, endpoint: str, **params: Any) -> list[dict]:
        """Every result of a list endpoint, following ``next``."""
        out: list[dict] = []
        resp = self.get(endpoint, **params)
        while True:
            assert resp.status_code == 200, (endpoint, resp.status_code, resp.text)
            body = resp.json()
            assert set(body) == {"count", "next", "previous", "results"}, body.keys()
            out.extend(body["results"])
            if not body["next"]:
                assert len(out) == body["count"], (endpoint, len(out), body["count"])
                return out
            self.requests += 1
            resp = self.http.get(self._path(body["next"]), headers=self.headers(endpoint))

    def send(self, event_type: str, payload: dict, *, event_uuid: str | None = None, raw: bytes | None = None,
             headers: dict | None = None):
        """POST a webhook as the OMS's subscription for ``event_type`` would."""
        hook = self.webhooks[event_type]
        body = raw if raw is not None else json.dumps(
            {"event": {"type": event_type, "uuid": event_uuid or uuid.uuid4().hex}, "payload": payload}).encode()
        hdrs = {"Content-Type": "application/json", **(hook["additional_headers"] or {})}
        if hook.get("secret_key") and self.hmac_conf:
            hdrs[self.hmac_conf["header"]] = hmac.new(hook["secret_key"].encode(), body, hashlib.sha256).hexdigest()
        hdrs.update(headers or {})
        self.requests += 1
        return self.http.post(self._path(hook["target_url"]), content=body, headers=hdrs)


def package_payload(package_id: int, order_number: str, code: str, name: str, *, at: str | None = None,
                    item_ids: tuple[int, ...] = (), tracking: str | None = None,
                    carrier: str | None = None) -> dict:
    """A package payload shaped like the WH-PKG example."""
    state = {"id": 1, "name": name, "config": {}, "enum_class": "PackageStatus", "enum_value": code,
             "content_type": 26}
    if at:
        state["modified_date"] = at
    return {
        "id": package_id, "number": f"PKG{package_id}", "order_number": order_number, "order_id": 9000 + package_id,
        "state": state, "commands": [], "channel_name": "oms-bridge", "remote_id": None,
        "shipment": ({"tracking_number": tracking, "cargo_company": {"name": carrier, "erp_code": carrier}}
                     if tracking else None),
        "packageitem_set": [{"id": 100 + i, "order_item": {"omnitron_id": i}} for i in item_ids],
    }
