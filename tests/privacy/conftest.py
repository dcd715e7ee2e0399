"""Fixtures of the privacy tests."""

from __future__ import annotations

import pytest

from .people import World, make_world


@pytest.fixture
def world(app) -> World:
    """Ann and Bob with data in every table (see people.py)."""
    return make_world(app)
