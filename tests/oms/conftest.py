"""Fixtures of the OMS destination tests: the app, and a fake OMS configured from the JSON printed by
``oms-bridge oms settings`` (helpers in oms_helpers.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from oms_fake_client import FakeOms
from oms_helpers import add_channel, setup_json

from oms_bridge.settings import Settings
from oms_bridge.web.app import create_app


@pytest.fixture
def app_client(sqlite_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app()) as client:
        yield client


@pytest.fixture
def oms(app_client: TestClient) -> FakeOms:
    """A fake OMS configured from the printed settings."""
    return FakeOms.from_setup(setup_json(), app_client)


@pytest.fixture
def channel_id(sqlite_settings: Settings) -> int:
    return add_channel(sqlite_settings)
