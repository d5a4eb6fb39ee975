"""Token lifecycle: single flight across real OS processes (PostgreSQL and SQLite), CAS, outcomes, warnings."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from channels_kit import FAST, Bound, add_platform_and_channel, bind
from channels_workers import getorder_worker, refresh_worker
from sqlalchemy import func, select

from channels.authorization import check_credentials
from channels.binding import load_channel, token_set_of
from channels.refreshtoken import run_refreshtoken
from channels.tokens import StaleTokenWrite, refresh_channel_tokens, store_tokens, token_warnings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Channel, Order
from oms_bridge.vault import Vault
from platforms.base import TokenSet
from sandboxes.momo import MomoSandbox
from sandboxes.shopee import ShopeeSandbox

REFRESH_PATH = "/auth/access_token/get"


@pytest.fixture
def realtime_shopee() -> Iterator[ShopeeSandbox]:
    """On the real clock, so other OS processes sign with timestamps the sandbox accepts."""
    with ShopeeSandbox(seed=11) as sandbox:
        yield sandbox


def _make_due(settings, channel_id: int, minutes: int = 5) -> None:
    with session_scope(settings) as session:
        session.get(Channel, channel_id).access_expires_at = datetime.now(UTC) + timedelta(minutes=minutes)


def _stored_tokens(settings, channel_id: int) -> tuple[TokenSet, int]:
    with session_scope(settings) as session:
        channel = load_channel(session, channel_id)
        return token_set_of(channel, Vault.from_settings(settings)), channel.token_version


def _race(worker, *args, n: int = 2, timeout: float = 30) -> list[tuple]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [ctx.Process(target=worker, args=(*args, barrier, results)) for _ in range(n)]
    for p in procs:
        p.start()
    out = [results.get(timeout=timeout) for _ in procs]
    for p in procs:
        p.join(timeout=timeout)
        assert p.exitcode == 0
    return out


@pytest.mark.postgres
def test_two_processes_refresh_once_on_postgresql(pg_settings, realtime_shopee: ShopeeSandbox):
    _two_processes_refresh_once(pg_settings, realtime_shopee)


def test_two_processes_refresh_once_on_sqlite(sqlite_settings, realtime_shopee: ShopeeSandbox):
    _two_processes_refresh_once(sqlite_settings, realtime_shopee)


def _two_processes_refresh_once(settings, sandbox: ShopeeSandbox) -> None:
    b = bind(settings, sandbox)
    _make_due(settings, b.channel_id)
    before, version = _stored_tokens(settings, b.channel_id)
    # The winner's refresh call takes a while, so the loser certainly arrives while it is in flight.
    sandbox.faults.inject("timeout", path=REFRESH_PATH, delay=1.0)
    sandbox.reset_calls()
    results = _race(refresh_worker, b.channel_id, False)
    assert sandbox.calls(REFRESH_PATH) == 1
    assert sorted(r[0] for r in results) == ["not_due", "refreshed"]
    after, new_version = _stored_tokens(settings, b.channel_id)
    assert new_version == version + 1 and after.access_token != before.access_token
    assert all(r[1] == after.access_token and r[2] == after.access_token for r in results)
    ok, message = check_credentials(b.channel, settings=settings, policy=FAST)
    assert ok, message


def test_two_forced_refreshes_still_make_one_call(sqlite_settings, realtime_shopee: ShopeeSandbox):
    b = bind(sqlite_settings, realtime_shopee)
    realtime_shopee.faults.inject("timeout", path=REFRESH_PATH, delay=1.0)
    realtime_shopee.reset_calls()
    results = _race(refresh_worker, b.channel_id, True)
    assert realtime_shopee.calls(REFRESH_PATH) == 1
    assert sorted(r[0] for r in results) == ["not_due", "refreshed"]
    assert results[0][2] == results[1][2]


@pytest.mark.postgres
def test_two_getorder_processes_never_double_on_postgresql(pg_settings, realtime_shopee: ShopeeSandbox):
    b = bind(pg_settings, realtime_shopee)
    realtime_shopee.generate_orders(b.shop_id, 30, start=datetime.now(UTC) - timedelta(hours=5),
                                    end=datetime.now(UTC) - timedelta(hours=1))
    realtime_shopee.faults.inject("timeout", path="get_order_list", delay=0.5)
    results = _race(getorder_worker, b.channel_id)
    assert sorted(r[0] for r in results) in (["skipped", "success"], ["success", "success"])
    assert sum(r[1] for r in results) == 30
    with session_scope(pg_settings) as session:
        assert session.scalar(select(func.count()).select_from(Order)) == 30


def test_stale_version_writer_cannot_overwrite(shopee_bound: Bound):
    b = shopee_bound
    current, version = _stored_tokens(b.settings, b.channel_id)
    result = refresh_channel_tokens(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    assert result.outcome == "refreshed" and result.token_version == version + 1
    stale = TokenSet(access_token="a" * 32, refresh_token="b" * 32)
    with pytest.raises(StaleTokenWrite), session_scope(b.settings) as session:
        store_tokens(session, b.channel_id, version, stale, Vault.from_settings(b.settings), now=b.clock())
    after, after_version = _stored_tokens(b.settings, b.channel_id)
    assert after.access_token == result.tokens.access_token and after_version == version + 1


def test_rotated_refresh_token_is_stored_so_the_next_refresh_works(shopee_bound: Bound):
    b = shopee_bound
    first = refresh_channel_tokens(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    stored, _ = _stored_tokens(b.settings, b.channel_id)
    assert stored.refresh_token == first.tokens.refresh_token
    second = refresh_channel_tokens(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    assert second.outcome == "refreshed" and second.tokens.refresh_token != first.tokens.refresh_token
    assert b.sandbox.calls(REFRESH_PATH) == 2


def test_not_due_makes_no_call(shopee_bound: Bound):
    b = shopee_bound
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "not_due" and run.api_calls == 0
    assert b.sandbox.calls(REFRESH_PATH) == 0
    b.sandbox.clock.advance(hours=3, minutes=30)
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "success" and run.api_calls == 1


def test_transient_failure_keeps_tokens_and_state(shopee_bound: Bound):
    b = shopee_bound
    before, version = _stored_tokens(b.settings, b.channel_id)
    b.sandbox.faults.inject("503", path=REFRESH_PATH, count=10)
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    # a 5xx to the (state-changing) refresh may hide an applied refresh: asked once more, never retried blindly
    assert run.outcome == "failed" and "the next RefreshToken run asks again" in run.error_text
    assert run.api_calls == 2
    after, after_version = _stored_tokens(b.settings, b.channel_id)
    assert (after.access_token, after_version) == (before.access_token, version)
    with session_scope(b.settings) as session:
        assert session.get(Channel, b.channel_id).auth_state == "active"
    b.sandbox.faults.clear()
    assert run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, force=True,
                            policy=FAST).outcome == "success"


def test_transient_blip_is_retried_with_backoff(shopee_bound: Bound):
    b = shopee_bound
    b.sandbox.faults.inject("502", path=REFRESH_PATH, count=1)
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    assert run.outcome == "success" and run.api_calls == 2


def test_non_oauth_channel_is_skipped_with_reason(sqlite_settings):
    with MomoSandbox() as sandbox:
        b = bind(sqlite_settings, sandbox, "momo-a")
        run = run_refreshtoken(b.channel_id, settings=sqlite_settings, policy=FAST)
    assert run.outcome == "skipped" and "does not use OAuth" in run.error_text


def test_expired_refresh_token_goes_to_reauth_without_a_call(shopee_bound: Bound):
    b = shopee_bound
    b.sandbox.clock.advance(days=31)
    b.sandbox.reset_calls()
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert run.outcome == "reauth_required" and "refresh token expired on" in run.error_text
    assert b.sandbox.calls() == 0


def test_unauthorized_channel_says_what_to_do(sqlite_settings, shopee: ShopeeSandbox):
    channel_id, _ = add_platform_and_channel(sqlite_settings, shopee, "fresh")
    run = run_refreshtoken(channel_id, settings=sqlite_settings, clock=shopee.clock.now, policy=FAST)
    assert run.outcome == "failed" and "oms-bridge channel authorize fresh" in run.error_text


def test_token_warnings_ahead_of_refresh_and_authorization_expiry(shopee_bound: Bound):
    b = shopee_bound
    now = b.clock()
    with session_scope(b.settings) as session:
        channel = session.get(Channel, b.channel_id)
        assert token_warnings(channel, now, settings=b.settings) == []
        channel.refresh_expires_at = datetime(2026, 3, 18, 16, 30, tzinfo=UTC)  # 2026-03-19 00:30 Taipei
        # Refreshing rotates the refresh token, so it only matters once the refresh is overdue.
        assert token_warnings(channel, now, settings=b.settings) == []
        channel.access_expires_at = now - timedelta(minutes=1)
        channel.auth_expires_at = now + timedelta(days=10)
        warnings = token_warnings(channel, now, settings=b.settings)
    assert len(warnings) == 2
    assert "2026-03-19 00:30 (Asia/Taipei)" in warnings[0] and "refresh token of channel shop-a" in warnings[0]
    assert "authorization of channel shop-a ends" in warnings[1] and "in 9 days" in warnings[1] or \
        "in 10 days" in warnings[1]
    assert "oms-bridge channel authorize shop-a" in warnings[1]


def test_refresh_run_records_warnings(shopee_bound: Bound):
    b = shopee_bound
    with session_scope(b.settings) as session:
        session.get(Channel, b.channel_id).auth_expires_at = b.clock() + timedelta(days=3)
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert any("authorization of channel shop-a ends" in w for w in run.details["warnings"])


def test_forced_refresh_on_every_sandbox_then_getorder_still_works(any_bound: Bound):
    from channels_kit import NOW

    from channels.getorder import run_getorder

    b = any_bound
    b.sandbox.generate_orders(b.shop_id, 4, start=NOW - timedelta(hours=3), end=NOW - timedelta(hours=1))
    before, version = _stored_tokens(b.settings, b.channel_id)
    run = run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    if before is None:  # credential platform (momo, Shopline API token): nothing to refresh
        assert run.outcome == "skipped", run.error_text
    else:
        assert run.outcome == "success", run.error_text
        after, new_version = _stored_tokens(b.settings, b.channel_id)
        assert new_version == version + 1 and after.access_token != before.access_token
    got = run_getorder(b.channel_id, settings=b.settings, clock=b.clock, policy=FAST)
    assert (got.outcome, got.new) == ("success", 4), got.error_text


def test_slow_refresh_does_not_block_other_sqlite_writers(shopee_bound: Bound):
    """The single flight is per channel; the database stays writable while the refresh call is in flight."""
    import threading
    import time

    b = shopee_bound
    b.sandbox.faults.inject("timeout", path=REFRESH_PATH, delay=1.5)
    done = {}
    worker = threading.Thread(target=lambda: done.setdefault("r", refresh_channel_tokens(
        b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)))
    worker.start()
    time.sleep(0.3)  # the refresh call is now in flight
    t0 = time.monotonic()
    with session_scope(b.settings, immediate=True) as session:
        session.get(Channel, b.channel_id).getorder_interval_minutes = 7
    assert time.monotonic() - t0 < 1.0
    worker.join(10)
    assert done["r"].outcome == "refreshed"
    with session_scope(b.settings) as session:
        ch = session.get(Channel, b.channel_id)
        assert ch.getorder_interval_minutes == 7 and ch.token_version == 2


def test_no_token_or_secret_leaks_into_runs_messages_or_cli(shopee_bound: Bound, caplog):
    import logging

    from click.testing import CliRunner

    from oms_bridge.cli.main import cli
    from oms_bridge.store.models import ProcessRun

    b = shopee_bound
    caplog.set_level(logging.DEBUG)
    tokens, _ = _stored_tokens(b.settings, b.channel_id)
    secrets = {tokens.access_token, tokens.refresh_token, b.sandbox.partner_key}
    b.sandbox.faults.inject("500", path=REFRESH_PATH, count=10)
    run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    b.sandbox.faults.clear()
    with session_scope(b.settings) as session:
        session.get(Channel, b.channel_id).refresh_token_enc = Vault.from_settings(b.settings).encrypt("9" * 32)
    secrets.add("9" * 32)
    run_refreshtoken(b.channel_id, settings=b.settings, clock=b.clock, force=True, policy=FAST)
    with session_scope(b.settings) as session:
        texts = [f"{r.error_text} {r.details_json}" for r in session.scalars(select(ProcessRun))]
        texts.append(session.get(Channel, b.channel_id).auth_message or "")
    texts.append(CliRunner().invoke(cli, ["process", "runs", "--json"]).output)
    texts.append(caplog.text)
    assert len(texts) >= 4
    for text in texts:
        for secret in secrets:
            assert secret not in text
