"""The ``helm`` fixture, which marks a test ``helm`` (left out of ``make test-fast``)."""

from __future__ import annotations

import pytest

from tests.deploy.test_helm import helm_binary


@pytest.fixture(scope="session")
def helm() -> str:
    """The helm binary; its tests are left out of ``make test-fast``."""
    return helm_binary()
