"""``oms-bridge demo``: the whole flow on this machine, from marketplace sandboxes to the ERP sandbox.

What it does, in order (everything listens on 127.0.0.1 only; nothing leaves the machine):

1. creates a **fresh data directory** (a new temporary directory unless ``--home`` names an empty
   one) with its own key file and embedded SQLite database, so the demo never touches a real setup;
2. starts every marketplace sandbox (:data:`MARKETPLACES`) and the iDempiere sandbox;
3. configures one platform and two channels per marketplace through :mod:`oms_bridge.configure`
   (the functions behind ``oms-bridge platform/channel add``), plus the ERP connection and mapping;
4. authorizes each channel through its sandbox: OAuth channels with
   ``start_authorization`` → the sandbox's merchant consent → ``complete_authorization``; credential
   channels with ``check_credentials``;
5. generates orders on every shop, then runs RefreshToken, GetOrder and the ERP delivery;
6. prints a summary: orders per channel, completed ERP orders, held orders counted by cause (one
   line per cause, not per order: with 500 orders per channel the summary still fits a screen), and
   where to look next.

The ERP sandbox's catalogue knows every sandbox SKU except one on purpose: the product of
:data:`UNMAPPED_SKU` is renamed in the ERP (as happens when an ERP catalogue uses its own codes),
so the orders containing it are **held** with a reason, while every other order completes; the
summary shows the one command that maps the SKU and releases them.

``--serve`` then keeps the sandboxes, the HTTP app and the scheduler running (admin pages,
``/metrics``) until Ctrl-C, with a freshly generated admin password printed once.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from channels.authorization import AuthorizationError, check_credentials, complete_authorization, start_authorization
from channels.binding import needs_token_refresh
from channels.getorder import run_getorder
from channels.refreshtoken import run_refreshtoken
from oms_bridge.configure.channels import add_channel
from oms_bridge.configure.lookups import get_channel
from oms_bridge.configure.platforms import add_platform
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.settings import Settings, get_settings, reset_settings
from oms_bridge.store.causes import cause_of_hold
from oms_bridge.store.db import dispose_engines, get_engine, session_scope
from oms_bridge.store.models import Base, Channel, Delivery, ErpConnection, Order
from oms_bridge.vault import Vault, create_key_file
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.idempiere.server import ErpSandbox
from sandboxes.momo import MomoSandbox
from sandboxes.server import Sandbox
from sandboxes.shopee import ShopeeSandbox
from sandboxes.shopline import ShoplineSandbox

__all__ = ["run_demo", "DemoResult", "DemoError", "MARKETPLACES", "UNMAPPED_SKU"]

#: (sandbox class, options of each of the two shops) per marketplace
MARKETPLACES: list[tuple[type[Sandbox], list[dict[str, Any]]]] = [
    (ShopeeSandbox, [{}, {}]),
    (CyberbizSandbox, [{"auth_model": "v2"}, {"auth_model": "v1"}]),
    (MomoSandbox, [{}, {}]),
    (ShoplineSandbox, [{"auth_model": "oauth"}, {"auth_model": "token"}]),
]

#: the marketplace SKU the ERP sandbox knows under another product code (see module doc)
UNMAPPED_SKU = "SAUCE-CHILI"
ERP_RENAMED_VALUE = "SAUCE-CHILI-240G"
ERP_CONNECTION = "demo-erp"


class DemoError(Exception):
    """The demo cannot run (e.g. the data directory is not empty); the message says why."""


@dataclass
class ChannelSummary:
    channel: str
    platform_type: str
    authorization: str
    orders: int = 0
    erp_completed: int = 0
    erp_held: int = 0
    erp_waiting: int = 0  # not due yet (e.g. unpaid: goes to the ERP once the marketplace reports it paid)
    erp_skipped: int = 0  # nothing to create (e.g. cancelled before it reached the ERP)


@dataclass
class HeldCause:
    """One reason orders are held: its hold code, how many orders, on which channels, one example text, and
    the words the admin pages and ``deliveries problems`` use for it (:func:`oms_bridge.store.causes.cause_label`)."""

    code: str
    orders: int
    channels: list[str]
    example: str
    label: str = ""


@dataclass
class DemoResult:
    """What the demo did: its data directory, one row per channel, the ERP's orders, held reasons."""

    home: Path
    channels: list[ChannelSummary] = field(default_factory=list)
    erp_orders_completed: int = 0
    held: list[tuple[str, str, str]] = field(default_factory=list)  # (channel, order, reason)
    held_causes: list[HeldCause] = field(default_factory=list)  # most orders first
    url: str | None = None
    admin_password: str | None = None


