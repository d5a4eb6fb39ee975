"""The configuration services on both stores (SQLite and PostgreSQL), and key rotation coverage."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from oms_bridge.configure.channels import (
    add_channel,
    channel_view,
    decrypt_channel_credentials,
    remove_channel,
    set_channel_active,
    update_channel,
)
from oms_bridge.configure.checks import ConfigError
from oms_bridge.configure.lookups import get_channel, get_platform, list_channels, list_platforms
from oms_bridge.configure.platforms import add_platform, platform_view, remove_platform
from oms_bridge.keys import rotate_secrets, secret_columns, secret_status
from oms_bridge.settings import Settings
from oms_bridge.store.db import get_engine, session_scope
from oms_bridge.store.models import ErpConnection, Order
from oms_bridge.vault import DecryptionFailed, Vault, generate_key


@pytest.fixture
def vault(store_settings: Settings) -> Vault:
    return Vault.from_settings(store_settings)


def test_add_update_view_remove(store_settings: Settings, vault: Vault) -> None:
    with session_scope(store_settings) as s:
        add_platform(s, vault, value="cyb", platform_type="cyberbiz", host="https://api.cyberbiz.io/",
                               app_id="client-1", app_secret="client-secret-abcdef123456", settings={"x": 1})
        ch = add_channel(s, vault, value="cyb-a", platform="cyb", shop_id="a.cyberbiz.co",
                                   credentials={"username": "user-0000aaaa", "secret": "secret-0000bbbb"},
                                   erp_org_id="11", erp_payment_rule="P", erp_bp_identifier="phone")
        assert ch.erp_org_id == 11 and ch.platform.value == "cyb"
    with session_scope(store_settings) as s:
        p = get_platform(s, "cyb")
        view = platform_view(p, vault)
        assert view["host"] == "https://api.cyberbiz.io" and view["app_secret"] == "****3456"
        assert view["channels"] == ["cyb-a"] and view["settings"] == {"x": 1}
        assert "client-secret" not in json.dumps(platform_view(p), default=str)
        c = get_channel(s, "cyb-a")
        cv = channel_view(c, vault)
        assert cv["credentials"] == {"secret": "****bbbb", "username": "****aaaa"}
        assert cv["erp"]["erp_payment_rule"] == "P" and cv["erp"]["erp_bp_identifier"] == "phone"
        update_channel(s, vault, "cyb-a", credentials={"secret": None}, erp_org_id=None,
                                 getorder_interval_minutes=3)
    with session_scope(store_settings) as s:
        c = get_channel(s, "cyb-a")
        assert decrypt_channel_credentials(vault, c) == {"username": "user-0000aaaa"}
        assert c.erp_org_id is None and c.getorder_interval_minutes == 3
        set_channel_active(s, "cyb-a", False)
    with session_scope(store_settings) as s:
        assert get_channel(s, "cyb-a").isactive is False
        with pytest.raises(ConfigError, match="still has channel"):
            remove_platform(s, "cyb")
    with session_scope(store_settings) as s:
        assert remove_platform(s, "cyb", cascade=True) == ["cyb-a"]
    with session_scope(store_settings) as s:
        assert list_platforms(s) == [] and list_channels(s) == []


@pytest.mark.parametrize("kwargs, message", [
    ({"erp_org_id": "eleven"}, "erp_org_id must be an integer"),
    ({"erp_bp_identifier": "fax"}, "erp_bp_identifier 'fax' is not one of"),
    ({"erp_colour": 1}, "unknown ERP mapping field"),
    ({"credentials": {"apikey": "x"}},
     "unknown credential(s) apikey for a cyberbiz channel; expected: access_token, username, secret"),
    ({"settings": ["a"]}, "settings must be a JSON object"),
    ({"erp_connection": "erp-x"}, "no ERP connection 'erp-x'"),
])
def test_channel_validation(sqlite_settings: Settings, kwargs: dict, message: str) -> None:
    vault = Vault.from_settings(sqlite_settings)
    with session_scope(sqlite_settings) as s:
        add_platform(s, vault, value="cyb", platform_type="cyberbiz", host="https://api.cyberbiz.io")
    with pytest.raises(ConfigError) as info, session_scope(sqlite_settings) as s:
        add_channel(s, vault, value="c1", platform="cyb", **kwargs)
    assert message in str(info.value)


def test_channel_with_orders_cannot_be_removed(store_settings: Settings, vault: Vault) -> None:
    with session_scope(store_settings) as s:
        add_platform(s, vault, value="momo", platform_type="momo", host="https://scmapi.momoshop.com.tw")
        ch = add_channel(s, vault, value="m1", platform="momo")
        s.add(Order(oms_channel_id=ch.id, external_id="A1", order_updated=datetime(2026, 1, 1, tzinfo=UTC)))
    with pytest.raises(ConfigError, match="has 1 stored order.*disable"), session_scope(store_settings) as s:
        remove_channel(s, "m1")
    with pytest.raises(ConfigError, match="has 1 stored order"), session_scope(store_settings) as s:
        remove_platform(s, "momo", cascade=True)


def test_every_enc_column_is_rotated(store_settings: Settings, vault: Vault) -> None:
    names = {(t.name, c.name) for t, cols in secret_columns().items() for c in cols}
    assert {("oms_platform", "app_secret_enc"), ("oms_channel", "credentials_enc"),
            ("oms_channel", "access_token_enc"), ("oms_channel", "refresh_token_enc"),
            ("oms_erp_connection", "password_enc")} <= names
    with session_scope(store_settings) as s:
        add_platform(s, vault, value="sh", platform_type="shopee", host="https://p.example",
                               app_secret="app-secret-111122223333")
        ch = add_channel(s, vault, value="s1", platform="sh")
        ch.access_token_enc = vault.encrypt("access-token-aaaabbbbcccc")
        ch.refresh_token_enc = vault.encrypt("refresh-token-ddddeeeeffff")
        s.add(ErpConnection(value="erp", url="http://127.0.0.1:1/ADInterface/services", username="SuperUser",
                            password_enc=vault.encrypt("System-password"), erp_client_id=11, erp_role_id=102,
                            erp_org_id=11, erp_warehouse_id=103))
    newer = Vault([generate_key(), *vault.keys])
    engine = get_engine(store_settings)
    with engine.begin() as conn:
        assert rotate_secrets(conn, newer) == 4
    with engine.connect() as conn:
        status = secret_status(conn, newer.keys)
        assert status.by_key == {0: 4} and not status.undecryptable
        assert conn.execute(text("SELECT count(*) FROM oms_erp_connection")).scalar() == 1
    only_new = Vault(newer.keys[:1])
    with session_scope(store_settings) as s:
        c = get_channel(s, "s1")
        assert only_new.decrypt(c.refresh_token_enc) == "refresh-token-ddddeeeeffff"
        assert channel_view(c, only_new)["access_token"] == "****cccc"
        with pytest.raises(DecryptionFailed, match="channel 's1' access token"):
            channel_view(c, vault)
