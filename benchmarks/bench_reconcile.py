"""Reconciliation's API cost on every platform: marketplace list calls and SOAP round trips per 1,000 orders.

Run: ``python benchmarks/bench_reconcile.py [--orders 1000] [--platforms cyberbiz,shopee,momo,shopline]
[--batches 50,200,500]``.

Per platform, a sandbox shop (real HTTP on 127.0.0.1, its rate limit raised so only the algorithm's calls
count; a real 429 adds one retried call, visible as ``oms_bridge_api_calls_total{outcome="rate_limited"}``)
holds N paid orders created over the last two Asia/Taipei days (yesterday and today so far: what the daily
run with the default ``reconcile_days`` = 1 covers). GetOrder reads them into a fresh SQLite store and the
ERP delivery sends them to the iDempiere sandbox, so every POReference lookup finds its order. Then:

1. one reconciliation of those days per ERP batch size (default 200 is ``reconcile_erp_batch_size``'s default);
2. one more at the default batch after an order was added behind GetOrder's watermark (a lost order): the
   case where a listing without times (Shopee) must place the order by window (one more list pass, per day).

The sandboxes count the requests: marketplace calls are all list calls (``detail_calls()`` is checked to
be 0), SOAP calls are ``queryData`` round trips. Expected (docs/reconcile.md, "API cost"):

- Cyberbiz: ceil(N / 50) list pages per ≤31-day window (the pages carry whole orders);
- Shopee: ceil(N / 100) pages per ≤15-day window, twice when a window takes more than one page (the second
  pass proves no order was skipped by the offset paging); + (days + 1) windows' listing when the store lacks
  an order the listing shows no time for;
- momo: one call per list variant per ≤59-day window (19 with the default ``query_filters``: 1 company,
  6 store chains, 4 carriers × 3 temperatures), whatever N (momo has no paging);
- Shopline: ceil(N / per_page) pages, page 1 read at both ends of the pass (per_page 50 by default);
- ERP: ceil(N / batch) ``queryData`` calls.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from sqlalchemy import update

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from channels.authorization import check_credentials, complete_authorization, start_authorization  # noqa: E402
from channels.backfill import taipei_day_start  # noqa: E402
from channels.binding import needs_token_refresh  # noqa: E402
from channels.getorder import run_getorder  # noqa: E402
from oms_bridge.configure.channels import add_channel  # noqa: E402
from oms_bridge.configure.lookups import get_channel  # noqa: E402
from oms_bridge.configure.platforms import add_platform  # noqa: E402
from oms_bridge.erp.delivery import run_erp_delivery  # noqa: E402
from oms_bridge.reconcile.compare import day_of  # noqa: E402
from oms_bridge.reconcile.run import reconcile_channel  # noqa: E402
from oms_bridge.remote.http import RetryPolicy  # noqa: E402
from oms_bridge.settings import get_settings, reset_settings  # noqa: E402
from oms_bridge.store.db import dispose_engines, get_engine, session_scope  # noqa: E402
from oms_bridge.store.models import Base, Channel, ErpConnection, utcnow  # noqa: E402
from oms_bridge.vault import Vault, generate_key  # noqa: E402
from sandboxes.cyberbiz import CyberbizSandbox  # noqa: E402
from sandboxes.idempiere.server import ErpSandbox  # noqa: E402
from sandboxes.momo import MomoSandbox  # noqa: E402
from sandboxes.server import Sandbox  # noqa: E402
from sandboxes.shopee import ShopeeSandbox  # noqa: E402
from sandboxes.shopline import ShoplineSandbox  # noqa: E402

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the sandboxes' access logs

FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=3, read_timeout=30)
SANDBOXES: dict[str, type[Sandbox]] = {"cyberbiz": CyberbizSandbox, "shopee": ShopeeSandbox, "momo": MomoSandbox,
                                       "shopline": ShoplineSandbox}
CHANNEL = "bench"


def _fresh_settings():
    os.environ["OMS_BRIDGE_HOME"] = tempfile.mkdtemp(prefix="bench-reconcile-")
    os.environ["OMS_BRIDGE_SECRET_KEYS"] = generate_key()
    os.environ.pop("OMS_BRIDGE_DATABASE_URL", None)
    reset_settings()
    settings = replace(get_settings(), getorder_initial_lookback_minutes=3 * 1440, erp_batch_size=50,
                       monitored_destinations="erp,oms")
    Base.metadata.create_all(get_engine(settings))
    return settings


def _bind(settings, sandbox: Sandbox, erp: ErpSandbox) -> tuple[int, str]:
    """Platform, ERP connection and channel as the admin enters them; the channel authorized."""
    vault = Vault.from_settings(settings)
    fields, shop, erp_fields = sandbox.platform_fields(), sandbox.add_shop(), erp.connection_fields()
    with session_scope(settings) as s:
        s.add(ErpConnection(value="gw", url=erp_fields["url"], username=erp_fields["username"],
                            password_enc=vault.encrypt(erp_fields["password"]), erp_client_id=erp_fields["client_id"],
                            erp_role_id=erp_fields["role_id"], erp_org_id=erp_fields["org_id"],
                            erp_warehouse_id=erp_fields["warehouse_id"], lang=erp_fields["lang"],
                            stage=erp_fields["stage"]))
        add_platform(s, vault, value=sandbox.platform_type, platform_type=sandbox.platform_type,
                               host=fields["host"], app_id=fields.get("app_id"), app_secret=fields.get("app_secret"),
                               settings=fields.get("settings") or None)
    with session_scope(settings) as s:
        channel = add_channel(s, vault, value=CHANNEL, platform=sandbox.platform_type,
                                        shop_id=shop["shop_id"], credentials=shop.get("credentials") or None,
                                        settings=shop.get("settings") or None, erp_connection="gw",
                                        **erp.channel_mapping())
        channel_id = channel.id
    with session_scope(settings) as s:
        oauth = needs_token_refresh(get_channel(s, CHANNEL), s)
    if oauth:
        url = start_authorization(CHANNEL, "http://127.0.0.1:9/cb", settings=settings)
        complete_authorization(sandbox.platform_type, sandbox.consent(url), settings=settings, policy=FAST)
    else:
        ok, message = check_credentials(CHANNEL, settings=settings, policy=FAST)
        assert ok, message
    return channel_id, shop["shop_id"]


def _reconcile(settings, marketplace: Sandbox, erp: ErpSandbox, first_day, batch: int):
    run_settings = replace(settings, reconcile_erp_batch_size=batch)
    marketplace.reset_calls()
    erp.reset_calls()
    started = time.perf_counter()
    outcome = reconcile_channel(CHANNEL, first_day, settings=run_settings, policy=FAST)
    elapsed = time.perf_counter() - started
    report = outcome.report
    assert report is not None, outcome.error
    market, soap = marketplace.calls(), erp.calls()
    assert market == report.api_calls_marketplace and soap == report.api_calls_erp, (market, soap)
    assert marketplace.detail_calls() == 0, "the list-only pass read orders by number"
    return report, market, soap, elapsed


def bench(platform: str, count: int, batches: list[int]) -> list[str]:
    marketplace, erp = SANDBOXES[platform](rate_limit=100_000).start(), ErpSandbox().start()
    rows = []
    try:
        settings = _fresh_settings()
        channel_id, shop = _bind(settings, marketplace, erp)
        now = utcnow()
        first_day = day_of(now - timedelta(days=1))  # the daily run: yesterday and today so far
        start = taipei_day_start(first_day) + timedelta(minutes=1)
        marketplace.generate_orders(shop, count, start=start, end=now - timedelta(hours=2), status="paid")
        stats = run_getorder(channel_id, settings=settings, policy=FAST)
        assert stats.new == count, (stats.outcome, stats.error_text, stats.new)
        assert run_erp_delivery(settings=settings).sent == count
        with session_scope(settings) as s:  # GetOrder is up to date (the lag counts from now)
            s.execute(update(Channel).where(Channel.id == channel_id).values(order_watermark=now))
        days = (day_of(now) - first_day).days + 1
        for batch in batches:
            report, market, soap, elapsed = _reconcile(settings, marketplace, erp, first_day, batch)
            assert report.stored == count and report.missing == 0, (report.stored, report.missing)
            rows.append(_row(platform, days, count, f"{batch}", market, soap, elapsed, math.ceil(count / batch)))
        marketplace.generate_orders(shop, 1, start=now - timedelta(hours=3), end=now - timedelta(hours=3),
                                    status="paid")  # behind the watermark: GetOrder never reads it
        batch = get_settings().reconcile_erp_batch_size
        report, market, soap, elapsed = _reconcile(settings, marketplace, erp, first_day, batch)
        assert report.missing == 1, report.missing
        rows.append(_row(platform, days, count, f"{batch}, 1 lost", market, soap, elapsed, math.ceil(count / batch)))
    finally:
        marketplace.stop()
        erp.stop()
        dispose_engines()
    return rows


def _row(platform: str, days: int, count: int, batch: str, market: int, soap: int, elapsed: float,
         expected_soap: int) -> str:
    assert soap == expected_soap, (soap, expected_soap)
    return (f"| {platform} | {days} | {count} | {batch} | {market} | {soap} | {(market + soap) * 1000 / count:.1f} "
            f"| {elapsed:.1f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1000)
    parser.add_argument("--platforms", default=",".join(SANDBOXES))
    parser.add_argument("--batches", default="50,200,500")
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    print(f"reconciliation of {args.orders} orders per platform over two Asia/Taipei days (iDempiere sandbox)")
    print("| platform | days | orders | ERP batch | marketplace calls | SOAP calls | calls per 1,000 orders "
          "| seconds |")
    print("|---|---|---|---|---|---|---|---|")
    for platform in args.platforms.split(","):
        for row in bench(platform.strip(), args.orders, batches):
            print(row, flush=True)


if __name__ == "__main__":
    main()
