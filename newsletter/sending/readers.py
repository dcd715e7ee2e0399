"""Subscribers as a template sees them: a few real readers for save-time trial renders, and one
chosen reader for a preview or a test copy (plain `compose.Recipient` values, no ORM rows)."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import MailingList, Subscriber, Subscription, SubscriptionStatus
from newsletter.sending import compose

# Real subscribers a template is trial-rendered for at save time: the oldest and the newest.
SAMPLE_OLDEST, SAMPLE_NEWEST = 3, 2


def recipient(subscriber: Subscriber) -> compose.Recipient:
    """What personalisation knows about `subscriber`."""
    return compose.Recipient(subscriber.id, subscriber.email, subscriber.name or "",
                             subscriber.attributes or {}, subscriber.token_version,
                             language=subscriber.language)


def sample_readers(session: Session, lists: Sequence[MailingList]) -> list[compose.Recipient]:
    """A few confirmed subscribers of the lists, as a template will see them at send time."""
    on_lists = select(Subscription.subscriber_id).where(
        Subscription.list_id.in_([m.id for m in lists]),
        Subscription.status == SubscriptionStatus.confirmed)
    readers = {}
    for order, count in ((Subscriber.id, SAMPLE_OLDEST), (Subscriber.id.desc(), SAMPLE_NEWEST)):
        for subscriber in session.scalars(select(Subscriber).where(Subscriber.id.in_(on_lists))
                                          .order_by(order).limit(count)):
            readers[subscriber.id] = recipient(subscriber)
    return list(readers.values())


def on_lists(session: Session, email: str, list_ids: Sequence[int]) -> Subscriber | None:
    """The subscriber with this address on one of the lists, or None: a preview or a test
    copy shows only someone the campaign is about."""
    return session.scalar(
        select(Subscriber).where(
            Subscriber.email == email,
            Subscriber.id.in_(select(Subscription.subscriber_id)
                              .where(Subscription.list_id.in_(list_ids)))))
