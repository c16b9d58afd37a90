"""Shared test helpers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import structlog
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


@pytest.fixture(autouse=True)
def _reset_structlog() -> Iterator[None]:
    """``main()`` configures structlog globally (as the command should); undo it after every
    test, in every module, so that later tests see structlog's defaults."""
    yield
    structlog.reset_defaults()
