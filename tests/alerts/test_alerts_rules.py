"""Each alert rule against a real store: when it fires, what it says (what, since when, what to do), and that
its texts carry no secret or personal data; thresholds are validated settings."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from alerts_kit import channel, order, set_delivery
from sqlalchemy import select

from oms_bridge.alerts import rules
from oms_bridge.alerts.engine import evaluate, run_alerts
from oms_bridge.settings import Settings, SettingsError, load_settings
from oms_bridge.store.db import session_scope
from oms_bridge.store.models import Alert, Channel, Order, ProcessRun, Reconciliation, utcnow
from oms_bridge.store.models.oms import OmsApiToken


def _run(settings: Settings, channel_id: int | None, process: str, outcome: str, started, *, error: str | None = None,
         **counts) -> None:
    with session_scope(settings) as s:
        s.add(ProcessRun(process=process, oms_channel_id=channel_id, started=started,
                         ended=started + timedelta(seconds=3), outcome=outcome, error_text=error, **counts))


def _found(settings: Settings, now) -> dict[str, rules.Finding]:
    findings, ran, errors = evaluate(settings, now)
    assert not errors, errors
    assert ran == set(rules.RULES)
    return {f.key: f for f in findings}


def test_stale_channel_after_n_intervals_without_a_successful_getorder(sqlite_settings: Settings) -> None:
    now = utcnow()
    ch = channel(sqlite_settings, getorder_interval_minutes=5)
    _run(sqlite_settings, ch, "getorder", "success", now - timedelta(minutes=14))
    assert "channel_stale:shop-a" not in _found(sqlite_settings, now)  # 14 min < 3 x 5 min
    found = _found(sqlite_settings, now + timedelta(minutes=2))["channel_stale:shop-a"]
    assert found.title == "channel shop-a is not syncing"
    assert "no successful GetOrder for channel shop-a since" in found.detail and "(Asia/Taipei)" in found.detail
    assert "oms-bridge process run getorder --channel shop-a" in found.fix
    assert found.since is not None and abs((found.since - now).total_seconds() + 14 * 60 - 3) < 2
    # the threshold is a setting
    assert "channel_stale:shop-a" not in _found(replace(sqlite_settings, alert_stale_intervals=4),
                                                 now + timedelta(minutes=2))


def test_failing_channel_names_the_error_without_personal_data_or_secrets(sqlite_settings: Settings) -> None:
    now = utcnow()
    ch = channel(sqlite_settings)
    error = ("HTTP 400 from /api/v2/order/get_order_detail?access_token=abcdef0123456789&sign=ffee: buyer "
             "mei.chen@example.com phone 0912-345-678 rejected")
    _run(sqlite_settings, ch, "getorder", "success", now - timedelta(minutes=12))
    _run(sqlite_settings, ch, "getorder", "failed", now - timedelta(minutes=10), error=error)
    assert "channel_failing:shop-a" not in _found(sqlite_settings, now)  # one failure: below the threshold (2)
    _run(sqlite_settings, ch, "getorder", "failed", now - timedelta(minutes=5), error=error)
    found = _found(sqlite_settings, now)
    failing = found["channel_failing:shop-a"]
    assert "channel_stale:shop-a" not in found  # the more precise alert only
    assert "the last 2 GetOrder runs of channel shop-a" in failing.detail and "HTTP 400" in failing.detail
    for leak in ("abcdef0123456789", "ffee", "mei.chen@example.com", "0912-345-678"):
        assert leak not in failing.detail
    assert "<e-mail>" in failing.detail and "<phone>" in failing.detail


def test_reauthorization_credentials_and_token_expiry(sqlite_settings: Settings) -> None:
    now = utcnow()
    channel(sqlite_settings, "shop-r", auth_state="reauth_required",
            auth_message="Shopee refused the refresh token of shop-r: run `oms-bridge channel authorize shop-r`")
    channel(sqlite_settings, "shop-e", auth_state="error", auth_message="the marketplace rejected the credentials")
    channel(sqlite_settings, "shop-t", auth_expires_at=now + timedelta(days=3))
    channel(sqlite_settings, "shop-ok", auth_expires_at=now + timedelta(days=200))
    for value in ("shop-t", "shop-ok"):
        with session_scope(sqlite_settings) as s:
            ch = s.scalar(select(Channel).where(Channel.value == value))
            s.add(ProcessRun(process="getorder", oms_channel_id=ch.id, started=now, ended=now, outcome="success"))
    found = _found(sqlite_settings, now)
    assert found["channel_auth:shop-r"].title == "channel shop-r needs re-authorization"
    assert "oms-bridge channel authorize shop-r" in found["channel_auth:shop-r"].fix
    assert found["channel_auth:shop-e"].title == "the marketplace rejects the credentials of channel shop-e"
    assert "ends on" in found["channel_token:shop-t"].detail
    assert not [k for k in found if k.endswith("shop-ok")]


def test_held_over_threshold_or_too_old_with_causes_and_fixes(sqlite_settings: Settings) -> None:
    now = utcnow()
    settings = replace(sqlite_settings, alert_held_max=10, alert_held_max_age_hours=24)
    ch = channel(settings, auth_state="new")
    ids = [order(settings, ch, f"26030100{i:02d}") for i in range(11)]
    for order_id in ids[:10]:
        set_delivery(settings, order_id, state="held", hold_code="missing_sku:TEA-GREEN-9",
                     last_error="SKU TEA-GREEN-9 is not in the ERP")
    assert "held:erp" not in _found(settings, now)  # 10 held: not above the threshold
    set_delivery(settings, ids[10], state="held", hold_code="missing_sku:MUG-1", last_error="SKU MUG-1 ...")
    held = _found(settings, now)["held:erp"]
    assert held.title == "11 order(s) held for the ERP (iDempiere)"
    assert "SKU TEA-GREEN-9 has no ERP product (10), SKU MUG-1 has no ERP product (1)" in held.detail
    assert "oms-bridge sku map <SKU> --product <M_Product_ID>" in held.fix and "TEA-GREEN-9" in held.fix
    # one order held for a day and a bit: too old, whatever the count
    for order_id in ids[1:]:
        set_delivery(settings, order_id, state="sent", hold_code=None)
    assert "held:erp" not in _found(settings, now)
    assert "held:erp" in _found(settings, now + timedelta(hours=25))
    # orders that could not even be read are not "held": they have their own words
    with session_scope(settings) as s:
        row = s.scalar(select(Order).where(Order.id == ids[1]))
        row.is_held, row.held_reason = True, "unknown status 'weird'"
    intake = _found(settings, now + timedelta(hours=25))["held:intake"]
    assert intake.title == "1 order(s) could not be read at intake"


def test_pending_too_long_names_the_destination_and_watches_only_connected_destinations(
        sqlite_settings: Settings) -> None:
    now = utcnow()
    ch = channel(sqlite_settings, auth_state="new")
    order_id = order(sqlite_settings, ch, "2603020001", destinations=("erp", "oms"))
    set_delivery(sqlite_settings, order_id, "erp", state="sent")
    set_delivery(sqlite_settings, order_id, "oms", armed_at=now - timedelta(minutes=90))
    assert "pending_old:oms" not in _found(sqlite_settings, now)  # no OMS connected: nobody reads oms rows
    with session_scope(sqlite_settings) as s:  # the admin gave the OMS its token (`oms-bridge oms rotate-token`)
        s.add(OmsApiToken(endpoint="orders", token_hash="0" * 64, token_hint="abcd"))
    found = _found(sqlite_settings, now)["pending_old:oms"]
    assert found.title == "orders are not reaching the OMS"
    assert "1 order(s) wait for the OMS" in found.detail and "oms-bridge oms settings" in found.fix
    no_oms = replace(sqlite_settings, monitored_destinations="erp,logistics")
    assert "pending_old:oms" not in _found(no_oms, now)


def test_scheduler_silent_when_jobs_exist_but_nothing_runs(sqlite_settings: Settings) -> None:
    from scheduler.builder import build_scheduler
    from scheduler.config import ScheduleConfig
    from scheduler.sync import reconcile

    now = utcnow()
    assert "scheduler_silent:jobs" not in _found(sqlite_settings, now)  # no job table: no scheduler ever ran
    sched = build_scheduler(sqlite_settings, ScheduleConfig(reconcile_time=""))
    sched.start(paused=True)  # jobs are stored, but nothing runs them
    try:
        reconcile(sched, sqlite_settings, ScheduleConfig(reconcile_time=""))
    finally:
        sched.shutdown(wait=False)
    _run(sqlite_settings, None, "erp_delivery", "success", now - timedelta(minutes=9))
    assert "scheduler_silent:jobs" not in _found(sqlite_settings, now)
    _run(sqlite_settings, None, "alerts", "success", now)  # the evaluation itself is no evidence of work
    found = _found(sqlite_settings, now + timedelta(minutes=5))["scheduler_silent:jobs"]
    assert found.title == "the scheduler is not running jobs"
    assert "job(s) are scheduled, but no GetOrder, RefreshToken or delivery run started since" in found.detail
    assert "/healthz" in found.fix


def test_reconciliation_missing_and_failed(sqlite_settings: Settings) -> None:
    import json
    from datetime import date

    now = utcnow()
    ch = channel(sqlite_settings)
    _run(sqlite_settings, ch, "getorder", "success", now)
    report = {"differences": [{"order": "2603030001", "where": "store", "reason": "missing"},
                              {"order": "2603030002", "where": "erp", "reason": "held"}]}
    with session_scope(sqlite_settings) as s:
        s.add(Reconciliation(oms_channel_id=ch, first_day=date(2026, 3, 2), last_day=date(2026, 3, 3), started=now,
                             ended=now, outcome="missing", missing=1, stored=5, report_json=json.dumps(report)))
    found = _found(sqlite_settings, now)["reconcile_missing:shop-a"]
    assert found.title == "reconciliation of channel shop-a: 1 order(s) missing"
    assert "2603030001 (store)" in found.detail and "2603030002" not in found.detail
    assert "oms-bridge orders backfill --channel shop-a --since 2026-03-02" in found.fix
    with session_scope(sqlite_settings) as s:
        s.add(Reconciliation(oms_channel_id=ch, first_day=date(2026, 3, 2), last_day=date(2026, 3, 3), started=now,
                             ended=now, outcome="failed", error_text="the ERP could not be asked"))
    found = _found(sqlite_settings, now)
    assert "reconcile_missing:shop-a" not in found and "reconcile_failed:shop-a" in found


def test_a_failing_rule_never_resolves_what_it_raised(sqlite_settings: Settings, monkeypatch) -> None:
    ch = channel(sqlite_settings, auth_state="new")
    set_delivery(sqlite_settings, order(sqlite_settings, ch, "2603040001"), state="dead", last_error="gave up")
    assert run_alerts(settings=sqlite_settings).fired == ["dead:erp"]

    def broken(ctx):
        raise RuntimeError("database hiccup")

    monkeypatch.setitem(rules.RULES, "dead", broken)
    result = run_alerts(settings=sqlite_settings)
    assert result.rule_errors == {"dead": "RuntimeError: database hiccup"} and result.resolved == []
    with session_scope(sqlite_settings) as s:
        assert s.scalar(select(Alert.state)) == "firing"
        run = s.scalars(select(ProcessRun).where(ProcessRun.process == "alerts").order_by(ProcessRun.id.desc())).first()
        assert run.outcome == "partial" and "dead" in run.error_text


@pytest.mark.parametrize(("name", "value", "message"), [
    ("ALERT_FAILING_RUNS", "0", "'alert_failing_runs' must be between 1 and 1000, got '0'"),
    ("ALERT_INTERVAL_SECONDS", "1", "'alert_interval_seconds' must be between 5 and 86400 seconds, got '1'"),
    ("RECONCILE_TIME", "25:00", "'reconcile_time': '25:00' is not a time of day HH:MM"),
    ("MONITORED_DESTINATIONS", "erp,ftp", "unknown destination(s) ftp"),
    ("ALERT_HELD_MAX", "many", "'alert_held_max': 'many' is not a whole number"),
])
def test_bad_alert_settings_are_refused_by_name(tmp_path, name: str, value: str, message: str) -> None:
    with pytest.raises(SettingsError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_settings({"OMS_BRIDGE_HOME": str(tmp_path), f"OMS_BRIDGE_{name}": value})


def test_alert_settings_from_the_config_file(tmp_path) -> None:
    (tmp_path / "config.toml").write_text('[oms_bridge]\nalert_digest_minutes = 0\nreconcile_time = ""\n'
                                          'monitored_destinations = "erp, logistics"\n')
    settings = load_settings({"OMS_BRIDGE_HOME": str(tmp_path)})
    assert settings.alert_digest_minutes == 0 and settings.reconcile_time == ""
    assert settings.destinations == ("erp", "logistics")


def test_a_destination_that_is_not_connected_raises_nothing(sqlite_settings: Settings) -> None:
    now = utcnow()
    ch = channel(sqlite_settings, auth_state="new", erp=False)  # no ERP connection, no OMS token
    order_id = order(sqlite_settings, ch, "2603050001", destinations=("erp", "oms"))
    set_delivery(sqlite_settings, order_id, "erp", state="held", hold_code="no_erp_connection",
                 updated=now - timedelta(days=3))
    set_delivery(sqlite_settings, order_id, "oms", armed_at=now - timedelta(days=3))
    assert _found(sqlite_settings, now) == {}
