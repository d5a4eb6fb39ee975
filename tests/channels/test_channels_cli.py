"""CLI: channel authorize, process run/runs, orders list/show/backfill (CliRunner, real sandboxes, real clock)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from channels_kit import Bound, add_platform_and_channel, bind
from click.testing import CliRunner

from oms_bridge.cli.main import cli
from platforms.base import UnmappableOrder
from sandboxes.momo import MomoSandbox
from sandboxes.shopee import ShopeeError, ShopeeSandbox


@pytest.fixture
def live(sqlite_settings) -> Iterator[Bound]:
    """A Shopee channel on the real clock (the CLI signs with the real time)."""
    with ShopeeSandbox(seed=9) as sandbox:
        yield bind(sqlite_settings, sandbox)


def invoke(*args: str):
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_authorize_prints_the_approval_link(sqlite_settings):
    with ShopeeSandbox() as sandbox:
        add_platform_and_channel(sqlite_settings, sandbox, "shop-a")
        result = invoke("channel", "authorize", "shop-a", "--redirect-uri", "https://bridge.example/cb")
        assert result.exit_code == 0, result.output
        url = result.output.strip().splitlines()[-1]
        assert url.startswith(sandbox.base_url + "/api/v2/shop/auth_partner?")
        assert "bridge.example" in url
        # OAuth consent comes back to the bridge: the admin is told it must be running there first
        assert "returns the merchant to https://bridge.example/cb: `oms-bridge run` must be running" in result.stderr
        as_json = invoke("channel", "authorize", "shop-a", "--json")
        data = json.loads(as_json.stdout)
        assert data["oauth"] is True and data["url"].startswith(sandbox.base_url + "/api/v2/shop/auth_partner?")
        assert data["returns_to"] == sqlite_settings.base_url
        # Shopee refuses its consent link 5 minutes after it was signed (a bare "Invalid timestamp" page):
        # the admin is told the real limit and what to do after it, not "valid 10 minutes"
        assert "open it within 5 minutes" in result.output and "valid 10 minutes" not in result.output
        assert "Invalid timestamp" in result.output and "oms-bridge channel authorize shop-a` again" in result.output
        assert sandbox.consent(url)["code"]
        stale = invoke("channel", "authorize", "shop-a", "--redirect-uri", "https://bridge.example/cb")
        sandbox.clock.advance(5 * 60 + 5)
        with pytest.raises(ShopeeError, match="Invalid timestamp"):
            sandbox.consent(stale.output.strip().splitlines()[-1])


def test_authorize_checks_credentials_plainly(sqlite_settings):
    with MomoSandbox() as sandbox:
        add_platform_and_channel(sqlite_settings, sandbox, "momo-a")
        bad = sandbox.add_shop()
        bad["credentials"] = {**bad["credentials"], "entpPwd": "nope"}
        add_platform_and_channel(sqlite_settings, sandbox, "momo-bad", shop=bad)
        good = invoke("channel", "authorize", "momo-a")
        wrong = CliRunner().invoke(cli, ["channel", "authorize", "momo-bad"])
    assert good.exit_code == 0 and "credentials work" in good.output
    assert wrong.exit_code == 1 and "rejected" in wrong.output and "Traceback" not in wrong.output


def test_unknown_channel_is_one_clear_line(sqlite_settings):
    result = CliRunner().invoke(cli, ["process", "run", "getorder", "--channel", "ghost"])
    assert result.exit_code == 1 and "no channel 'ghost'" in result.output
    assert "Traceback" not in result.output
    assert CliRunner().invoke(cli, ["process", "run", "getorder"]).exit_code != 0


def test_process_run_and_runs(live: Bound):
    now = datetime.now(UTC)
    live.sandbox.generate_orders(live.shop_id, 6, start=now - timedelta(hours=6), end=now - timedelta(hours=1))
    result = invoke("process", "run", "getorder", "--channel", "shop-a")
    assert result.exit_code == 0, result.output
    assert "shop-a: getorder success (fetched 6, new 6" in result.output
    as_json = json.loads(invoke("process", "run", "refreshtoken", "--all", "--json").output)
    assert as_json[0]["outcome"] == "not_due" and as_json[0]["channel"] == "shop-a"
    forced = invoke("process", "run", "refreshtoken", "--channel", "shop-a", "--force")
    assert "refreshtoken success" in forced.output
    runs = invoke("process", "runs")
    assert runs.exit_code == 0
    lines = runs.output.splitlines()
    assert "outcome" in lines[0] and len(lines) == 4
    assert "getorder" in lines[3] and "success" in lines[3]
    only = json.loads(invoke("process", "runs", "--process", "getorder", "--json").output)
    assert [r["new"] for r in only] == [6] and only[0]["window_from"]


def test_reauth_is_reported_with_exit_code(live: Bound):
    from oms_bridge.store.db import session_scope
    from oms_bridge.store.models import Channel
    with session_scope(live.settings) as session:
        ch = session.get(Channel, live.channel_id)
        ch.auth_state, ch.auth_message = "reauth_required", "Shopee refused the refresh token for channel shop-a (x)."
    result = CliRunner().invoke(cli, ["process", "run", "getorder", "--channel", "shop-a"])
    assert result.exit_code == 1
    assert "reauth_required" in result.output and "Shopee refused the refresh token" in result.output


def test_orders_list_and_show_with_held(live: Bound, monkeypatch):
    now = datetime.now(UTC)
    ids = live.sandbox.generate_orders(live.shop_id, 3, start=now - timedelta(hours=3), end=now - timedelta(hours=1),
                                       status="paid")
    from platforms.shopee.adapter import ShopeeAdapter
    real = ShopeeAdapter.fetch_orders

    def plus_broken(self, since, until):
        yield UnmappableOrder(external_id="BROKEN-1", raw={"order_sn": "BROKEN-1"}, reason="item_list is missing")
        yield from real(self, since, until)

    monkeypatch.setattr(ShopeeAdapter, "fetch_orders", plus_broken)
    assert invoke("process", "run", "getorder", "--channel", "shop-a").exit_code == 0
    listing = invoke("orders", "list")
    # (the held order was re-read by id after the window: its reason is now the re-read's)
    assert all(i in listing.output for i in ids) and "HELD: Shopee order BROKEN-1" in listing.output
    held = json.loads(invoke("orders", "list", "--held", "--json").output)
    assert [o["number"] for o in held] == ["BROKEN-1"]
    not_held = json.loads(invoke("orders", "list", "--not-held", "--channel", "shop-a", "--json").output)
    assert sorted(o["number"] for o in not_held) == sorted(ids)
    show = invoke("orders", "show", ids[0])
    assert show.exit_code == 0
    for part in ("Order " + ids[0], "lines:", "status history:", "deliveries:", "erp", "oms", "pending"):
        assert part in show.output
    detail = json.loads(invoke("orders", "show", ids[0], "--json").output)
    assert {d["destination"] for d in detail["deliveries"]} == {"erp", "oms"} and detail["lines"]
    broken = invoke("orders", "show", "BROKEN-1")
    assert "HELD: Shopee order BROKEN-1" in broken.output and "deliveries:\n    none" in broken.output
    missing = CliRunner().invoke(cli, ["orders", "show", "NOPE"])
    assert missing.exit_code == 1 and "no order 'NOPE'" in missing.output


def test_orders_backfill_command(live: Bound):
    today = datetime.now(UTC).date()
    live.sandbox.generate_orders(live.shop_id, 9, start=datetime.now(UTC) - timedelta(days=3),
                                 end=datetime.now(UTC) - timedelta(days=1))
    since = (today - timedelta(days=4)).isoformat()
    result = invoke("orders", "backfill", "--channel", "shop-a", "--since", since)
    assert result.exit_code == 0, result.output
    assert "backfill success" in result.output and "new 9" in result.output
    again = invoke("orders", "backfill", "--channel", "shop-a", "--since", since, "--until", today.isoformat(),
                   "--json")
    data = json.loads(again.output[again.output.index("{"):])
    assert data["new"] == 0 and data["outcome"] == "success"
    bad = CliRunner().invoke(cli, ["orders", "backfill", "--channel", "shop-a", "--since", "2026-13-01"])
    assert bad.exit_code == 2 and "--since" in bad.output


def test_run_all_keeps_going_past_a_failing_channel(live: Bound):
    from oms_bridge.store.db import session_scope
    from oms_bridge.store.models import Channel

    add_platform_and_channel(live.settings, live.sandbox, "shop-b")  # never authorized
    with session_scope(live.settings) as session:
        session.query(Channel).filter_by(value="shop-a").one().auth_state = "reauth_required"
    result = CliRunner().invoke(cli, ["process", "run", "getorder", "--all"])
    assert result.exit_code == 1
    assert "shop-a: getorder reauth_required" in result.output
    assert "shop-b: getorder skipped" in result.output and "not authorized yet" in result.output
