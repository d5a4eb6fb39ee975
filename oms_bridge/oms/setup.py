"""What the OMS admin must enter, built from the bridge's URL and fresh tokens (PURE).

Follows seed 000 ("Integrating OMS with Seller Center") step by step:

- step 2, the ``OMNITRON_CLIENT_SETTINGS`` application setting: ``endpoint_conf`` lists every endpoint
  with ``base_url = <bridge>/api/v1/applications/oms`` and its own token. ``auth`` (username/password)
  and ``urls`` belong to Omnitron, which the OMS still uses for everything but orders and
  addresses; they are filled from ``--omnitron-url`` / placeholders, because the bridge does not
  know them (the seed shows the same ``{base_url}`` placeholder; when no Omnitron URL is given the
  bridge URL is used, matching the seed's literal text);
- step 3, one webhook subscription per event type, shaped as dj-whisperer's ``Webhook`` model takes
  it (``POST {oms}/api/v1/whisperer/hooks/``): ``event_type``, ``target_url``, ``secret_key`` (the
  bridge checks ``X-Whisperer-Signature``), ``additional_headers`` with the ``webhooks`` token (or
  ``config.auth`` basic credentials, ``--webhook-auth basic``), ``config``, ``is_active`` and a
  ``retry_countdown_config`` whisperer's validator accepts (``exponential`` needs ``base``);
- step 4, the ``supplier_code``; the note that the single static channel is created with the first
  order (so channel-dependent scenarios are configured after it).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

from oms_bridge.oms.config import API_PREFIX, ENDPOINTS, WEBHOOK_ENDPOINT, OmsConfig

__all__ = ["PACKAGE_CREATED_EVENTS", "PACKAGE_STATUS_EVENTS", "client_settings", "webhook_subscriptions",
           "setup_document", "render_text", "RETRY_COUNTDOWN", "WEBHOOK_AUTH_MODES"]

PACKAGE_CREATED_EVENTS = ("package.created",)
PACKAGE_STATUS_EVENTS = tuple(f"package.status.{s}" for s in (
    "preparing", "packed", "delivered", "shipped", "packed_for_refund", "out_of_stock", "ready_for_customer_pickup",
    "cancelled"))
# whisperer's ExponentialRetryCountdown: base ** retry_count seconds (1, 2, 4 … capped at an hour);
# its validator requires ``base`` (an empty kwargs is refused).
RETRY_COUNTDOWN = {"choice": "exponential", "kwargs": {"base": 2, "limit": 3600}}
WEBHOOK_AUTH_MODES = ("header", "basic")


def client_settings(base_url: str, tokens: Mapping[str, str], *, omnitron_url: str | None = None,
                    omnitron_username: str | None = None) -> dict[str, Any]:
    """The ``OMNITRON_CLIENT_SETTINGS`` application setting (key + json_value)."""
    root = base_url.rstrip("/")
    omnitron = (omnitron_url or root).rstrip("/")
    return {
        "key": "OMNITRON_CLIENT_SETTINGS",
        "json_value": {
            "auth": {"username": omnitron_username or "<Omnitron user oms.application>",
                     "password": "<password of that Omnitron user>"},
            "urls": {"oms_url": f"{omnitron}/api/v1", "base_url": f"{omnitron}/api/v1"},
            "timeouts": {"read": 6000, "connect": 6000},
            "endpoint_conf": [
                {"endpoint": name, "base_url": f"{root}{API_PREFIX}", "auth": {"token": tokens[name]}}
                for name in ENDPOINTS
            ],
        },
    }


def webhook_subscriptions(base_url: str, token: str, *, secret_key: str | None = None, auth: str = "header",
                          username: str = "oms-bridge") -> list[dict[str, Any]]:
    """One OMS webhook per event type (``POST {oms}/api/v1/whisperer/hooks/`` bodies, whisperer's fields).

    ``auth``: ``header`` sends the token as ``additional_headers`` ``Authorization: Token <token>``;
    ``basic`` as whisperer ``config.auth`` basic credentials (user ``username``, password the token).
    """
    if auth not in WEBHOOK_AUTH_MODES:
        raise ValueError(f"webhook auth must be one of {', '.join(WEBHOOK_AUTH_MODES)}, got {auth!r}")
    root = f"{base_url.rstrip('/')}{API_PREFIX}"
    targets = [(e, f"{root}/packages/") for e in PACKAGE_CREATED_EVENTS]
    targets += [(e, f"{root}/packages/update-status/") for e in PACKAGE_STATUS_EVENTS]
    headers = {"Authorization": f"Token {token}"} if auth == "header" else {}
    config = ({"auth": {"auth_type": "basic", "username": username, "password": token}} if auth == "basic" else {})
    return [{"event_type": event, "target_url": url, "secret_key": secret_key, "additional_headers": dict(headers),
             "config": copy.deepcopy(config), "retry_countdown_config": copy.deepcopy(RETRY_COUNTDOWN),
             "is_active": True, "callback": None}
            for event, url in targets]


def setup_document(config: OmsConfig, base_url: str, tokens: Mapping[str, str], *, secret_key: str | None = None,
                   omnitron_url: str | None = None, omnitron_username: str | None = None,
                   rotated: bool = True, webhook_auth: str = "header",
                   push: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Everything ``oms-bridge oms settings`` prints, as one JSON-ready document."""
    channel = ({"mode": "static", "id": config.channel_id, "code": config.channel_code, "name": config.channel_name,
                "note": "one static OMS channel is sent with every order; the OMS creates it with the first order, "
                        "so configure channel-dependent scenarios after the first order has arrived"}
               if config.channel_mode == "static" else
               {"mode": "per_channel", "note": "each marketplace channel is its own OMS channel (id = bridge channel "
                                               "id, code = its oms_channel_code or value)"})
    return {
        "warning": ("these tokens were generated now: the tokens the OMS had before no longer work. "
                    "Enter all of them in the OMS.") if rotated else None,
        "bridge_base_url": base_url,
        "OMNITRON_CLIENT_SETTINGS": client_settings(base_url, tokens, omnitron_url=omnitron_url,
                                                    omnitron_username=omnitron_username),
        "supplier_code": config.supplier_code,
        "channel": channel,
        "webhooks": webhook_subscriptions(base_url, tokens[WEBHOOK_ENDPOINT], secret_key=secret_key,
                                          auth=webhook_auth, username=config.webhook_username),
        "signature": ({"header": config.hmac_header, "format": "sha256=<hex HMAC-SHA256(secret_key, raw body)>",
                       "secret_key": secret_key} if secret_key else None),
        "orders": {"notify": config.order_notify, "product_reference": config.product_reference,
                   **({"push": dict(push)} if push else {})},
    }


def render_text(doc: Mapping[str, Any]) -> str:
    """The document as copy-and-paste steps for the OMS admin."""

    def block(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False, indent=2)

    out = []
    if doc.get("warning"):
        out.append(f"NOTE: {doc['warning']}\n")
    out.append("1. OMS Application Settings → add/replace the setting OMNITRON_CLIENT_SETTINGS "
               "(fill in the Omnitron user and password; `urls` point at Omnitron):")
    out.append(block(doc["OMNITRON_CLIENT_SETTINGS"]))
    out.append("\n2. OMS Application Settings → Seller Center supplier_code:")
    out.append(f"   {doc['supplier_code']}")
    out.append(f"\n3. Channel: {doc['channel']['note']}.")
    out.append("\n4. OMS → Webhook Services: create one webhook per event (UI or API). API, one call each:")
    for hook in doc["webhooks"]:
        out.append("curl -X POST -H \"Authorization: Token $OMS_LOGIN_TOKEN\" -H \"Content-Type: application/json\" "
                   f"-d '{json.dumps(hook, ensure_ascii=False)}' \"$OMS_URL/api/v1/whisperer/hooks/\"")
    sig = doc.get("signature")
    if sig:
        out.append(f"\n5. Webhook signatures: every webhook above carries secret_key; the bridge checks "
                   f"{sig['header']}: {sig['format']} (what dj-whisperer sends).")
    else:
        out.append("\n5. Webhook signatures are off (`oms settings --rotate` without --no-signature turns them on).")
    orders = doc.get("orders") or {}
    if orders.get("notify") == "push":
        push = orders.get("push") or {}
        unset = "(push_url not set)"
        out.append(f"\n6. Orders are pushed to the OMS: order.created → {push.get('order.created') or unset}, "
                   f"order.updated → {push.get('order.updated') or unset}; OMS token "
                   f"{'set' if push.get('token') else 'NOT set'}, signing secret "
                   f"{'set' if push.get('secret') else 'not set'} (`oms-bridge oms push-auth`).")
    else:
        out.append("\n6. Orders: the OMS reads them (orders/); an order counts as delivered when the OMS acts on it.")
    out.append("\nTurn off the Omnitron webhooks cancellation_plan.created/updated, order.created/updated, "
               "retail_store.created/updated ({omnitron}/api/v1/whisperer/hooks/?limit=999).")
    return "\n".join(out)
