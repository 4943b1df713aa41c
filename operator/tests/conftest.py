"""Fixtures of the operator's unit tests."""

from __future__ import annotations

import pytest
from fakeapi import FakeKubeApi


@pytest.fixture
def fake_api() -> FakeKubeApi:
    """A fresh in-memory apiserver behind the `KubeApi` interface (see fakeapi.py)."""
    return FakeKubeApi(seed=0)
