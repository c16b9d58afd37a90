"""Shared test helpers."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "pcptrio",
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    max_examples=25,
    derandomize=True,
)
settings.load_profile("pcptrio")


@pytest.fixture
def anyio_backend() -> str:  # pragma: no cover - only if anyio's plugin is around
    return "trio"
