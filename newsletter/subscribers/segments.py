"""Segments: saved filters over one list ("plan = pro", "country = DE", "city contains lon").

A segment is its list plus rules that must all hold. A rule is a field (segment_rules.FIELDS),
an operator and a value; `condition()` turns the rules into one SQL clause over Subscriber,
which dispatch adds to the eligibility rule (sending/eligibility.py `in_segment`). A segment
picks an audience; it never widens who may be mailed: eligibility still decides that, at
dispatch and again at send time.

Operators on `country` and attributes (values are stored as text, numbers or true/false):
  =, !=        compare as text; `!=` also matches people without the attribute
  contains     case-insensitive substring
  <, >         as numbers when the value is a number (attributes that are not numbers never
               match), else as text (ISO dates compare correctly as text)
  is set       present and not empty; `is not set`: absent or empty
The other fields:
  subscribed<D, subscribed>D     confirmed on the segment's list before day D began / after it
                                 ended (UTC days, YYYY-MM-DD)
  last_mailed<D, last_mailed>D   the last copy sent was before D / a copy was sent after D
                                 (never mailed matches neither); `last_mailed is set`: mailed at
                                 least once; `last_mailed is not set`: never mailed
  bounce=hard|soft|none          a hard bounce ever; no hard bounce but a soft-bounce score; neither
  bounce_score<N, >N, =N         the soft-bounce score kept on the subscriber (bounces.py)
"""

from __future__ import annotations

import re
from dataclasses import asdict
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.models import MailingList, Purpose, Segment, Subscriber
from newsletter.privacy import audit
from newsletter.privacy.consent import PurposeRule
from newsletter.sending import eligibility
from newsletter.subscribers.addresses import SubscribeError
from newsletter.subscribers.attributes import NAME
from newsletter.subscribers.lists import SLUG
from newsletter.subscribers.segment_rules import (
    FIELDS,
    OPERATORS,
    Rule,
    RuleError,
    check_value,
    condition_for,
    field_of,
    rules_of,
)
from newsletter.subscribers.subscriptions import clean_text

MAX_RULES = 20
FIELD_NAMES = tuple(name + "NAME" if name.endswith(".") else name for name in FIELDS)

# How `--filter` text reads: "FIELD is set", "FIELD is not set", "FIELD contains VALUE",
# "FIELD!=VALUE", "FIELD<VALUE", "FIELD>VALUE", "FIELD=VALUE" (tried in this order).
_FILTER = re.compile(
    r"^\s*(?P<field>[a-z][a-z0-9_.]*)\s*(?:(?P<set>is set|is not set)"
    r"|(?P<op>contains\s|!=|<|>|=)(?P<value>.*))\s*$", re.S)


class SegmentError(ValueError):
    """A segment or rule that cannot be saved; the message says why."""


def parse_filter(text: str) -> Rule:
    """A rule from its text form.

    >>> parse_filter("attributes.plan=pro")
    Rule(field='attributes.plan', op='=', value='pro')
    >>> parse_filter("attributes.city contains Lon")
    Rule(field='attributes.city', op='contains', value='Lon')
    >>> parse_filter("country is set")
    Rule(field='country', op='is set', value='')
    >>> parse_filter("last_mailed is not set")
    Rule(field='last_mailed', op='is not set', value='')
    """
    match = _FILTER.match(text)
    if match is None:
        raise SegmentError(f"a filter reads FIELD=VALUE (or !=, <, >, 'contains', 'is set', "
                           f"'is not set'), got {text[:80]!r}")
    if match["set"]:
        return check(Rule(match["field"], match["set"]))
    return check(Rule(match["field"], match["op"].strip(), match["value"].strip()))


def check(rule: Rule) -> Rule:
    """The rule if its field, operator and value are usable; SegmentError otherwise."""
    if rule.op not in OPERATORS:
        raise SegmentError(f"unknown operator {rule.op!r}: use one of {', '.join(OPERATORS)}")
    if rule.field.startswith("attributes.") and not NAME.match(rule.field[len("attributes."):]):
        raise SegmentError(f"an attribute name is lower-case letters, digits and _, "
                           f"got {rule.field!r}")
    if field_of(rule.field) is None:
        raise SegmentError(f"a filter field is one of {', '.join(FIELD_NAMES)}, "
                           f"got {rule.field!r}")
    try:
        clean_text(rule.value, "filter value", 1000)
        return check_value(rule)
    except (SubscribeError, RuleError) as exc:
        raise SegmentError(str(exc)) from None


def describe(segment: Segment) -> str:
    """The rules as one line, as `--filter` reads them."""
    return " and ".join(f"{r.field} {r.op} {r.value}".strip() for r in rules_of(segment)) or "everyone"


def create(session: Session, slug: str, mailing_list: MailingList, rules: list[Rule], *,
           name: str = "", actor: str, now: datetime) -> Segment:
    """Save a segment (audited); SegmentError for a taken slug or a bad rule."""
    if not SLUG.match(slug):
        raise SegmentError("a slug is lower-case letters, digits and dashes")
    if session.scalar(select(Segment.id).where(Segment.slug == slug)) is not None:
        raise SegmentError(f"a segment {slug!r} exists already")
    if len(rules) > MAX_RULES:
        raise SegmentError(f"at most {MAX_RULES} filters")
    try:
        name = clean_text(name, "name")
    except SubscribeError as exc:
        raise SegmentError(str(exc)) from None
    segment = Segment(slug=slug, name=name or slug, list_id=mailing_list.id, created_at=now,
                      rules=[asdict(check(rule)) for rule in rules], created_by=actor)
    session.add(segment)
    session.flush()
    audit.record(session, actor=actor, action="segment.create", subject_type="segment",
                 subject_id=segment.id, now=now,
                 detail={"slug": slug, "list": mailing_list.slug, "rules": segment.rules})
    return segment


def find(session: Session, slug: str) -> Segment | None:
    """The segment with this slug, if any."""
    return session.scalar(select(Segment).where(Segment.slug == slug))


def all_segments(session: Session) -> list[Segment]:
    """Every segment, by slug."""
    return list(session.scalars(select(Segment).order_by(Segment.slug)))


def audience(session: Session, list_ids: list[int], segment_id: int | None,
             purpose_id: int | None = None) -> int:
    """How many would get a campaign to these lists (and segment, and for this purpose) if it
    were sent now: the same clauses as dispatch."""
    purpose = session.get(Purpose, purpose_id) if purpose_id is not None else None
    rule = PurposeRule.of(purpose) if purpose is not None else None
    statement = select(func.count()).select_from(Subscriber).where(
        eligibility.eligible(list_ids, rule),
        eligibility.in_segment(condition_for(session, segment_id)))
    return session.scalar(statement) or 0