def _fresh_home(home: str | Path | None) -> Path:
    if home is None:
        return Path(tempfile.mkdtemp(prefix="oms-bridge-demo-"))
    path = Path(home).expanduser()
    if path.exists() and any(path.iterdir()):
        raise DemoError(f"the demo needs a fresh data directory, and {path} is not empty; "
                        "omit --home to use a new temporary directory")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _demo_settings(home: Path, port: int) -> Settings:
    """Point this process at the demo directory: its own key file and SQLite database."""
    for name in ("OMS_BRIDGE_DATABASE_URL", "OMS_BRIDGE_SECRET_KEYS", "OMS_BRIDGE_CONFIG"):
        os.environ.pop(name, None)
    os.environ["OMS_BRIDGE_HOME"] = str(home)
    os.environ["OMS_BRIDGE_BASE_URL"] = f"http://127.0.0.1:{port}"
    os.environ["OMS_BRIDGE_HTTP_PORT"] = str(port)
    dispose_engines()
    reset_settings()
    settings = get_settings()
    create_key_file(settings.key_file)
    Base.metadata.create_all(get_engine(settings))
    return settings


def _configure_erp(settings: Settings, erp: ErpSandbox) -> None:
    fields = erp.connection_fields()
    vault = Vault.from_settings(settings)
    with session_scope(settings) as session:
        session.add(ErpConnection(value=ERP_CONNECTION, url=fields["url"], username=fields["username"],
                                  password_enc=vault.encrypt(fields["password"]), erp_client_id=fields["client_id"],
                                  erp_role_id=fields["role_id"], erp_org_id=fields["org_id"],
                                  erp_warehouse_id=fields["warehouse_id"], lang=fields["lang"],
                                  stage=fields["stage"]))
    # The ERP knows this product under its own code, so the marketplace SKU has no ERP product yet.
    with erp.db.lock:
        erp.db.conn.execute("UPDATE M_Product SET Value = ? WHERE Value = ?", (ERP_RENAMED_VALUE, UNMAPPED_SKU))


def _add_platform(settings: Settings, sandbox: Sandbox) -> str:
    """The marketplace app, pointing at the sandbox; returns the platform value."""
    pf = sandbox.platform_fields()
    value = f"{sandbox.platform_type}-demo"
    with session_scope(settings) as session:
        add_platform(session, Vault.from_settings(settings), value=value,
                               name=f"{sandbox.platform_type.title()} (sandbox)", platform_type=sandbox.platform_type,
                               host=pf["host"], app_id=pf.get("app_id"), app_secret=pf.get("app_secret"),
                               settings=pf.get("settings") or None)
    return value


def _add_channel(settings: Settings, sandbox: Sandbox, platform: str, index: int, options: dict[str, Any],
                 erp: ErpSandbox, orders: int) -> str:
    """A shop on the sandbox, its channel (committed, so authorization can follow), and its orders."""
    shop = sandbox.add_shop(**options)
    value = f"{sandbox.platform_type}-{index}"
    mapping = dict(erp.channel_mapping())
    # Orders carry their marketplace as iDempiere order source (the sandbox seeds one per platform).
    sources = erp.records("C_OrderSource", Value=sandbox.platform_type)
    mapping["erp_ordersource_id"] = sources[0]["C_OrderSource_ID"] if sources else None
    with session_scope(settings) as session:
        add_channel(session, Vault.from_settings(settings), value=value, platform=platform,
                              name=shop.get("name") or f"{sandbox.platform_type.title()} shop {index}",
                              shop_id=shop["shop_id"], credentials=shop.get("credentials") or None,
                              settings=shop.get("settings") or None, erp_connection=ERP_CONNECTION, **mapping)
    # Each shop's orders at other seconds: momo numbers its orders by time, and distinct numbers per
    # shop keep the demo's order lists easy to tell apart (the ERP reference names the channel anyway).
    end = datetime.now(UTC) - timedelta(minutes=2, seconds=37 * index)
    sandbox.generate_orders(shop["shop_id"], orders, start=end - timedelta(hours=6), end=end)
    return value


def _authorize(settings: Settings, sandbox: Sandbox, value: str) -> str:
    """Authorize one channel the way its platform does it; returns a one-line outcome."""
    with session_scope(settings) as session:
        channel = get_channel(session, value)
        oauth = needs_token_refresh(channel, session)
    if oauth:
        try:
            params = sandbox.consent(start_authorization(value, settings=settings))
            complete_authorization(sandbox.platform_type, params, settings=settings)
        except AuthorizationError as exc:
            raise DemoError(f"authorizing channel {value} failed: {exc}") from exc
        return "OAuth consent"
    ok, message = check_credentials(value, settings=settings)
    if not ok:
        raise DemoError(message)
    return "credentials checked"


