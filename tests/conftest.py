"""Fixtures for the cross-service tests: the real platform, started once per worker."""

from __future__ import annotations

import pytest

from govkit.testing import database_backends
from govkit.testing.platform import start_platform


@pytest.fixture(scope="session", params=database_backends())
def running_platform(request, tmp_path_factory):
    """The whole platform (``govplat up``), shared by the tests of one worker, on
    each database backend. Tests must not stop it; they may add data to it."""
    platform = start_platform(tmp_path_factory.mktemp("platform"), request.param)
    yield platform
    platform.stop()
