"""Regression: a freshly authorized Shopline channel (refresh token = access expiry + 1 day) raised
"the refresh token expires in 1 day; RefreshToken has not succeeded for a long time" on every run."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channels.tokens import token_warnings
from oms_bridge.settings import Settings
from oms_bridge.store.models import Channel

NOW = datetime(2026, 11, 23, 14, 0, tzinfo=UTC)


def _channel(access_in: timedelta, refresh_in: timedelta) -> Channel:
    return Channel(value="sl-1", name="sl-1", auth_state="active", access_expires_at=NOW + access_in,
                   refresh_expires_at=NOW + refresh_in)


def test_qa_short_lived_refresh_token_is_no_alarm_while_refreshing_keeps_up(sqlite_settings: Settings) -> None:
    # Shopline right after authorization or a refresh: access 24 h, refresh token 48 h.
    assert token_warnings(_channel(timedelta(hours=24), timedelta(hours=48)), NOW, settings=sqlite_settings) == []


def test_qa_refresh_token_warning_when_the_refresh_is_overdue(sqlite_settings: Settings) -> None:
    # The access token expired 2 h ago and nobody refreshed: the refresh token dies in 22 h.
    warnings = token_warnings(_channel(-timedelta(hours=2), timedelta(hours=22)), NOW, settings=sqlite_settings)
    assert len(warnings) == 1 and "refresh token of channel sl-1 expires on" in warnings[0]
    assert "oms-bridge channel authorize sl-1" in warnings[0]


def test_qa_refresh_token_warning_when_it_dies_before_the_refresh_is_due(sqlite_settings: Settings) -> None:
    # Refresh due at access expiry - 60 min (default margin) = in 3 h; the refresh token dies in 2 h.
    warnings = token_warnings(_channel(timedelta(hours=4), timedelta(hours=2)), NOW, settings=sqlite_settings)
    assert len(warnings) == 1 and "expires on" in warnings[0]


def test_qa_expired_refresh_token_always_warns(sqlite_settings: Settings) -> None:
    warnings = token_warnings(_channel(timedelta(hours=4), -timedelta(minutes=1)), NOW, settings=sqlite_settings)
    assert len(warnings) == 1 and "expired on" in warnings[0]