def _summarise(settings: Settings, result: DemoResult, erp: ErpSandbox) -> None:
    with session_scope(settings) as session:
        for row in result.channels:
            channel_id = session.scalar(select(Channel.id).where(Channel.value == row.channel))
            row.orders = session.scalar(select(func.count()).select_from(Order)
                                        .where(Order.oms_channel_id == channel_id))
            counts = dict(session.execute(
                select(Delivery.state, func.count()).join(Order, Order.id == Delivery.oms_order_id)
                .where(Order.oms_channel_id == channel_id, Delivery.destination == "erp")
                .group_by(Delivery.state)).all())
            row.erp_completed = session.scalar(
                select(func.count()).select_from(Delivery).join(Order, Order.id == Delivery.oms_order_id)
                .where(Order.oms_channel_id == channel_id, Delivery.destination == "erp", Delivery.state == "sent",
                       Delivery.erp_record_id.is_not(None)))
            row.erp_skipped = counts.get("sent", 0) - row.erp_completed
            row.erp_held = counts.get("held", 0) + counts.get("dead", 0)
            row.erp_waiting = row.orders - row.erp_completed - row.erp_skipped - row.erp_held
        held_rows = session.execute(
            select(Channel.value, Order.external_id, Delivery.last_error, Delivery.hold_code)
            .join(Order, Order.id == Delivery.oms_order_id).join(Channel, Channel.id == Order.oms_channel_id)
            .where(Delivery.destination == "erp", Delivery.state.in_(("held", "dead")))
            .order_by(Channel.value, Order.external_id)).all()
        result.held = [(chan, number, reason or "") for chan, number, reason, _code in held_rows]
        result.held_causes = _causes(held_rows)
    result.erp_orders_completed = sum(1 for o in erp.orders() if o.get("DocStatus") == "CO")


def _causes(rows: Sequence[Any]) -> list[HeldCause]:
    """Held rows (channel, order, reason, hold code) grouped by hold code, most orders first.

    The reason text names the order, so it cannot be the key; the code names the cause
    (``missing_sku:SAUCE-CHILI``). A row without a code is keyed by its text."""
    causes: dict[str, HeldCause] = {}
    for chan, _number, reason, code in rows:
        key = code or reason or "unknown"
        cause = causes.setdefault(key, HeldCause(key, 0, [], reason or "",
                                                 cause_of_hold(code).label if code else key))
        cause.orders += 1
        if chan not in cause.channels:
            cause.channels.append(chan)
    return sorted(causes.values(), key=lambda c: (-c.orders, c.code))


def summary_data(result: DemoResult) -> dict[str, Any]:
    """The summary as data (``oms-bridge demo --json``)."""
    return {"home": str(result.home),
            "channels": [vars(r) for r in result.channels],
            "orders": sum(r.orders for r in result.channels),
            "erp_orders_completed": result.erp_orders_completed,
            "held": sum(c.orders for c in result.held_causes),
            "held_causes": [vars(c) for c in result.held_causes],
            "unmapped_sku": UNMAPPED_SKU, "erp_product_value": ERP_RENAMED_VALUE}


def print_summary(result: DemoResult, echo: Callable[[str], None]) -> None:
    """The table a new user reads first: one line per channel and per hold cause, never per order."""
    echo("")
    echo(f"{'channel':<12} {'platform':<10} {'authorization':<20} {'orders':>6} {'in ERP':>6} {'held':>5} "
         f"{'waiting':>7} {'no ERP order':>12}")
    echo("-" * 85)
    for r in result.channels:
        echo(f"{r.channel:<12} {r.platform_type:<10} {r.authorization:<20} {r.orders:>6} {r.erp_completed:>6} "
             f"{r.erp_held:>5} {r.erp_waiting:>7} {r.erp_skipped:>12}")
    echo("-" * 85)
    rows = result.channels
    echo(f"{'total':<12} {'':<10} {'':<20} {sum(r.orders for r in rows):>6} {sum(r.erp_completed for r in rows):>6} "
         f"{sum(r.erp_held for r in rows):>5} {sum(r.erp_waiting for r in rows):>7} "
         f"{sum(r.erp_skipped for r in rows):>12}")
    echo("waiting: unpaid, goes to the ERP once the marketplace reports it paid; no ERP order: cancelled on the\n"
         "marketplace before it reached the ERP, so there is nothing to create")
    total = sum(r.orders for r in result.channels)
    echo(f"{total} orders from {len(result.channels)} channels; "
         f"{result.erp_orders_completed} completed sales orders (DocStatus CO) in the iDempiere sandbox")
    if result.held:
        echo(f"\n{len(result.held)} order(s) held for the ERP, by cause:")
        for cause in result.held_causes:
            channels = ", ".join(cause.channels[:4]) + (f" +{len(cause.channels) - 4}" if len(cause.channels) > 4
                                                        else "")
            echo(f"  {cause.orders:>5}  {cause.label or cause.code}  ({len(cause.channels)} channel(s): {channels})")
        echo(f"  each order's own reason: OMS_BRIDGE_HOME={result.home} oms-bridge erp status")
        echo(f"\n(On purpose: the ERP calls SKU {UNMAPPED_SKU} '{ERP_RENAMED_VALUE}'. To release them, run\n"
             "  oms-bridge demo --serve\n"
             f"and map it on the SKU mapping page (or: oms-bridge sku map {UNMAPPED_SKU} --value "
             f"{ERP_RENAMED_VALUE}); the held orders go to the ERP on the next delivery run. The sandboxes of this "
             "run have stopped, so the ERP is not reachable from this data directory any more.)")
    echo(f"\nDemo data directory: {result.home} (fresh; delete it when done). Look around with")
    echo(f"  OMS_BRIDGE_HOME={result.home} oms-bridge orders list --held")
    echo(f"  OMS_BRIDGE_HOME={result.home} oms-bridge sku unmapped")
    echo(f"  OMS_BRIDGE_HOME={result.home} oms-bridge process runs")
    echo("or run `oms-bridge demo --serve` to keep the sandboxes, the admin pages and the scheduler running.")


