"""A list's subscribers as CSV: streamed, cells safe to open in a spreadsheet, audited.

Columns: email, name, country, status on the list, when they joined, confirmed and left, how
they came, then one column per attribute name found on the list (sorted). Erased people are
left out: nothing of them is left to export. Every cell goes through `spreadsheet.cell()`.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import datetime
from io import StringIO

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import spreadsheet
from newsletter.models import MailingList, Subscriber, SubscriberStatus, Subscription
from newsletter.privacy import audit

COLUMNS = ("email", "name", "country", "status", "subscribed_at", "confirmed_at",
           "unsubscribed_at", "source")
CHUNK = 1000  # rows read per round trip


def _members(list_id: int):
    return (select(Subscriber.email, Subscriber.name, Subscriber.country, Subscriber.attributes,
                   Subscription.status, Subscription.created_at, Subscription.confirmed_at,
                   Subscription.unsubscribed_at, Subscription.source)
            .join(Subscription, Subscription.subscriber_id == Subscriber.id)
            .where(Subscription.list_id == list_id, Subscriber.status != SubscriberStatus.erased)
            .order_by(Subscriber.id))


def _attribute_names(session: Session, list_id: int) -> list[str]:
    names: set[str] = set()
    rows = session.execute(_members(list_id).with_only_columns(Subscriber.attributes)
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
    names = _attribute_names(session, mailing_list.id)
    audit.record(session, actor=actor, action="subscribers.export", subject_type="list",
                 subject_id=mailing_list.id, now=now,
                 detail={"list": mailing_list.slug, "attributes": names})
    list_id = mailing_list.id

    def lines() -> Iterator[str]:
        yield _line([*COLUMNS, *names])
        rows = session.execute(_members(list_id).execution_options(yield_per=CHUNK))
        for row in rows:
            attributes = row.attributes or {}
            yield _line([row.email, row.name, row.country, row.status.value,
                         _iso(row.created_at), _iso(row.confirmed_at), _iso(row.unsubscribed_at),
                         row.source, *(attributes.get(name) for name in names)])

    return lines()


def _iso(moment: datetime | None) -> str:
    return moment.isoformat() if moment is not None else ""
