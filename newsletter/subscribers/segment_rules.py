"""Segment rules as SQL: the leaf that dispatch reads (subscribers/segments.py saves them).

Kept apart from segments.py so that sending/dispatch.py can build the clause without importing
the subscribe code (which imports sending/campaigns.py: a cycle). Operators are documented in
segments.py.

Each field is a row of FIELDS: the operators it takes, how its value is read, and the one
function that turns (operator, value) into a clause over Subscriber. Every value reaches the
database as a bound parameter, never as SQL text.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Float, Text, and_, case, cast, exists, false, func, true
from sqlalchemy.orm import Session

from newsletter.models import (
    BounceDecision,
    BounceEvent,
    Delivery,
    DeliveryStatus,
    Segment,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

OPERATORS = ("=", "!=", "contains", "<", ">", "is set", "is not set")
NUMBER = r"^\s*-?[0-9]+(\.[0-9]+)?\s*$"
BOUNCE_STATES = ("hard", "soft", "none")


class RuleError(ValueError):
    """A rule whose field, operator or value cannot be used; the message says why."""


@dataclass(frozen=True)
class Rule:
    """One condition: field (see FIELDS), operator, value."""

    field: str
    op: str
    value: str = ""


# -- the fields ---------------------------------------------------------------------------------

Clause = Callable[[Rule, "int | None"], ColumnElement[bool]]


@dataclass(frozen=True)
class Field:
    """What one field of a rule accepts, and the clause it renders."""

    ops: tuple[str, ...]
    value: str  # "text", "date" (YYYY-MM-DD, UTC days), "number" (whole, >= 0) or "state"
    clause: Clause
    help: str


def _text_value(rule: Rule) -> ColumnElement:
    if rule.field == "country":
        return func.coalesce(Subscriber.country, "")
    name = rule.field[len("attributes."):]
    return func.coalesce(cast(Subscriber.attributes[name].as_string(), Text), "")


def _text_clause(rule: Rule, list_id: int | None = None) -> ColumnElement[bool]:
    value = _text_value(rule)
    wanted = rule.value.upper() if rule.field == "country" else rule.value
    if rule.op == "is set":
        return value != ""
    if rule.op == "is not set":
        return value == ""
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


def _day_bounds(op: str, value: str) -> datetime:
    """`<D`: before D begins; `>D`: after D ends (the day itself is in neither, as for text)."""
    day = datetime.combine(date.fromisoformat(value), time(), UTC)
    return day if op == "<" else day + timedelta(days=1)


def _compare(column, op: str, value: str) -> ColumnElement[bool]:
    moment = _day_bounds(op, value)
    return column < moment if op == "<" else column >= moment


def _subscribed(rule: Rule, list_id: int | None) -> ColumnElement[bool]:
    # The day they joined: confirmed on the segment's list (any list when no list is given).
    on_list = true() if list_id is None else Subscription.list_id == list_id
    return exists().where(Subscription.subscriber_id == Subscriber.id, on_list,
                          Subscription.status == SubscriptionStatus.confirmed,
                          _compare(Subscription.confirmed_at, rule.op, rule.value))


def _last_mailed(rule: Rule, list_id: int | None) -> ColumnElement[bool]:
    # Sent copies only: a queued or bounced one reached nobody. Index ix_delivery_subscriber_sent.
    sent = and_(Delivery.subscriber_id == Subscriber.id, Delivery.status == DeliveryStatus.sent)
    if rule.op == "is set":
        return exists().where(sent)
    if rule.op == "is not set":
        return ~exists().where(sent)
    if rule.op == "<":  # mailed, and nothing sent since the day began
        return and_(exists().where(sent), ~exists().where(
            sent, Delivery.sent_at >= _day_bounds("<", rule.value)))
    return exists().where(sent, _compare(Delivery.sent_at, ">", rule.value))


def _hard_bounce() -> ColumnElement[bool]:
    return exists().where(BounceEvent.subscriber_id == Subscriber.id,
                          BounceEvent.decision == BounceDecision.hard)


def _bounce(rule: Rule, list_id: int | None) -> ColumnElement[bool]:
    if rule.value == "hard":
        return _hard_bounce()
    if rule.value == "soft":
        return and_(~_hard_bounce(), Subscriber.bounce_score > 0)
    return and_(~_hard_bounce(), Subscriber.bounce_score == 0)


def _bounce_score(rule: Rule, list_id: int | None) -> ColumnElement[bool]:
    score, number = Subscriber.bounce_score, int(rule.value)
    return {"<": score < number, ">": score > number, "=": score == number}[rule.op]


FIELDS: dict[str, Field] = {
    "country": Field(OPERATORS, "text", _text_clause, "ISO code, e.g. country=DE"),
    # Every attributes.NAME shares this row.
    "attributes.": Field(OPERATORS, "text", _text_clause,
                         "attributes.plan=pro, attributes.seats>5 (as a number when it is one)"),
    "subscribed": Field(("<", ">"), "date", _subscribed,
                        "joined the list before / after a day: subscribed<2024-01-01"),
    "last_mailed": Field(("<", ">", "is set", "is not set"), "date", _last_mailed,
                         "last copy sent before / after a day; 'last_mailed is not set': "
                         "never mailed"),
    "bounce": Field(("=",), "state", _bounce, "bounce=hard (a hard bounce), bounce=soft "
                    "(soft-bounce score above 0), bounce=none"),
    "bounce_score": Field(("<", ">", "="), "number", _bounce_score,
                          "soft bounces counted: bounce_score>2"),
}


def field_of(name: str) -> Field | None:
    """The FIELDS row of a field name (`attributes.NAME` shares one row)."""
    return FIELDS["attributes."] if name.startswith("attributes.") else FIELDS.get(name)


def check_value(rule: Rule) -> Rule:
    """The rule if its operator and value suit its field; RuleError otherwise."""
    spec = field_of(rule.field)
    if spec is None:
        raise RuleError(f"unknown field {rule.field!r}: use {', '.join(FIELDS)}NAME")
    if rule.op not in spec.ops:
        raise RuleError(f"{rule.field} takes {', '.join(spec.ops)}, not {rule.op!r}")
    if rule.op in ("is set", "is not set"):
        return Rule(rule.field, rule.op)
    if spec.value == "date":
        try:
            date.fromisoformat(rule.value)
        except ValueError:
            raise RuleError(f"{rule.field} needs a day as YYYY-MM-DD, got {rule.value[:40]!r}") \
                from None
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", rule.value):
            raise RuleError(f"{rule.field} needs a day as YYYY-MM-DD, got {rule.value[:40]!r}")
    elif spec.value == "number" and not re.fullmatch(r"\d{1,9}", rule.value):
        raise RuleError(f"{rule.field} needs a whole number, got {rule.value[:40]!r}")
    elif spec.value == "state" and rule.value not in BOUNCE_STATES:
        raise RuleError(f"{rule.field} is one of {', '.join(BOUNCE_STATES)}, "
                        f"got {rule.value[:40]!r}")
    return rule


# -- the clause ---------------------------------------------------------------------------------

def condition(rules: list[Rule], list_id: int | None = None) -> ColumnElement[bool]:
    """The SQL clause "every rule holds" over Subscriber (`list_id`: the segment's list, which
    `subscribed` reads)."""
    return and_(true(), *(_clause(rule, list_id) for rule in rules))


def _clause(rule: Rule, list_id: int | None) -> ColumnElement[bool]:
    spec = field_of(rule.field)
    if spec is None:  # a stored rule this version does not know matches nobody
        return false()
    return spec.clause(rule, list_id)


def rules_of(segment: Segment) -> list[Rule]:
    """The segment's stored rules."""
    return [Rule(**stored) for stored in segment.rules or []]


def condition_of(segment: Segment) -> ColumnElement[bool]:
    """The clause of one segment, on its own list."""
    return condition(rules_of(segment), segment.list_id)


def condition_for(session: Session, segment_id: int | None) -> ColumnElement[bool] | None:
    """The clause of a campaign's segment (None: no segment). A segment that vanished
    matches nobody rather than everybody."""
    if segment_id is None:
        return None
    segment = session.get(Segment, segment_id)
    return false() if segment is None else condition_of(segment)
