"""Subscribers as CSV: streamed, cells safe to open in a spreadsheet, audited.

A list (or a segment of it): email, name, country, status on the list, when they joined,
confirmed and left, how they came, then one column per attribute name found (sorted). People
chosen on the subscribers page (bulk.py): email, name, country, language, overall status, since
when, their lists as "slug:status", then the attributes. Erased people are left out: nothing
of them is left to export. Every cell goes through `spreadsheet.cell()`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from io import StringIO

from sqlalchemy import ColumnElement, select, true
from sqlalchemy.orm import Session, selectinload

from newsletter import spreadsheet
from newsletter.models import MailingList, Segment, Subscriber, SubscriberStatus, Subscription
from newsletter.privacy import audit
from newsletter.subscribers import segment_rules

COLUMNS = ("email", "name", "country", "status", "subscribed_at", "confirmed_at",
           "unsubscribed_at", "source")
PERSON_COLUMNS = ("email", "name", "country", "language", "status", "created_at", "lists")
CHUNK = 1000  # rows read per round trip


def _members(list_id: int, where: ColumnElement[bool] | None = None):
    return (select(Subscriber.email, Subscriber.name, Subscriber.country, Subscriber.attributes,
                   Subscription.status, Subscription.created_at, Subscription.confirmed_at,
                   Subscription.unsubscribed_at, Subscription.source)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.list_id == list_id, Subscriber.status != SubscriberStatus.erased,
                   true() if where is None else where)
            .order_by(Subscriber.id))


def _attribute_names(session: Session, members) -> list[str]:
    names: set[str] = set()
    rows = session.execute(members.with_only_columns(Subscriber.attributes)
                           .execution_options(yield_per=CHUNK))
    for (attributes,) in rows:
        names.update(attributes or {})
    return sorted(names)


def _line(values: list) -> str:
    buffer = StringIO()
    csv.writer(buffer).writerow([spreadsheet.cell(v) for v in values])
    return buffer.getvalue()


def export_list(session: Session, mailing_list: MailingList, *, actor: str,
                now: datetime) -> Iterator[str]:
    """The list's subscribers as CSV lines. The export is audited in the caller's transaction;
    the caller commits before it starts reading the lines."""
    members = _members(mailing_list.id)
    names = _attribute_names(session, members)
    audit.record(session, actor=actor, action="subscribers.export", subject_type="list",
                 subject_id=mailing_list.id, now=now,
                 detail={"list": mailing_list.slug, "attributes": names})
    return _list_lines(session, members, names)


def export_segment(session: Session, segment: Segment, *, actor: str,
                   now: datetime) -> Iterator[str]:
    """The members of the segment's list whom its rules match, as `export_list` writes them
    (whatever their status on the list: the status column says it); audited likewise."""
    members = _members(segment.list_id, segment_rules.condition_of(segment))
    names = _attribute_names(session, members)
    audit.record(session, actor=actor, action="subscribers.export", subject_type="segment",
                 subject_id=segment.id, now=now,
                 detail={"segment": segment.slug, "list": segment.mailing_list.slug,
                         "rules": segment.rules, "attributes": names})
    return _list_lines(session, members, names)


def _list_lines(session: Session, members, names: list[str]) -> Iterator[str]:
    def lines() -> Iterator[str]:
        yield _line([*COLUMNS, *names])
        rows = session.execute(members.execution_options(yield_per=CHUNK))
        for row in rows:
            attributes = row.attributes or {}
            yield _line([row.email, row.name, row.country, row.status.value,
                         _iso(row.created_at), _iso(row.confirmed_at), _iso(row.unsubscribed_at),
                         row.source, *(attributes.get(name) for name in names)])

    return lines()


def export_subscribers(session: Session, ids: list[int]) -> Iterator[str]:
    """Chosen people (bulk.py audits the export) as CSV lines, one per person."""
    chosen = (select(Subscriber).where(Subscriber.status != SubscriberStatus.erased)
              .order_by(Subscriber.id))
    names = _attribute_names(session, chosen.where(Subscriber.id.in_(ids)))

    def lines() -> Iterator[str]:
        yield _line([*PERSON_COLUMNS, *names])
        for start in range(0, len(ids), CHUNK):
            people = session.scalars(chosen.where(Subscriber.id.in_(ids[start:start + CHUNK]))
                                     .options(selectinload(Subscriber.subscriptions)
                                              .joinedload(Subscription.mailing_list)))
            for person in people:
                attributes = person.attributes or {}
                memberships = " ".join(f"{s.mailing_list.slug}:{s.status.value}"
                                       for s in sorted(person.subscriptions,
                                                       key=lambda s: s.mailing_list.slug))
                yield _line([person.email, person.name, person.country, person.language,
                             person.status.value, _iso(person.created_at), memberships,
                             *(attributes.get(name) for name in names)])

    return lines()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
