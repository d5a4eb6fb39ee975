"""Audit: the objects that carry secrets show none in ``repr``/``str`` (what a traceback, a debugger, a log
``%r`` or a pytest assertion prints)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from cryptography.fernet import Fernet

from oms_bridge.erp.client import Login
from oms_bridge.settings import Settings
from oms_bridge.vault import Vault
from platforms.base import ChannelConfig, PlatformConfig, TokenSet

SECRET = "S3cret-audit-repr-value"


def test_audit_reprs_of_secret_holders_hide_the_secret() -> None:
    key = Fernet.generate_key().decode()
    vault = Vault([key])
    objects = [
        Settings(home=Path("/tmp/h"), database_url=f"postgresql://oms:{SECRET}@db/oms", secret_keys=key),
        vault,
        PlatformConfig(host="https://partner.shopeemobile.com", app_id="1", app_secret=SECRET),
        ChannelConfig(name="c", shop_id="1", credentials={"entpPwd": SECRET, "secret": SECRET}),
        TokenSet(access_token=SECRET, refresh_token=SECRET + "r", access_expires_at=datetime(2026, 1, 1, tzinfo=UTC),
                 extra={"access_token": SECRET}),
        Login(user="WebService", password=SECRET, client_id=11, role_id=50004, org_id=11, warehouse_id=103),
    ]
    for obj in objects:
        for text in (repr(obj), str(obj)):
            assert SECRET not in text and key not in text, text
