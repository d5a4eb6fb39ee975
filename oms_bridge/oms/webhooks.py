"""Package webhooks from the OMS: ``POST packages/`` (``package.created``) and
``POST packages/update-status/`` (``package.status.<state>``).

Envelope (spec §4.2): ``{"event": {"type", "uuid"}, "payload": {<OMS package>}}``. The package is
keyed on ``payload.id``; its state is ``payload.state.enum_value`` (name in ``state.name``).

- **Auth**, as Akinon's webhook library dj-whisperer sends it (whisperer/client.py): the token named
  ``webhooks`` in ``Authorization: Token <token>`` (the subscription's ``additional_headers``) or as
  the password of HTTP basic auth (``config.auth``), checked before the body is read
  (:func:`oms_bridge.oms.deps.webhook_guard`); and, once a signing secret exists (``oms settings``
  makes one), ``X-Whisperer-Signature: sha256=<hex HMAC-SHA256(secret_key, raw body)>`` (header
  name: ``OmsConfig.hmac_header``), verified over the raw bytes in constant time.
- **Idempotent**: every event is recorded in ``oms_webhook_event`` (unique ``event.uuid``) in the
  same transaction as its effect; a second delivery of the same uuid answers 200 ``duplicate`` and
  changes nothing. whisperer counts only a 2xx as delivered and resends the *stored* payload with
  the same uuid after anything else (timeout included), so a duplicate must be a 2xx or it would be
  resent until whisperer gives up.
- **Acknowledgement**: a package linked to an order is the OMS acting on it, so the order's ``oms``
  delivery counts as sent (:func:`oms_bridge.oms.events.acknowledge`).
- **Ordering rule**: an event's time is ``payload.state.modified_date`` (the OMS's time of that
  state), else ``payload.modified_date``, else the time it was received. It becomes the package's
  current state only when that time is not older than the current state's time (ties: the later
  arrival wins). An older event is still kept in the history (``is_applied='N'``, outcome
  ``stale``), so a late ``package.created`` never turns a shipped package back into waiting.
- **Unknown states**: a code missing from ``OmsConfig.package_states`` is stored as received, the
  answer says ``unknown_state`` and a warning is logged; never a 500. For ``package.status.<slug>``
  events the slug of the event type decides the state (most numeric codes are not public); the
  code table decides for ``package.created``; a code the table maps differently is reported.
- **Malformed bodies**: 400 with ``{"detail": "<field>: <problem>", "field": "<field>"}``: not UTF-8
  JSON, nested too deeply, lone surrogates (:mod:`oms_bridge.oms.json_body`), a text field too long,
  a date later than now plus ``max_future_skew_minutes`` (default 1440; a year-9999 date would win
  over every later event and freeze the package). The token is checked before the body is read, and
  the body is capped by ``api_max_body_bytes``.
- **Linking to the order**: through ``packageitem_set[].order_item`` (our item ids, which the OMS
  holds as ``omnitron_id``), else through ``order_number`` when it names exactly one order.
- **Push-back**: when the current state is one of ``OmsConfig.ship_states`` (``shipped``), the
  package's tracking number and carrier are queued in ``oms_package_push`` and the order's
  ``logistics`` delivery row is armed with ``action="ship"``; channels/logistics.py pushes the
  tracking number to the marketplace. The same tracking number is never queued twice. Tracking and carrier are read from
  ``payload.tracking_number`` / ``payload.shipment.tracking_number`` / ``…awb_number`` and
  ``payload.cargo_company`` / ``payload.shipment.cargo_company`` (a name, an ``erp_code`` or an
  object holding either).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from oms_bridge.oms.auth import hmac_secret, verify_hmac
from oms_bridge.oms.config import HMAC_SECRET_NAME, OmsConfig, oms_config
from oms_bridge.oms.deps import webhook_guard
from oms_bridge.oms.events import acknowledge
from oms_bridge.oms.filters import FilterError, parse_datetime
from oms_bridge.oms.json_body import parse_json
from oms_bridge.settings import get_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Order, Package, utcnow
from oms_bridge.store.models.oms import (
    OmsApiToken,
    OmsOrderItem,
    OmsPackagePush,
    OmsPackageState,
    OmsWebhookEvent,
)
from oms_bridge.store.outbox import arm
from oms_bridge.vault import Vault

__all__ = ["router", "Envelope", "WebhookError", "parse_envelope", "apply_event"]

log = logging.getLogger(__name__)
router = APIRouter()


class WebhookError(FilterError):
    """The body is not a usable webhook; ``field`` names the culprit (dotted path)."""


@dataclass(frozen=True)
class Envelope:
    """What a package webhook says, validated."""

    kind: str  # "created" | "status"
    event_type: str
    event_uuid: str
    package_id: str
    state_code: str | None
    state_name: str | None
    state_at: datetime | None
    order_number: str | None
    item_ids: tuple[int, ...]
    tracking_number: str | None
    carrier: str | None
    invoice_number: str | None
    payload: dict[str, Any] = field(repr=False, compare=False)

    @property
    def type_slug(self) -> str | None:
        """``shipped`` of ``package.status.shipped``; None for other event types."""
        prefix = "package.status."
        if not self.event_type.startswith(prefix):
            return None
        return self.event_type[len(prefix):] or None


def _obj(value: Any, where: str, *, required: bool = True) -> dict[str, Any] | None:
    if value is None and not required:
        return None
    if not isinstance(value, dict):
        raise WebhookError(where, "required, an object" if value is None else "must be an object")
    return value


def _text(value: Any, where: str, *, required: bool = False, max_len: int = 120) -> str | None:
    if value is None or value == "":
        if required:
            raise WebhookError(where, "required")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise WebhookError(where, "must be a string or an integer")
    text = str(value).strip()
    if "\x00" in text:
        raise WebhookError(where, "contains a NUL character")
    if required and not text:
        raise WebhookError(where, "required")
    if len(text) > max_len:
        raise WebhookError(where, f"longer than {max_len} characters")
    return text or None


def _name_of(value: Any, where: str) -> str | None:
    """A carrier given as a string, or an object with erp_code/name/shipping_company."""
    if isinstance(value, dict):
        for key in ("erp_code", "shipping_company", "name", "code"):
            if value.get(key):
                return _text(value[key], f"{where}.{key}")
        return None
    return _text(value, where)


def _item_ids(items: Any) -> tuple[int, ...]:
    if items is None:
        return ()
    if not isinstance(items, list):
        raise WebhookError("payload.packageitem_set", "must be a list")
    ids = []
    for n, entry in enumerate(items):
        if not isinstance(entry, dict):
            raise WebhookError(f"payload.packageitem_set[{n}]", "must be an object")
        ref = entry.get("order_item", entry.get("order_item_id"))
        if isinstance(ref, dict):
            ref = ref.get("omnitron_id")
        if isinstance(ref, int) and not isinstance(ref, bool) and 0 < ref < 2**31:
            ids.append(ref)
        elif isinstance(ref, str) and ref.isdigit() and int(ref) < 2**31:
            ids.append(int(ref))
    return tuple(ids)


def parse_envelope(body: bytes, kind: str, *, latest: datetime | None = None) -> Envelope:
    """Validate a webhook body (PURE); raises :class:`WebhookError` naming the field.

    ``latest``: the latest plausible date (now plus the allowed clock skew); a state or modified date
    after it is refused, since the ordering rule would let it win over every later event forever."""
    try:
        data = parse_json(body)
    except FilterError as exc:
        raise WebhookError(exc.field, exc.message) from None
    data = _obj(data, "body")
    event = _obj(data.get("event"), "event")
    event_type = _text(event.get("type"), "event.type", required=True, max_len=80)
    event_uuid = _text(event.get("uuid"), "event.uuid", required=True, max_len=64)
    if kind == "created" and event_type != "package.created":
        raise WebhookError("event.type", f"expected 'package.created' at packages/, got {event_type!r}")
    if kind == "status" and not event_type.startswith("package.status."):
        raise WebhookError("event.type",
                           f"expected 'package.status.<state>' at packages/update-status/, got {event_type!r}")
    payload = _obj(data.get("payload"), "payload")
    package_id = _text(payload.get("id"), "payload.id", required=True, max_len=64)
    state = _obj(payload.get("state"), "payload.state", required=(kind == "status"))
    code = name = None
    state_at = None
    if state is not None:
        code = _text(state.get("enum_value"), "payload.state.enum_value", required=True, max_len=20)
        name = _text(state.get("name"), "payload.state.name")
        state_at = _when(state.get("modified_date"), "payload.state.modified_date", latest)
    state_at = state_at or _when(payload.get("modified_date"), "payload.modified_date", latest)
    shipment = _obj(payload.get("shipment"), "payload.shipment", required=False) or {}
    tracking = (_text(payload.get("tracking_number"), "payload.tracking_number")
                or _text(shipment.get("tracking_number"), "payload.shipment.tracking_number")
                or _text(shipment.get("awb_number"), "payload.shipment.awb_number"))
    carrier = (_name_of(payload.get("cargo_company"), "payload.cargo_company")
               or _name_of(shipment.get("cargo_company"), "payload.shipment.cargo_company")
               or _name_of(shipment.get("shipping_company"), "payload.shipment.shipping_company"))
    return Envelope(
        kind=kind, event_type=event_type, event_uuid=event_uuid, package_id=package_id, state_code=code,
        state_name=name, state_at=state_at, order_number=_text(payload.get("order_number"), "payload.order_number",
                                                                max_len=64),
        item_ids=_item_ids(payload.get("packageitem_set")), tracking_number=tracking, carrier=carrier,
        invoice_number=_text(payload.get("invoice_number"), "payload.invoice_number"), payload=payload,
    )


def _when(value: Any, where: str, latest: datetime | None = None) -> datetime | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise WebhookError(where, "must be an ISO 8601 date-time string")
    try:
        when = parse_datetime(where, value)
    except FilterError as exc:
        raise WebhookError(where, exc.message) from None
    if latest is not None and when is not None and when > latest:
        raise WebhookError(where, f"{value!r} is in the future (later than {latest.isoformat(timespec='seconds')}, "
                                  "now plus the allowed clock skew, setting max_future_skew_minutes)")
    return when


def _package(session: Session, env: Envelope) -> Package:
    stmt = select(Package).where(Package.external_id == env.package_id)
    pkg = session.scalars(stmt).one_or_none()
    if pkg is None:
        try:
            with session.begin_nested():
                pkg = Package(external_id=env.package_id)
                session.add(pkg)
                session.flush()
        except IntegrityError:
            pkg = session.scalars(stmt).one()
    return pkg


def _link(session: Session, pkg: Package, env: Envelope) -> tuple[Order | None, str | None]:
    """The package's order, or None with the reason it cannot be linked."""
    if pkg.oms_order_id is not None:
        return session.get(Order, pkg.oms_order_id), None
    if env.item_ids:
        order_ids = set(session.scalars(select(OmsOrderItem.oms_order_id).where(
            OmsOrderItem.id.in_(env.item_ids))).all())
        if len(order_ids) == 1:
            return session.get(Order, order_ids.pop()), None
    number = env.order_number or pkg.order_number
    if not number:
        return None, "the package names no order (no packageitem_set order items, no order_number)"
    orders = session.scalars(select(Order).where(Order.external_id == number).limit(2)).all()
    if len(orders) == 1:
        return orders[0], None
    if not orders:
        return None, f"no order with number {number!r}"
    return None, f"order number {number!r} is ambiguous (several channels); send packageitem_set order items"


def _slug_of(env: Envelope, config: OmsConfig, messages: list[str]) -> tuple[str | None, bool]:
    """(our slug for the event's state, whether its code is in the table), noting what needs the admin.

    A ``package.status.<slug>`` event names the state itself; the numeric codes of most states are
    not public, so for such events the event type wins over the code table (a conflict is reported
    so the table can be fixed). ``package.created`` and ``…transitioned`` carry no slug: the code
    table decides.
    """
    table_slug = config.package_slug(env.state_code)
    type_slug = env.type_slug if env.type_slug not in (None, "transitioned") else None
    known = table_slug is not None
    if not known:
        messages.append(f"unknown package state code {env.state_code!r} ({env.state_name or 'no name'}) stored"
                        + (f"; treated as {type_slug!r} from the event type" if type_slug else "")
                        + "; add it to [oms_bridge.oms.package_states]")
        log.warning("OMS package %s: %s", env.package_id, messages[-1])
    elif type_slug and type_slug != table_slug:
        messages.append(f"state code {env.state_code!r} is configured as {table_slug!r} but the event is "
                        f"{env.event_type!r}; trusted the event type (fix [oms_bridge.oms.package_states])")
        log.warning("OMS package %s: %s", env.package_id, messages[-1])
    return type_slug or table_slug, known


