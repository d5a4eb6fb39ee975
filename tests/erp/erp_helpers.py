"""Helpers of the ERP tests: a running iDempiere sandbox, a store with a channel wired to it, orders.

``erp_env`` creates a platform, a channel with the sandbox's ERP mapping, and an ERP connection
(password encrypted by the vault), then offers ``add_order(...)`` which writes an order the way
GetOrder does (order + lines + ``outbox.arm(..., ["erp"])``). ``assert_bodies_valid`` checks every
request body the client sent against the upstream ``idempiere-schema.xsd`` when it is available.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from sqlalchemy import select

from oms_bridge.settings import Settings
from oms_bridge.store import outbox
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Delivery, ErpConnection, Order, OrderLine, Platform
from oms_bridge.vault import Vault
from sandboxes.idempiere.server import ErpSandbox

REPO = Path(__file__).resolve().parents[2]


def _shared_idempiere() -> Path:
    """``shared/idempiere`` next to the checkout, or next to its parent (a worktree under ``wt/``)."""
    for base in (REPO.parent, REPO.parent.parent):
        if (base / "shared" / "idempiere").is_dir():
            return base / "shared" / "idempiere"
    return REPO.parent / "shared" / "idempiere"


XSD_PATH = _shared_idempiere() / "idempiere-schema.xsd"
SOAP_NS = "http://schemas.xmlsoap.org/soap/envelope/"


@dataclass
class ErpEnv:
    settings: Settings
    sandbox: ErpSandbox
    channel_id: int
    connection_id: int
    _seq: int = 0

    def add_order(self, external_id: str | None = None, lines: list[tuple[str | None, int, str]] | None = None, *,
                  shipping_fee: str = "0", discount: str = "0", email: str | None = "buyer@example.com",
                  channel_id: int | None = None, created: datetime | None = None, status: str = "paid") -> str:
        """Store an order with its erp delivery row armed; returns its external id."""
        self._seq += 1
        external_id = external_id or f"2611230{self._seq:05d}"
        lines = lines if lines is not None else [("TEA-OOLONG-150", 2, "480"), ("MUG-CER-350", 1, "299")]
        with session_scope(self.settings) as s:
            order = Order(oms_channel_id=channel_id or self.channel_id, external_id=external_id, status=status,
                          platform_status="READY_TO_SHIP", currency="TWD",
                          order_created=created or datetime(2026, 11, 22, 16, 30, tzinfo=UTC),
                          shipping_fee=Decimal(shipping_fee), discount_amount=Decimal(discount),
                          buyer_id="b-1", buyer_name="陳怡君", buyer_email=email, buyer_phone="0912345678",
                          ship_name="陳怡君", ship_phone="0912345678", ship_country="TW", ship_city="臺北市",
                          ship_district="大安區", ship_zip="106", ship_address1="復興南路12號3樓")
            for no, (sku, qty, price) in enumerate(lines, start=1):
                order.lines.append(OrderLine(line_no=no, sku=sku, name=f"item {no}", qty=Decimal(qty),
                                             unit_price=Decimal(price)))
            s.add(order)
            s.flush()
            outbox.arm(s, order, ["erp"])
        return external_id

    def cancel(self, external_id: str, action: str = "cancel") -> None:
        """The marketplace cancelled the order: GetOrder re-arms the erp row with action cancel."""
        self.change_status(external_id, "cancelled", action=action)

    def change_status(self, external_id: str, status: str, action: str = "create") -> None:
        """The marketplace changed the order; GetOrder stores it and re-arms the erp row."""
        with session_scope(self.settings) as s:
            order = s.scalars(select(Order).where(Order.external_id == external_id)).one()
            order.status = status
            order.version += 1
            outbox.arm(s, order, ["erp"], action=action)

    def delivery(self, external_id: str, channel_id: int | None = None) -> Delivery:
        with session_scope(self.settings) as s:
            return s.scalars(select(Delivery).join(Order, Order.id == Delivery.oms_order_id)
                             .where(Order.external_id == external_id, Delivery.destination == "erp",
                                    Order.oms_channel_id == (channel_id or self.channel_id))).one()

    def erp_orders(self, external_id: str, channel: str = "shop-a") -> list[dict[str, Any]]:
        """The C_Orders made for this store order, known by the Description the bridge writes ("<number> (<channel>)
        ship to ..."), so a count does not depend on how the POReference is built."""
        marker = f"{external_id} ({channel}) "
        return [o for o in self.sandbox.orders() if (o["Description"] or "").startswith(marker)]

    def update_connection(self, **values: Any) -> None:
        with session_scope(self.settings) as s:
            conn = s.get(ErpConnection, self.connection_id)
            for key, value in values.items():
                if key == "password":
                    conn.password_enc = Vault.from_settings(self.settings).encrypt(value)
                else:
                    setattr(conn, key, value)


def make_env(settings: Settings, sandbox: ErpSandbox, *, timeout: float = 5.0) -> ErpEnv:
    fields = sandbox.connection_fields()
    vault = Vault.from_settings(settings)
    with session_scope(settings) as s:
        platform = Platform(value="shopee-tw", name="Shopee TW", platform_type="shopee", host="http://127.0.0.1")
        s.add(platform)
        conn = ErpConnection(value="gw", url=fields["url"], username=fields["username"],
                             password_enc=vault.encrypt(fields["password"]), erp_client_id=fields["client_id"],
                             erp_role_id=fields["role_id"], erp_org_id=fields["org_id"],
                             erp_warehouse_id=fields["warehouse_id"], lang=fields["lang"], stage=fields["stage"],
                             settings_json=json.dumps({"timeout_seconds": timeout}))
        s.add(conn)
        s.flush()
        channel = Channel(value="shop-a", name="Shop A", oms_platform_id=platform.id, shop_id="1001",
                          oms_erp_connection_id=conn.id, **sandbox.channel_mapping())
        s.add(channel)
        s.flush()
        return ErpEnv(settings, sandbox, channel.id, conn.id)


def assert_bodies_valid(sandbox: ErpSandbox) -> int:
    """Validate each request element the client sent against the upstream XSD; returns how many."""
    if not XSD_PATH.exists():
        pytest.skip(f"upstream schema not available at {XSD_PATH}; XSD validation of request bodies skipped")
    schema = etree.XMLSchema(etree.parse(str(XSD_PATH)))
    checked = 0
    for body in sandbox.bodies:
        envelope = etree.fromstring(body)
        wrapper = envelope.find(f"{{{SOAP_NS}}}Body")[0]
        assert len(wrapper) == 1, "the RPC wrapper must hold exactly the request element"
        request = wrapper[0]
        if not schema.validate(request):
            raise AssertionError(f"{etree.QName(request).localname} invalid: {schema.error_log}")
        checked += 1
    return checked


def erp_orders_by_number(sandbox: ErpSandbox) -> dict[str, dict]:
    """The sandbox's C_Orders keyed by the marketplace order number their Description starts with.

    The POReference is the per-channel dedupe key (``{channel_id}-{order}``, or a digest when that is too long), so
    tests that look orders up by their number read the Description marker the delivery writes
    (:func:`oms_bridge.erp.mapping.description_marker`). A number booked twice fails here.
    """
    found: dict[str, dict] = {}
    for order in sandbox.orders():
        number = (order.get("Description") or "").split(" (", 1)[0]
        assert number not in found, f"order {number} has two C_Orders"
        found[number] = order
    return found