@contextmanager
def _quiet_logs() -> Iterator[None]:
    """The summary says what matters; per-request sandbox logs and per-order warnings would bury it
    (``oms-bridge -v demo`` keeps them). Levels are restored afterwards: the demo also runs inside
    other processes (tests, ``--serve``) whose logging it must not change for good."""
    quiet = {"werkzeug": logging.WARNING}
    quiet.update({name: logging.ERROR for name in
                  ("oms_bridge", "channels", "platforms", "scheduler", "zeep", "apscheduler")})
    if logging.getLogger().level <= logging.DEBUG:
        quiet = {}
    before = {name: logging.getLogger(name).level for name in quiet}
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    try:
        yield
    finally:
        for name, level in before.items():
            logging.getLogger(name).setLevel(level)


def run_demo(*, orders_per_channel: int = 5, home: str | Path | None = None, serve: bool = False, port: int = 0,
             echo: Callable[[str], None] = print,
             on_summary: Callable[[DemoResult], None] | None = None) -> DemoResult:
    """Run the demo (see module doc); with ``serve`` block until SIGTERM/Ctrl-C.

    ``on_summary`` replaces the printed summary (``--json`` prints it as data), before serving starts."""
    home_path = _fresh_home(home)
    with _quiet_logs():
        return _run_demo(home_path, orders_per_channel, serve, port, echo, on_summary)


def _run_demo(home_path: Path, orders_per_channel: int, serve: bool, port: int,
              echo: Callable[[str], None], on_summary: Callable[[DemoResult], None] | None = None) -> DemoResult:
    settings = _demo_settings(home_path, port or _free_port())
    echo(f"oms-bridge demo: fresh data directory {home_path}")
    result = DemoResult(home=home_path)
    erp = ErpSandbox().start()
    sandboxes: list[Sandbox] = []
    try:
        _configure_erp(settings, erp)
        echo(f"  iDempiere sandbox on {erp.base_url}")
        for cls, shops in MARKETPLACES:
            sandbox = cls().start()
            sandboxes.append(sandbox)
            echo(f"  {sandbox.platform_type} sandbox on {sandbox.base_url}")
            platform = _add_platform(settings, sandbox)
            for index, options in enumerate(shops, start=1):
                # Authorize right after adding: the merchant approves the shop that is being connected.
                value = _add_channel(settings, sandbox, platform, index, options, erp, orders_per_channel)
                result.channels.append(ChannelSummary(value, sandbox.platform_type,
                                                      _authorize(settings, sandbox, value)))
        with session_scope(settings) as session:
            ids = {c.value: c.id for c in session.scalars(select(Channel))}
        for row in result.channels:
            run_refreshtoken(ids[row.channel], settings=settings, force=True)
            run_getorder(ids[row.channel], settings=settings)
        run_erp_delivery(settings=settings)
        _summarise(settings, result, erp)
        if on_summary:
            on_summary(result)
        else:
            print_summary(result, echo)
        if serve:
            _serve(settings, result, echo)
    finally:
        for sandbox in sandboxes:
            sandbox.stop()
        erp.stop()
    return result


def _serve(settings: Settings, result: DemoResult, echo: Callable[[str], None]) -> None:
    from oms_bridge.service import run_service
    from oms_bridge.web.security import set_admin_password

    result.admin_password = secrets.token_urlsafe(12)
    set_admin_password("admin", result.admin_password, settings=settings)

    def _started(service) -> None:
        result.url = service.url
        echo(f"\nServing the admin pages at {service.url}/admin/  (user admin, password {result.admin_password})")
        echo(f"Metrics at {service.url}/metrics; the scheduler keeps pulling orders. Ctrl-C stops everything.")

    run_service(settings=settings, on_started=_started)
