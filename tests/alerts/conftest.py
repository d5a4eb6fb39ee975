"""Fixtures of the alert tests: real receivers (HTTP webhook, SMTP) on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from receivers import SmtpReceiver, WebhookReceiver


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    with SmtpReceiver() as receiver:
        yield receiver