def _current_slug(session: Session, pkg: Package) -> str | None:
    """Our slug of the package's current state (its latest applied state row)."""
    return session.scalars(
        select(OmsPackageState.state_slug).where(OmsPackageState.oms_package_id == pkg.id,
                                                 OmsPackageState.is_applied.is_(True))
        .order_by(OmsPackageState.state_at.desc(), OmsPackageState.id.desc()).limit(1)).first()


def _current_state_at(session: Session, pkg: Package) -> datetime | None:
    return session.scalar(select(func.max(OmsPackageState.state_at)).where(
        OmsPackageState.oms_package_id == pkg.id, OmsPackageState.is_applied.is_(True)))


def apply_event(session: Session, env: Envelope, config: OmsConfig, *, raw: str,
                now: datetime | None = None) -> dict[str, Any]:
    """Record one webhook and apply it (see module doc); returns the JSON answer."""
    now = now or utcnow()
    event = OmsWebhookEvent(event_uuid=env.event_uuid, event_type=env.event_type,
                            package_external_id=env.package_id, outcome="applied", received_at=now, raw_body=raw)
    try:
        with session.begin_nested():
            session.add(event)
            session.flush()
    except IntegrityError:
        return {"status": "duplicate", "event": env.event_uuid, "package": env.package_id,
                "message": "this event was already received; nothing changed"}
    pkg = _package(session, env)
    order, link_problem = _link(session, pkg, env)
    if order is not None:
        pkg.oms_order_id = order.id
    messages: list[str] = []
    applied = True
    if env.state_code is not None:
        slug, known = _slug_of(env, config, messages)
        state_at = env.state_at or now
        current_at = _current_state_at(session, pkg)
        applied = current_at is None or state_at >= current_at
        session.add(OmsPackageState(oms_package_id=pkg.id, state_code=env.state_code, state_name=env.state_name,
                                    state_slug=slug, is_known=known, is_applied=applied, event_uuid=env.event_uuid,
                                    event_type=env.event_type, state_at=state_at))
        if applied:
            pkg.state_code, pkg.state_name = env.state_code, env.state_name or slug
        else:
            messages.append(f"older than the package's current state ({current_at.isoformat()}); kept in history only")
        event.outcome = "applied" if applied and known else ("stale" if not applied else "unknown_state")
    for attr, value in (("order_number", env.order_number), ("tracking_number", env.tracking_number),
                        ("carrier", env.carrier), ("invoice_number", env.invoice_number)):
        if value is not None and (applied or getattr(pkg, attr) is None):
            setattr(pkg, attr, value)
    pkg.raw_payload = json.dumps(env.payload, ensure_ascii=False) if applied else pkg.raw_payload
    if link_problem:
        messages.append(f"not linked to an order: {link_problem}")
        if event.outcome == "applied":
            event.outcome = "unlinked"
    if order is not None:
        acknowledge(session, [order.id], f"{env.event_type} {env.package_id}", now=now)
    current_slug = _current_slug(session, pkg)
    armed = False
    if order is not None and current_slug in config.ship_states:
        armed = _queue_push(session, pkg, order)
    event.message = "; ".join(messages) or None
    session.flush()
    return {"status": event.outcome, "event": env.event_uuid, "package": env.package_id,
            "state": pkg.state_code, "order": order.id if order else None, "logistics_armed": armed,
            "message": event.message}


