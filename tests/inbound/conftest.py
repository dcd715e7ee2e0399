"""Inbound tests run the classifier strictly: an error inside one of its rules fails the test
that met it, where production would quietly hand the message to a person (classify.py)."""

from __future__ import annotations

import pytest

from newsletter.inbound import classify


@pytest.fixture(autouse=True)
def strict_classifier(monkeypatch):
    monkeypatch.setattr(classify, "RAISE_ERRORS", True)
