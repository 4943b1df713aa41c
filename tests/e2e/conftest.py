"""Fixtures for end-to-end tests: a webhook receiver, a real Alertmanager and Prometheus."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from localkube.monitoring import Alertmanager, WebhookReceiver


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.stop()


@pytest.fixture
def alertmanager(tmp_path: Path, webhook: WebhookReceiver) -> Iterator[Alertmanager]:
    am = Alertmanager(tmp_path / "alertmanager", webhook.url)
    yield am
    am.stop()