def _queue_push(session: Session, pkg: Package, order: Order) -> bool:
    """Record the package's tracking for the marketplace and arm the order's ``logistics`` row.

    Nothing happens when this exact tracking/carrier was already queued (or pushed): a repeated or
    late shipped event never pushes twice.
    """
    push = session.scalars(select(OmsPackagePush).where(OmsPackagePush.oms_package_id == pkg.id)).one_or_none()
    if push is not None and (push.tracking_number, push.carrier) == (pkg.tracking_number, pkg.carrier):
        return False
    if push is None:
        push = OmsPackagePush(oms_package_id=pkg.id, oms_order_id=order.id, ad_client_id=order.ad_client_id,
                              ad_org_id=order.ad_org_id)
        session.add(push)
    push.tracking_number, push.carrier, push.state = pkg.tracking_number, pkg.carrier, "pending"
    push.oms_order_id = order.id
    session.flush()
    arm(session, order, ["logistics"], action="ship")
    return True


def _error(status: int, field_name: str, message: str) -> JSONResponse:
    return JSONResponse({"detail": f"{field_name}: {message}" if field_name else message, "field": field_name},
                        status_code=status)


def _handle(kind: str, body: bytes, signature: str | None) -> JSONResponse:
    """Signature first (over the raw bytes: an unsigned body is 401 whatever it holds), then the envelope."""
    settings = get_settings()
    config = oms_config(settings)
    with session_scope(settings, immediate=True) as session:
        secret = hmac_secret(session, Vault.from_settings(settings)) if _hmac_enabled(session) else None
        if secret is not None and not verify_hmac(secret, body, signature):
            return _error(401, config.hmac_header, "missing or invalid signature: expected sha256=<hex HMAC-SHA256 "
                                                   "of the raw body with the subscription's secret_key>")
        latest = utcnow() + timedelta(minutes=max(0, settings.max_future_skew_minutes))
        try:
            env = parse_envelope(body, kind, latest=latest)
        except WebhookError as exc:
            return _error(400, exc.field, exc.message)
        answer = apply_event(session, env, config, raw=body.decode("utf-8", "replace"))
    return JSONResponse(answer, status_code=200)


