"""Fixtures of the ERP tests (helpers live in ``erp_helpers``): a running iDempiere sandbox and a wired store."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from erp_helpers import XSD_PATH, ErpEnv, assert_bodies_valid, make_env

from oms_bridge.settings import Settings
from sandboxes.idempiere.server import ErpSandbox


@pytest.fixture
def erp_sandbox() -> Iterator[ErpSandbox]:
    """A running sandbox; afterwards every request body the client sent is validated against the upstream XSD
    (when ``../shared/idempiere`` exists; the explicit XSD tests report the skip with its reason)."""
    sandbox = ErpSandbox().start()
    yield sandbox
    sandbox.stop()
    if XSD_PATH.exists():
        assert_bodies_valid(sandbox)


@pytest.fixture
def erp_env(sqlite_settings: Settings, erp_sandbox: ErpSandbox) -> ErpEnv:
    return make_env(sqlite_settings, erp_sandbox)
