"""Who may receive a campaign: the one definition, used at dispatch and again at send time.

Eligible = the subscriber is active, has a confirmed subscription to one of the campaign's lists,
and their address is not on the suppression list; for a campaign with a purpose (a new use of
data), they also have effective consent to it (privacy/consent.py `effective`). Dispatch
applies it to a range of subscriber ids (`INSERT ... SELECT`, sending/dispatch.py); the worker
applies it to one subscriber right before building the message (sending/store.py), so a change
committed after dispatch (unsubscribe, bounce, complaint, erasure, a withdrawn consent) is
honoured.

Suppression is checked through `Subscriber.email_hash`, an indexed copy of the keyed hash of the
address. Rows written by bulk SQL, or whose address changed outside the ORM, may have no hash
yet: dispatch fills hashes in before it inserts, and the worker checks such a row by computing
the hash (`suppressed_without_hash`), so a missing hash never lets a suppressed address through.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import ColumnElement, and_, bindparam, exists, func, select, true
from sqlalchemy.orm import Session

from newsletter.models import (
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
)
from newsletter.privacy import consent
from newsletter.privacy.consent import PurposeRule
from newsletter.subscribers import suppression


def confirmed_on(list_ids: Sequence[int]) -> ColumnElement[bool]:
    """The subscriber has a confirmed subscription to one of `list_ids`."""
    return exists().where(
        Subscription.subscriber_id == Subscriber.id,
        Subscription.list_id.in_(list_ids),
        Subscription.status == SubscriptionStatus.confirmed,
    )


def suppressed() -> ColumnElement[bool]:
    """The subscriber's address is on the suppression list (by its stored hash; a row without
    one is checked by `suppressed_without_hash` before a send)."""
    return exists().where(Suppression.email_hash == Subscriber.email_hash)


def active() -> ColumnElement[bool]:
    """The subscriber counts as active: active status and not suppressed (the admin's counts)."""
    return and_(Subscriber.status == SubscriberStatus.active, ~suppressed())


def eligible(list_ids: Sequence[int], purpose: PurposeRule | None = None) -> ColumnElement[bool]:
    """The WHERE clause of "may receive a newsletter of these lists" (for this purpose)."""
    if purpose is None:
        return and_(active(), confirmed_on(list_ids))
    return and_(active(), confirmed_on(list_ids), consent.effective(purpose))


def in_segment(condition: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """The campaign's segment (subscribers/segments.py `condition_for`), or everybody.

    Targeting, not permission: dispatch adds it to `eligible`, and the send-time check stays
    `eligible` alone, so a segment can only narrow who gets a campaign, never widen it.
    """
    return true() if condition is None else condition


def first_list(list_ids: Sequence[int]):
    """The lowest of `list_ids` the subscriber is confirmed on: the list whose unsubscribe link,
    List-Id and sender their copy carries."""
    return (select(func.min(Subscription.list_id)).where(
        Subscription.subscriber_id == Subscriber.id, Subscription.list_id.in_(list_ids),
        Subscription.status == SubscriptionStatus.confirmed).scalar_subquery())


def recipient_query(list_ids: Sequence[int], subscriber_id: ColumnElement | None = None,
                    purpose: PurposeRule | None = None):
    """One subscriber (bind parameter `p_subscriber`, or the given expression) if eligible now,
    with what compose needs."""
    subscriber_id = bindparam("p_subscriber") if subscriber_id is None else subscriber_id
    return select(
        Subscriber.email, Subscriber.name, Subscriber.attributes, Subscriber.token_version,
        Subscriber.email_hash, first_list(list_ids).label("list_id"), Subscriber.language,
    ).where(Subscriber.id == subscriber_id, eligible(list_ids, purpose))


def suppressed_without_hash(session: Session, key: str, email: str, email_hash: str | None) -> bool:
    """For a row that passed `eligible` with no hash stored: is the address suppressed?"""
    return email_hash is None and suppression.is_suppressed(session, key, email)
