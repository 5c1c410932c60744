"""Fixtures for the cross-service tests: the real platform, started once per worker."""

from __future__ import annotations

import pytest

from govkit.testing import database_backends
from govkit.testing.platform import start_platform


@pytest.fixture(scope="session", params=database_backends())
def running_platform(request, tmp_path_factory):
    """The whole platform (``govplat up``), shared by the tests of one worker, on
    each database backend. Tests must not stop it; they may add data to it.

    Every component writes its spans to ``traces.jsonl`` beside the data folder
    (``GOVPLAT_TRACE_FILE``; ``platform.env`` names it), so that the journeys can
    check their traces and that no personal data is in them."""
    folder = tmp_path_factory.mktemp("platform")
    platform = start_platform(
        folder, request.param, extra_env={"GOVPLAT_TRACE_FILE": str(folder / "traces.jsonl")}
    )
    yield platform
    platform.stop()
