"""Reconciliation's API cost: marketplace and SOAP calls per 1,000 orders, and its time.

Run: ``python benchmarks/bench_reconcile.py [orders=1000]``. A Cyberbiz sandbox (a token-model shop) holds
N paid orders over the last two Asia/Taipei days; GetOrder reads them into a fresh SQLite store; the ERP
delivery sends them to the iDempiere sandbox (so every POReference lookup finds its order). Then one
reconciliation of those days runs, for ERP batch sizes 50, 200 and 500; the sandboxes count the requests.

Expected: the list calls alone on the marketplace (Cyberbiz: ceil(orders / per_page) per listing window,
``per_page`` 50 at most, no detail call because the listing carries each order) and ceil(stored orders /
``reconcile_erp_batch_size``) ``queryData`` calls to the ERP; the OMS side reads the store only.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
import tempfile
import time
from dataclasses import replace
from datetime import timedelta

from sqlalchemy import update

from channels.authorization import check_credentials
from channels.getorder import run_getorder
from oms_bridge.erp.delivery import run_erp_delivery
from oms_bridge.reconcile.compare import day_of
from oms_bridge.reconcile.run import reconcile_channel
from oms_bridge.remote.http import RetryPolicy
from oms_bridge.settings import get_settings, reset_settings
from oms_bridge.store.db import dispose_engines, get_engine, session_scope
from oms_bridge.store.models import Base, Channel, ErpConnection, Platform, utcnow
from oms_bridge.vault import Vault, generate_key
from sandboxes.cyberbiz import CyberbizSandbox
from sandboxes.idempiere.server import ErpSandbox

logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the sandboxes' access logs

FAST = RetryPolicy(max_attempts=3, sleep=lambda s: None, connect_timeout=3, read_timeout=30)


def setup(marketplace: CyberbizSandbox, erp: ErpSandbox, count: int):
    os.environ["OMS_BRIDGE_HOME"] = tempfile.mkdtemp(prefix="bench-reconcile-")
    os.environ["OMS_BRIDGE_SECRET_KEYS"] = generate_key()
    os.environ.pop("OMS_BRIDGE_DATABASE_URL", None)
    reset_settings()
    settings = replace(get_settings(), getorder_initial_lookback_minutes=3 * 1440, erp_batch_size=50)
    Base.metadata.create_all(get_engine(settings))
    vault = Vault.from_settings(settings)
    shop = marketplace.add_shop(auth_model="token")
    fields = erp.connection_fields()
    with session_scope(settings) as s:
        platform = Platform(value="cbz", name="Cyberbiz", platform_type="cyberbiz", host=marketplace.base_url,
                            settings_json=json.dumps(marketplace.platform_fields()["settings"]))
        conn = ErpConnection(value="gw", url=fields["url"], username=fields["username"],
                             password_enc=vault.encrypt(fields["password"]), erp_client_id=fields["client_id"],
                             erp_role_id=fields["role_id"], erp_org_id=fields["org_id"],
                             erp_warehouse_id=fields["warehouse_id"], stage=0)
        s.add_all([platform, conn])
        s.flush()
        channel = Channel(value="cbz-a", name="cbz-a", oms_platform_id=platform.id, shop_id=shop["shop_id"],
                          credentials_enc=vault.encrypt(json.dumps(shop["credentials"])),
                          settings_json=json.dumps(shop["settings"]), oms_erp_connection_id=conn.id,
                          **erp.channel_mapping())
        s.add(channel)
        s.flush()
        channel_id = channel.id
    ok, message = check_credentials("cbz-a", settings=settings, policy=FAST)
    assert ok, message
    now = utcnow()
    marketplace.generate_orders(shop["shop_id"], count, start=now - timedelta(hours=40),
                                end=now - timedelta(hours=2), status="paid")
    stats = run_getorder(channel_id, settings=settings, policy=FAST)
    assert stats.new == count, (stats.outcome, stats.error_text, stats.new)
    sent = run_erp_delivery(settings=settings).sent
    assert sent == count, sent
    with session_scope(settings) as s:  # the OMS read them all (its side costs no API call either way)
        s.execute(update(Channel).where(Channel.id == channel_id).values(order_watermark=now))
    return settings, day_of(now - timedelta(days=2))


def main() -> None:
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 1000
    print(f"reconciliation of {count} Cyberbiz orders (two Asia/Taipei days) against the iDempiere sandbox")
    print(f"{'ERP batch':>9} {'seconds':>8} {'marketplace calls':>18} {'SOAP calls':>11} "
          f"{'calls/1000 orders':>18} {'expected SOAP':>14}")
    # the sandbox's per-second limit raised: the counts show the algorithm's calls (a real 429 adds a retried call,
    # visible as oms_bridge_api_calls_total{outcome="rate_limited"})
    marketplace, erp = CyberbizSandbox(rate_limit=100_000).start(), ErpSandbox().start()
    try:
        settings, first_day = setup(marketplace, erp, count)
        for batch in (50, 200, 500):
            run_settings = replace(settings, reconcile_erp_batch_size=batch)
            marketplace.reset_calls()
            erp.reset_calls()
            started = time.perf_counter()
            outcome = reconcile_channel("cbz-a", first_day, settings=run_settings, policy=FAST)
            elapsed = time.perf_counter() - started
            report = outcome.report
            assert report is not None and report.stored == count and report.missing == 0, outcome.error
            market, soap = marketplace.calls(), erp.calls()
            assert market == report.api_calls_marketplace and soap == report.api_calls_erp
            print(f"{batch:>9} {elapsed:>8.2f} {market:>18} {soap:>11} {(market + soap) * 1000 / count:>18.1f} "
                  f"{math.ceil(count / batch):>14}")
    finally:
        marketplace.stop()
        erp.stop()
        dispose_engines()


if __name__ == "__main__":
    main()
