"""Segment rules as SQL: the leaf that dispatch reads (subscribers/segments.py saves them).

Kept apart from segments.py so that sending/dispatch.py can build the clause without importing
the subscribe code (which imports sending/campaigns.py: a cycle). Operators are documented in
segments.py.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import ColumnElement, Float, Text, and_, case, cast, false, func, true
from sqlalchemy.orm import Session

from newsletter.models import Segment, Subscriber

OPERATORS = ("=", "!=", "contains", "<", ">", "is set")
NUMBER = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"


@dataclass(frozen=True)
class Rule:
    """One condition: field (`country` or `attributes.NAME`), operator, value."""

    field: str
    op: str
    value: str = ""


def condition(rules: list[Rule]) -> ColumnElement[bool]:
    """The SQL clause "every rule holds" over Subscriber."""
    return and_(true(), *(_clause(rule) for rule in rules))


def _clause(rule: Rule) -> ColumnElement[bool]:
    if rule.field == "country":
        value = func.coalesce(Subscriber.country, "")
        wanted = rule.value.upper()
    else:
        name = rule.field[len("attributes."):]
        value = func.coalesce(cast(Subscriber.attributes[name].as_string(), Text), "")
        wanted = rule.value
    if rule.op == "is set":
        return value != ""
    if rule.op == "=":
        return value == wanted
    if rule.op == "!=":
        return value != wanted
    if rule.op == "contains":
        escaped = wanted.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return func.lower(value).like(f"%{escaped}%", escape="\\")
    if re.match(NUMBER, wanted):
        # Cast only what looks like a number: PostgreSQL refuses to cast 'pro' and would fail
        # the whole dispatch.
        number = case((value.regexp_match(NUMBER), cast(value, Float)), else_=None)
        return (number < float(wanted)) if rule.op == "<" else (number > float(wanted))
    return and_(value != "", (value < wanted) if rule.op == "<" else (value > wanted))


def rules_of(segment: Segment) -> list[Rule]:
    """The segment's stored rules."""
    return [Rule(**stored) for stored in segment.rules or []]


def condition_for(session: Session, segment_id: int | None) -> ColumnElement[bool] | None:
    """The clause of a campaign's segment (None: no segment). A segment that vanished
    matches nobody rather than everybody."""
    if segment_id is None:
        return None
    segment = session.get(Segment, segment_id)
    return false() if segment is None else condition(rules_of(segment))


