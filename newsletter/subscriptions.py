"""Subscribing and leaving: subscribe, confirm, unsubscribe, resubscribe, preferences.

Domain code: takes a session, plain values and `now`; never touches flask.request.
"""

from __future__ import annotations

from datetime import datetime

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import consent, suppression
from newsletter.models import (
    ConsentMethod,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    SuppressionReason,
)


class InvalidEmail(ValueError):
    """The address is not a valid email address."""


def normalise_email(raw: str) -> str:
    """Validate and normalise an address (no DNS look-up); raise InvalidEmail.

    >>> normalise_email("  Alice@Example.ORG ")
    'alice@example.org'
    """
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc)) from None
    # Local parts are case-sensitive in theory; in practice nobody relies on it, and treating
    # Alice@ and alice@ as two people would let one person be subscribed twice.
    return result.normalized.lower()


def find_subscriber(session: Session, email: str) -> Subscriber | None:
    """The subscriber with this (already normalised) address, if any."""
    return session.scalar(select(Subscriber).where(Subscriber.email == email))


def unsubscribe(
    session: Session,
    subscriber: Subscriber,
    *,
    list_ids: list[int] | None = None,
    method: ConsentMethod,
    now: datetime,
    suppression_key: str | None = None,
    suppress_reason: SuppressionReason | None = None,
    ip: str | None = None,
    user_agent: str | None = None,
    wording: str = "",
) -> list[Subscription]:
    """Leave the given lists (None: every list). Returns the subscriptions that changed.

    Leaving every list, or leaving with a `suppress_reason` (complaint, hard bounce), also puts
    the address on the suppression list, so no later subscribe or import can mail it again.
    Idempotent: leaving a list one has already left records nothing.
    """
    changed = []
    for subscription in subscriber.subscriptions:
        if list_ids is not None and subscription.list_id not in list_ids:
            continue
        if subscription.status is SubscriptionStatus.unsubscribed:
            continue
        subscription.status = SubscriptionStatus.unsubscribed
        subscription.unsubscribed_at = now
        consent.record(
            session, subscriber,
            purpose=consent.newsletter_purpose(subscription.mailing_list.slug),
            granted=False, method=method, now=now, ip=ip, user_agent=user_agent, wording=wording,
        )
        changed.append(subscription)

    leaving_everything = list_ids is None
    if leaving_everything or suppress_reason is not None:
        reason = suppress_reason or SuppressionReason.unsubscribe_all
        if suppression_key is not None:
            suppression.suppress(session, suppression_key, subscriber.email, reason, now)
    if all(s.status is SubscriptionStatus.unsubscribed for s in subscriber.subscriptions):
        if subscriber.status in (SubscriberStatus.active, SubscriberStatus.pending):
            subscriber.status = {
                SuppressionReason.complaint: SubscriberStatus.complained,
                SuppressionReason.bounce: SubscriberStatus.bounced,
            }.get(suppress_reason, SubscriberStatus.unsubscribed)
    return changed
