"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest

from .support import Served, serve, stop


@pytest.fixture
def receiver():
    """A webhook receiver on 127.0.0.1 that records what it is sent."""
    state = serve(Served())
    yield state
    stop(state)
