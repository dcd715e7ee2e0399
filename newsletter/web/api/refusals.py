"""A domain function's refusal as the API's answer: the one shape every write endpoint shares."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from flask_smorest import abort

from newsletter.extensions import db


@contextmanager
def refused(*errors: type[Exception], status: int = 422) -> Iterator[None]:
    """Inside, a domain error of `errors` (which says what is wrong, for the person who asked)
    becomes `status` with its message, after what the call wrote is rolled back."""
    try:
        yield
    except errors as exc:
        db.session.rollback()
        abort(status, message=str(exc))
