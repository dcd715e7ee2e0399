"""Marshmallow schemas shared by the API modules: every string is checked before it reaches SQL
(PostgreSQL refuses NUL characters with an error, and a 500 is never the answer to bad input)."""

from __future__ import annotations

import re

from marshmallow import Schema, ValidationError, fields, validate

from newsletter.subscribers import subscriptions

SLUG_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


def _no_control(value: str) -> None:
    try:
        subscriptions.clean_text(value, "value", 10_000)
    except subscriptions.SubscribeError as exc:
        raise ValidationError(str(exc)) from None


def _country(value: str) -> None:
    try:
        subscriptions.clean_country(value)
    except subscriptions.SubscribeError as exc:
        raise ValidationError(str(exc)) from None


class Text(fields.String):
    """A string without CR/LF or control characters."""

    def __init__(self, *args, max_length: int = 200, min_length: int | None = None, **kwargs):
        validators = [validate.Length(min=min_length, max=max_length), _no_control]
        super().__init__(*args, validate=validators, **kwargs)


class Country(fields.String):
    """An ISO 3166-1 alpha-2 code, or empty."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, validate=[validate.Length(max=2), _country], allow_none=True,
                         **kwargs)


class Slug(fields.String):
    """A list slug."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, validate=validate.Regexp(SLUG_PATTERN),
                         **kwargs)


class PageArgs(Schema):
    """Pagination: page numbers from 1, at most 500 per page."""

    page = fields.Int(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    per_page = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))


class MessageSchema(Schema):
    """An error or status message."""

    message = fields.Str()
