"""Mailing lists: create and edit, with every field checked before it can reach a mail header."""

from __future__ import annotations

import re
from dataclasses import dataclass, fields
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.i18n import LANGUAGES, normalise
from newsletter.models import MailingList, savepoint
from newsletter.subscribers.subscriptions import SubscribeError, clean_text, normalise_email

SLUG = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$")


class ListError(ValueError):
    """A list field is not acceptable; the message names it."""

    def __init__(self, message: str, field_name: str = ""):
        super().__init__(message)
        self.field_name = field_name


@dataclass
class ListFields:
    """The editable fields of a list (None: leave unchanged on update)."""

    name: str | None = None
    description: str | None = None
    sender_name: str | None = None
    sender_address: str | None = None
    public: bool | None = None
    archive: bool | None = None
    double_opt_in: bool | None = None
    default_language: str | None = None  # newsletter/i18n.py LANGUAGES
    count_clicks: bool | None = None  # aggregate click counts per link (sending/clicks.py)
    postal_address: str | None = None  # one line, in every newsletter's footer (CAN-SPAM)


def clean_slug(value: str) -> str:
    """A list slug: lower-case letters, digits and inner hyphens, at most 64.

    >>> clean_slug(" Weekly-News ")
    'weekly-news'
    """
    slug = (value or "").strip().lower()
    if not SLUG.match(slug):
        raise ListError("The slug may hold lower-case letters, digits and hyphens (at most 64).",
                        "slug")
    return slug


def _clean(values: ListFields) -> dict:
    cleaned = {}
    try:
        for f in fields(values):
            value = getattr(values, f.name)
            if value is None:
                continue
            if f.name == "name":
                value = clean_text(value, "name")
                if not value:
                    raise ListError("A list needs a name.", "name")
            elif f.name in ("description",):
                value = clean_text(value, f.name, 2000)
            elif f.name == "sender_name":
                value = clean_text(value, "sender name")
            elif f.name == "postal_address":
                value = clean_text(value, "postal address", 500)
            elif f.name == "sender_address":
                value = clean_text(value, "sender address", 254)
                value = normalise_email(value) if value else ""
            elif f.name == "default_language":
                if normalise(value) is None:
                    raise ListError("Choose one of the languages: " + ", ".join(LANGUAGES) + ".",
                                    "default_language")
                value = normalise(value)
            cleaned[f.name] = value
    except SubscribeError as exc:
        raise ListError(str(exc), exc.field_name or "") from None
    return cleaned


def create_list(session: Session, slug: str, values: ListFields, *, now: datetime) -> MailingList:
    """Create a list (double opt-in unless told otherwise); ListError on a bad or taken slug."""
    slug = clean_slug(slug)
    cleaned = _clean(values)
    if "name" not in cleaned:
        raise ListError("A list needs a name.", "name")
    cleaned.setdefault("double_opt_in", True)
    if find_list(session, slug) is not None:
        raise ListError(f"A list with the slug {slug!r} already exists.", "slug")
    mailing_list = MailingList(slug=slug, created_at=now, **cleaned)
    try:
        with savepoint(session):
            session.add(mailing_list)
            session.flush()
    except IntegrityError:
        raise ListError(f"A list with the slug {slug!r} already exists.", "slug") from None
    return mailing_list


def update_list(session: Session, mailing_list: MailingList, values: ListFields) -> MailingList:
    """Change a list's fields (the slug stays: it is in every link ever mailed)."""
    for name, value in _clean(values).items():
        setattr(mailing_list, name, value)
    return mailing_list


def find_list(session: Session, slug: str) -> MailingList | None:
    """The list with this slug, if any."""
    return session.scalar(select(MailingList).where(MailingList.slug == slug))
