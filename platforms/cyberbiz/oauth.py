"""Cyberbiz V2 OAuth on the shop's own domain: authorize URL, code exchange, refresh.

Documented (spec §2.2, from the iDempiere plugin): ``POST https://{shop}/admin/oauth/token`` with JSON
``{"grant_type":"refresh_token","refresh_token","client_id","client_secret"}`` answers
``access_token`` and ``refresh_token``; both are stored. NOT documented: the authorize page, the code
exchange, token lifetimes and whether refresh tokens rotate. Chosen (each configurable through the
adapter's settings): ``GET {shop_url}/admin/oauth/authorize?client_id&redirect_uri&response_type=code&
scope&state`` and ``POST {shop_url}/admin/oauth/token`` with ``grant_type=authorization_code`` (the
usual Shopify-style shape the documented refresh call already follows). ``shop_url`` comes from
``shop_url_template`` (default ``https://{shop}``), so a sandbox only changes that URL.

Token calls change state at Cyberbiz (a code is consumed, a refresh may rotate the refresh token), so they
go out with ``idempotent=False``: a lost answer raises :class:`~platforms.base.OutcomeUnknown` after one
request instead of being re-sent with a refresh token that may already be dead (the adapter decides what
that means for the channel).

Token endpoint answers: ``invalid_client`` (or a 401 that is not ``invalid_grant``) →
:class:`CredentialsInvalid` (the app's id/secret are wrong); any other 4xx (``invalid_grant``: a used,
expired or unknown code/refresh token) → :class:`ReauthRequired`; 429/5xx/bad JSON as everywhere
(:func:`platforms.cyberbiz.client.classify`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from oms_bridge.remote.http import HttpClient, RetryPolicy
from platforms.base import CredentialsInvalid, PermanentError, ReauthRequired
from platforms.cyberbiz.client import PLATFORM, Reply, body_or_text, classify, error_message
from platforms.oauth import authorize_link, token_answer

__all__ = ["CyberbizOAuth"]


def _classify_token(response: requests.Response) -> Reply:
    """Token endpoint answers: a bad/used refresh token or code means the merchant must authorize again."""
    status = response.status_code
    if 200 <= status < 300 or status == 429 or status >= 500:
        return classify(response, auth_model="v2")
    body = body_or_text(response)
    message = (body.get("error_description") if isinstance(body, Mapping) else None) or error_message(body)
    code = str(body.get("error", "")) if isinstance(body, Mapping) and isinstance(body.get("error"), str) else ""
    if code == "invalid_client" or (status == 401 and code != "invalid_grant"):
        raise CredentialsInvalid(f"Cyberbiz rejected the app's client id/secret (HTTP {status}): {message}",
                                 platform=PLATFORM, code=code, status=status)
    raise ReauthRequired(f"Cyberbiz refused the token request (HTTP {status}): {message}; "
                         "the merchant must authorize the app again", platform=PLATFORM, code=code, status=status)


class CyberbizOAuth:
    """The V2 OAuth endpoints on a shop's own domain (``shop_url_template`` with ``{shop}``)."""

    def __init__(self, shop_url_template: str, client_id: str, client_secret: str, *,
                 policy: RetryPolicy | None = None, authorize_path: str = "/admin/oauth/authorize",
                 token_path: str = "/admin/oauth/token"):  # noqa: S107 - a URL path
        self.shop_url_template = shop_url_template
        self.client_id = client_id
        self._client_secret = client_secret
        self.policy = policy
        self.authorize_path = authorize_path
        self.token_path = token_path
        self._clients: dict[str, HttpClient] = {}
        self.calls = 0

    def shop_url(self, shop: str) -> str:
        if not shop:
            raise PermanentError("the channel has no shop domain (shop_id), needed for Cyberbiz OAuth",
                                 platform=PLATFORM)
        return self.shop_url_template.format(shop=shop).rstrip("/")

    def authorize_url(self, shop: str, redirect_uri: str, state: str, scope: str) -> str:
        return authorize_link(f"{self.shop_url(shop)}{self.authorize_path}", client_id=self.client_id,
                              redirect_uri=redirect_uri, state=state, scope=scope)

    def _http(self, shop: str) -> HttpClient:
        base = self.shop_url(shop)
        if base not in self._clients:
            self._clients[base] = HttpClient(base, platform=PLATFORM, policy=self.policy, classify=_classify_token)
        return self._clients[base]

    def _token(self, shop: str, payload: dict[str, Any]) -> dict[str, Any]:
        http = self._http(shop)
        before = http.calls
        try:
            reply = http.request("POST", self.token_path, json={**payload, "client_id": self.client_id,
                                                                 "client_secret": self._client_secret},
                                 headers={"Accept": "application/json"}, idempotent=False)
        finally:
            self.calls += http.calls - before
        return token_answer(reply.body, platform=PLATFORM, status=reply.status)

    def exchange_code(self, shop: str, code: str, redirect_uri: str | None) -> dict[str, Any]:
        payload: dict[str, Any] = {"grant_type": "authorization_code", "code": code}
        if redirect_uri:
            payload["redirect_uri"] = redirect_uri
        return self._token(shop, payload)

    def refresh(self, shop: str, refresh_token: str) -> dict[str, Any]:
        return self._token(shop, {"grant_type": "refresh_token", "refresh_token": refresh_token})
