"""The preference centre: the lists one is on, name and country, leave all.

Reached through a preferences token (carries Subscriber.token_version, so bumping it revokes every
link ever mailed). Every change appends a ConsentEvent.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import tokens
from newsletter.i18n import normalise
from newsletter.models import (
    ConsentMethod,
    MailingList,
    OutboundMail,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from newsletter.privacy import audit, consent
from newsletter.subscribers.confirmation import lift_own_unsubscribe
from newsletter.subscribers.subscriptions import (
    SubscribeRequest,
    activate,
    clean_country,
    clean_text,
    get_or_create_subscription,
    unsubscribe,
)


def read_preferences_token(session: Session, config: Mapping, token: str) -> Subscriber:
    """The subscriber of a live preferences token; TokenError if bad or revoked."""
    payload = tokens.load(config["SECRET_KEY"], tokens.PREFERENCES, token)
    try:
        subscriber_id, version = int(payload[0]), int(payload[1])
    except (TypeError, ValueError, IndexError, KeyError):
        raise tokens.TokenError("This link is not valid.") from None
    if subscriber_id == 0:
        # 0 stands in for the reader of a test copy sent to a non-subscriber (sending/campaigns.py
        # test_send): a genuine link, but to nobody's preferences.
        raise tokens.TokenError("This is a test copy of a newsletter, so this link is only a sample. "
                                "In the mail your subscribers get, it opens each one's own preferences.")
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None or subscriber.token_version != version:
        raise tokens.TokenError("This link is no longer valid. Use the link in a recent mail.")
    return subscriber


@dataclass
class PreferencesChange:
    """What update_preferences() changed."""

    joined: list[Subscription] = field(default_factory=list)
    left: list[Subscription] = field(default_factory=list)
    profile_changed: bool = False
    mails: list[OutboundMail] = field(default_factory=list)


def offered_lists(session: Session, subscriber: Subscriber) -> list[MailingList]:
    """The lists the preference centre shows: public ones and any the subscriber is on now.

    A list that is not public is shown only to its members (they may leave it); one they left
    disappears, so the preference centre cannot be used to join a list the public cannot see.
    """
    own = select(Subscription.list_id).where(
        Subscription.subscriber_id == subscriber.id,
        Subscription.status != SubscriptionStatus.unsubscribed)
    return list(session.scalars(select(MailingList).where(
        MailingList.public.is_(True) | MailingList.id.in_(own)).order_by(MailingList.name)))


def update_preferences(session: Session, subscriber: Subscriber, *, name: str, country: str | None,
                       wanted_list_ids: set[int], now: datetime, config: Mapping,
                       language: str | None = None,
                       ip: str | None = None, user_agent: str | None = None) -> PreferencesChange:
    """Apply the preference-centre form; every change appends a ConsentEvent.

    `language` None keeps the stored one (a form without the field changes nothing)."""
    name, country = clean_text(name, "name"), clean_country(country)
    language = normalise(language) or subscriber.language
    change = PreferencesChange()
    if (name, country, language) != (subscriber.name, subscriber.country, subscriber.language):
        subscriber.name, subscriber.country, subscriber.language = name, country, language
        change.profile_changed = True
        consent.record(session, subscriber, purpose="profile", granted=True,
                       method=ConsentMethod.preferences, now=now, ip=ip, user_agent=user_agent,
                       wording="Updated name, country and language in the preference centre.")
    for mailing_list in offered_lists(session, subscriber):
        subscription = next((s for s in subscriber.subscriptions
                             if s.list_id == mailing_list.id), None)
        active = subscription is not None and subscription.status is not SubscriptionStatus.unsubscribed
        if mailing_list.id in wanted_list_ids and (subscription is None or
                                                   subscription.status is not SubscriptionStatus.confirmed):
            lift_own_unsubscribe(session, subscriber, now, config)
            request = SubscribeRequest(email=subscriber.email, lists=[mailing_list],
                                       method=ConsentMethod.preferences)
            subscription = subscription or get_or_create_subscription(
                session, subscriber, mailing_list, request, now)
            # The preference link came to this mailbox, so the address is proven: no new mail
            # round trip.
            activate(session, subscription, now=now, config=config,
                     method=ConsentMethod.preferences, ip=ip, user_agent=user_agent,
                     wording=f"Subscribed to {mailing_list.name} in the preference centre.",
                     welcome=True, outcome=change)
            change.joined.append(subscription)
        elif mailing_list.id not in wanted_list_ids and active:
            change.left += unsubscribe(
                session, subscriber, list_ids=[mailing_list.id], method=ConsentMethod.preferences,
                now=now, ip=ip, user_agent=user_agent,
                wording=f"Unsubscribed from {mailing_list.name} in the preference centre.")
    return change


def edit_profile(session: Session, subscriber: Subscriber, *, name: str, country: str | None,
                 actor: str, now: datetime, language: str | None = None) -> bool:
    """An operator changes a subscriber's name, country or language (None: kept); audited.
    True if anything changed."""
    name, country = clean_text(name, "name"), clean_country(country)
    language = normalise(language) or subscriber.language
    if (name, country, language) == (subscriber.name, subscriber.country, subscriber.language):
        return False
    changed = [f for f, old, new in (("name", subscriber.name, name),
                                     ("country", subscriber.country, country),
                                     ("language", subscriber.language, language)) if old != new]
    subscriber.name, subscriber.country, subscriber.language = name, country, language
    audit.record(session, actor=actor, action="subscriber.edit", subject_type="subscriber",
                 subject_id=subscriber.id, now=now, detail={"fields": changed})
    return True
