"""Custom attributes: `subscriber.attributes.<name>`, set by imports, the admin UI and the API.

A name is what a template writes after `subscriber.attributes.`, so it must be a plain
identifier; a CSV header such as "Favourite Colour" becomes `favourite_colour`. Values are short
scalars (text, number, yes/no) without control characters: they end up in mail headers and
bodies, and a runaway value must not bloat every row.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import MailingList, Subscriber
from newsletter.privacy import audit
from newsletter.subscribers.addresses import SubscribeError
from newsletter.subscribers.subscriptions import clean_text

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
MAX_ATTRIBUTES = 50
MAX_VALUE_LENGTH = 1000
# How many of the newest subscribers with attributes the template help looks at: reading every
# row's JSON on each visit of the campaign form would cost a full scan of a big table.
HELP_SAMPLE = 5000


def name_from_header(header: str) -> str:
    """The attribute name for a CSV column header ('' when nothing usable is left).

    >>> name_from_header(" Favourite Colour ")
    'favourite_colour'
    >>> name_from_header("2nd plan")
    'a_2nd_plan'
    """
    name = re.sub(r"[^a-z0-9]+", "_", header.strip().lower().lstrip("\ufeff")).strip("_")[:64]
    if name and not name[0].isalpha():
        name = f"a_{name}"[:64]
    return name if NAME.match(name) else ""


def clean_name(name: str) -> str:
    """A valid attribute name, or SubscribeError."""
    if not isinstance(name, str) or not NAME.match(name):
        raise SubscribeError(f"An attribute name must be lower-case letters, digits and _ "
                             f"(starting with a letter, at most 64): {str(name)[:70]!r}.",
                             "attributes")
    return name


def clean_value(name: str, value: object) -> str | int | float | bool:
    """A valid attribute value (text trimmed), or SubscribeError."""
    if isinstance(value, bool | int | float):
        return value
    if not isinstance(value, str):
        raise SubscribeError(f"The attribute {name} must be text, a number or true/false.",
                             "attributes")
    return clean_text(value, f"attribute {name}", MAX_VALUE_LENGTH)


def clean(values: Mapping) -> dict:
    """Names and values checked; an empty text value stays (callers drop or keep it)."""
    cleaned = {clean_name(name): clean_value(name, value) for name, value in values.items()}
    if len(cleaned) > MAX_ATTRIBUTES:
        raise SubscribeError(f"At most {MAX_ATTRIBUTES} attributes per subscriber.", "attributes")
    return cleaned


def merged(current: Mapping | None, changes: Mapping, *, overwrite: bool = True) -> dict:
    """`current` with `changes` applied: None or "" removes a name; with overwrite=False only
    names not set yet are added (an import never changes what somebody already holds)."""
    result = dict(current or {})
    for name, value in changes.items():
        if value is None or value == "":
            if overwrite:
                result.pop(name, None)
        elif overwrite or name not in result:
            result[name] = value
    if len(result) > MAX_ATTRIBUTES:
        raise SubscribeError(f"At most {MAX_ATTRIBUTES} attributes per subscriber.", "attributes")
    return result


def set_attributes(session: Session, subscriber: Subscriber, changes: Mapping, *, actor: str,
                   now: datetime) -> list[str]:
    """Set (or, with None or "", remove) attributes; audited with the names changed, never
    the values. Returns the names that changed."""
    checked = {clean_name(name): None if value is None else clean_value(name, value)
               for name, value in changes.items()}
    before = dict(subscriber.attributes or {})
    after = merged(before, checked)
    changed = sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))
    if not changed:
        return []
    # A new dict, not an in-place change: the JSON column only notices assignment.
    subscriber.attributes = after
    subscriber.updated_at = now
    audit.record(session, actor=actor, action="subscriber.attributes", subject_type="subscriber",
                 subject_id=subscriber.id, now=now, detail={"names": changed})
    return changed


def known_names(session: Session, sample: int = HELP_SAMPLE) -> list[str]:
    """Attribute names in use (on the newest `sample` subscribers) or asked by a list's form
    (before anybody has answered), for the template help."""
    rows = session.scalars(select(Subscriber.attributes).order_by(Subscriber.id.desc())
                           .limit(sample))
    asked = session.scalars(select(MailingList.form_fields)
                            .where(MailingList.form_fields.is_not(None)))
    return sorted({name for attributes in rows if attributes for name in attributes}
                  | {field["name"] for fields in asked if fields for field in fields})
