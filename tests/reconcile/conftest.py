"""Fixtures of the reconciliation tests: an HTTP webhook receiver for the alerts they raise."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "alerts"))
from receivers import WebhookReceiver  # noqa: E402 - the alert tests' receivers


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver
