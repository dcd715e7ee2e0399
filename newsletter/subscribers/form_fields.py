"""A list's extra fields on its public form, as data: what each asks, and how an answer is read.

A field is `subscriber.attributes.<name>` asked on the list's own page, in its embeddable snippet
and at `/api/public/subscribe`. The list stores its fields as plain rows
(`MailingList.form_fields`: name, label, type, required); this module is the one place that
checks those rows and turns what a person typed into a typed value:

- text    -> str (trimmed, no control characters)
- number  -> int, or float when it has a fraction ("3,5" reads as 3.5)
- date    -> "YYYY-MM-DD" (JSON holds no dates; ISO text sorts and compares as the date does)
- yes_no  -> bool

Only the declared fields are read: a sign-up can never set another attribute. How the values
are stored is subscriptions.py's (`SubscribeRequest.attributes`): only names the subscriber lacks
are filled, as with the name. Labels are the list owner's words and are shown as written; the error
messages below are shown to the person in the page's language (web/public.py lists them for
pybabel).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date, datetime

from sqlalchemy.orm import Session

from newsletter.models import MailingList
from newsletter.subscribers import attributes, subscriptions
from newsletter.subscribers.addresses import SubscribeError
from newsletter.subscribers.lists import ListError
from newsletter.subscribers.subscriptions import clean_text

# type -> how the admin page names it
TYPES = {"text": "Text", "number": "Number", "date": "Date", "yes_no": "Yes/no"}
MAX_FIELDS = 20
MAX_LABEL = 200
MAX_TEXT = 500
# A number beyond this is no longer exact as a float, and no form asks for one.
MAX_NUMBER = 1e15
_NUMBER = re.compile(r"[+-]?\d{1,16}(?:[.,]\d{1,10})?")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_YES = frozenset({"yes", "true", "on", "1"})
_NO = frozenset({"no", "false", "off", "0"})

# What a person can be told about one field (translated where shown).
REQUIRED = "Please fill in this field."
NOT_A_NUMBER = "Enter a number, like 42 or 3.5."
NOT_A_DATE = "Enter a date as year-month-day, like 2026-12-31."
NOT_YES_NO = "Choose yes or no."
TOO_LONG = "This answer is too long (at most 500 characters)."
CONTROL = "Line breaks and control characters are not allowed here."
NOT_TEXT = "Enter text here."
MESSAGES = (REQUIRED, NOT_A_NUMBER, NOT_A_DATE, NOT_YES_NO, TOO_LONG, CONTROL, NOT_TEXT)


@dataclass(frozen=True)
class FormField:
    """One extra question on a list's form."""

    name: str  # the attribute name (attributes.NAME)
    label: str  # the list owner's words, shown as written
    type: str  # a key of TYPES
    required: bool = False


class FieldErrors(SubscribeError):
    """Some answers cannot be read; `errors` maps each field's name to its message."""

    def __init__(self, errors: dict[str, str]):
        first = next(iter(errors))
        super().__init__(errors[first], f"attributes.{first}")
        self.errors = errors


# --- the definitions (the admin page) -----------------------------------------------------------


def clean_definitions(rows: Iterable[Mapping]) -> list[FormField]:
    """Field rows as the admin typed them -> checked fields; ListError names the row.

    >>> clean_definitions([{"name": "plan", "label": "Your plan", "type": "text"}])
    [FormField(name='plan', label='Your plan', type='text', required=False)]
    """
    result: list[FormField] = []
    for number, row in enumerate(rows, start=1):
        where = f"Field {number}"
        name = str(row.get("name") or "").strip()
        try:
            attributes.clean_name(name)
            label = clean_text(str(row.get("label") or ""), "label", MAX_LABEL)
        except SubscribeError as exc:
            raise ListError(f"{where}: {exc}", "form_fields") from None
        if not label:
            raise ListError(f"{where} ({name}): give it a label, the words the form shows.",
                            "form_fields")
        kind = str(row.get("type") or "")
        if kind not in TYPES:
            raise ListError(f"{where} ({name}): the type must be one of "
                            + ", ".join(TYPES) + ".", "form_fields")
        if any(f.name == name for f in result):
            raise ListError(f"{where}: the name {name!r} is used twice.", "form_fields")
        result.append(FormField(name, label, kind, bool(row.get("required"))))
    if len(result) > MAX_FIELDS:
        raise ListError(f"At most {MAX_FIELDS} fields per list.", "form_fields")
    return result


def set_fields(mailing_list: MailingList, rows: Iterable[Mapping]) -> list[FormField]:
    """Replace the list's form fields (checked first; ListError leaves the list as it was)."""
    checked = clean_definitions(rows)
    # A new list, not an in-place change: the JSON column only notices assignment.
    mailing_list.form_fields = [asdict(f) for f in checked] or None
    return checked


def of_list(mailing_list: MailingList) -> list[FormField]:
    """The list's form fields (stored rows are trusted: set_fields checked them)."""
    return [FormField(**row) for row in mailing_list.form_fields or []]


def of_lists(lists: Iterable[MailingList]) -> list[FormField]:
    """The fields of a form for several lists: each name once (the first definition), required
    when any of the lists requires it."""
    found: dict[str, FormField] = {}
    for mailing_list in lists:
        for f in of_list(mailing_list):
            if f.name not in found:
                found[f.name] = f
            elif f.required and not found[f.name].required:
                found[f.name] = FormField(f.name, found[f.name].label, found[f.name].type, True)
    # A form of many lists still asks a bounded number of questions.
    return list(found.values())[:MAX_FIELDS]


# --- the answers (the public form and the JSON endpoint) ----------------------------------------


def read_answers(fields: Iterable[FormField], answers: Mapping[str, object]) -> dict:
    """The typed values of the declared fields (unanswered optional ones left out); FieldErrors
    with one message per bad field. Anything not declared is ignored.

    >>> read_answers([FormField("seats", "Seats", "number", True)], {"seats": " 3,5 "})
    {'seats': 3.5}
    """
    values, errors = {}, {}
    for f in fields:
        raw = answers.get(f.name)
        if raw is None or (isinstance(raw, str) and not raw.strip()):
            if f.required:
                errors[f.name] = REQUIRED
            continue
        try:
            values[f.name] = _READERS[f.type](raw)
        except ValueError as exc:
            errors[f.name] = str(exc)
    if errors:
        raise FieldErrors(errors)
    return values


def subscribe(session: Session, request: subscriptions.SubscribeRequest,
              fields: Iterable[FormField], answers: Mapping[str, object], *, now: datetime,
              config: Mapping) -> subscriptions.SubscribeOutcome:
    """subscriptions.subscribe() with the form's answers kept as attributes; FieldErrors (before
    anything is written) when an answer cannot be read."""
    # A sign-up proves nothing about the address until its link is clicked: like the name, an
    # answer only fills a blank (subscriptions.py merges them with the held values winning).
    # Anybody who knows an address could otherwise rewrite what its owner told us.
    request.attributes = read_answers(fields, answers)
    return subscriptions.subscribe(session, request, now=now, config=config)


def _text(raw: object) -> str:
    if isinstance(raw, int | float) and not isinstance(raw, bool):
        raw = str(raw)  # JSON may send a number where the form would send its digits
    if not isinstance(raw, str):
        raise ValueError(NOT_TEXT)
    try:
        return clean_text(raw, "answer", MAX_TEXT)
    except SubscribeError:
        raise ValueError(TOO_LONG if len(raw.strip()) > MAX_TEXT else CONTROL) from None


def _number(raw: object) -> int | float:
    if isinstance(raw, bool):
        raise ValueError(NOT_A_NUMBER)
    if isinstance(raw, int | float):
        value = raw
    elif isinstance(raw, str) and _NUMBER.fullmatch(raw.strip()):
        text = raw.strip().replace(",", ".")
        value = float(text) if "." in text else int(text)
    else:
        raise ValueError(NOT_A_NUMBER)
    if not math.isfinite(value) or abs(value) >= MAX_NUMBER:
        raise ValueError(NOT_A_NUMBER)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _date(raw: object) -> str:
    text = raw.strip() if isinstance(raw, str) else ""
    if not _DATE.fullmatch(text):
        raise ValueError(NOT_A_DATE)
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        raise ValueError(NOT_A_DATE) from None


def _yes_no(raw: object) -> bool:
    if isinstance(raw, bool):
        return raw
    text = raw.strip().lower() if isinstance(raw, str) else ""
    if text in _YES:
        return True
    if text in _NO:
        return False
    raise ValueError(NOT_YES_NO)


_READERS = {"text": _text, "number": _number, "date": _date, "yes_no": _yes_no}