def _hmac_enabled(session: Session) -> bool:
    """Checked before building the vault, so webhooks work without a key when HMAC is off."""
    return session.scalar(select(func.count()).select_from(OmsApiToken).where(
        OmsApiToken.endpoint == HMAC_SECRET_NAME, OmsApiToken.secret_enc.is_not(None))) > 0


async def _receive(kind: str, request: Request) -> JSONResponse:
    body = await request.body()
    header = oms_config(get_settings()).hmac_header
    return await run_in_threadpool(_handle, kind, body, request.headers.get(header))


_WEBHOOK_BODY = {"requestBody": {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["event", "payload"],
    "properties": {"event": {"type": "object", "required": ["type", "uuid"],
                             "properties": {"type": {"type": "string"}, "uuid": {"type": "string"}}},
                   "payload": {"type": "object"}}}}}}}


@router.post("/packages/", dependencies=[Depends(webhook_guard)], openapi_extra=_WEBHOOK_BODY)
async def package_created(request: Request) -> JSONResponse:
    """``package.created``."""
    return await _receive("created", request)


@router.post("/packages/update-status/", dependencies=[Depends(webhook_guard)],
             openapi_extra=_WEBHOOK_BODY)
async def package_status(request: Request) -> JSONResponse:
    """``package.status.<state>``."""
    return await _receive("status", request)
