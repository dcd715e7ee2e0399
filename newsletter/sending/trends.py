"""Daily series for the dashboard charts: subscribers per list and copies sent per day.

Counted in SQL, grouped by UTC day, so a list of a million subscribers costs one grouped scan
and never a row per person in Python.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter.models import (
    Delivery,
    DeliveryStatus,
    MailingList,
    Subscription,
    SubscriptionStatus,
)

DAYS = 30


@dataclass(frozen=True)
class Series:
    """Values per day, one line per name."""

    days: list[str]  # "YYYY-MM-DD", oldest first
    lines: dict[str, list[int]]


def window(now: datetime, days: int = DAYS) -> tuple[datetime, list[str]]:
    """The first moment of the window and its day labels, today last."""
    start = (now - timedelta(days=days - 1)).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, [(start + timedelta(days=i)).strftime("%Y-%m-%d") for i in range(days)]


def _day(session: Session, column):
    """The UTC day of a timestamp column as 'YYYY-MM-DD', in this database's dialect."""
    if session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite keeps UTC text, 'YYYY-MM-DD HH:MM:SS...'


def sends_per_day(session: Session, now: datetime, days: int = DAYS) -> Series:
    """Campaign copies the mail server accepted, per day."""
    start, labels = window(now, days)
    day = _day(session, Delivery.sent_at)
    counts = dict(session.execute(
        select(day, func.count()).where(Delivery.status == DeliveryStatus.sent,
                                        Delivery.sent_at >= start).group_by(day)).all())
    return Series(labels, {"sent": [counts.get(d, 0) for d in labels]})


def subscribers_per_list(session: Session, now: datetime, days: int = DAYS) -> Series:
    """Confirmed subscribers of each list at the end of each day."""
    start, labels = window(now, days)
    lists = dict(session.execute(select(MailingList.id, MailingList.name)
                                 .order_by(MailingList.name)).all())
    left = Subscription.status == SubscriptionStatus.unsubscribed
    # Confirmed before the window and not gone before it.
    base = dict(session.execute(
        select(Subscription.list_id, func.count()).where(
            Subscription.confirmed_at < start,
            (~left) | (Subscription.unsubscribed_at >= start))
        .group_by(Subscription.list_id)).all())
    joined_day = _day(session, Subscription.confirmed_at)
    joined = session.execute(
        select(Subscription.list_id, joined_day, func.count())
        .where(Subscription.confirmed_at >= start)
        .group_by(Subscription.list_id, joined_day)).all()
    left_day = _day(session, Subscription.unsubscribed_at)
    gone = session.execute(
        select(Subscription.list_id, left_day, func.count())
        .where(left, Subscription.confirmed_at.is_not(None), Subscription.unsubscribed_at >= start)
        .group_by(Subscription.list_id, left_day)).all()
    change: dict[tuple[int, str], int] = {}
    for list_id, day, count in joined:
        change[(list_id, day)] = change.get((list_id, day), 0) + count
    for list_id, day, count in gone:
        change[(list_id, day)] = change.get((list_id, day), 0) - count
    lines = {}
    for list_id, name in lists.items():
        running, values = base.get(list_id, 0), []
        for day in labels:
            running += change.get((list_id, day), 0)
            values.append(running)
        lines[name] = values
    return Series(labels, lines)
