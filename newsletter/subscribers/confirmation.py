"""Double opt-in, second half: the confirm link, its expiry, a fresh mail for an expired link.

The confirm token (tokens.CONFIRM) names a subscriber and the lists of one request, and expires
after NEWSLETTER_CONFIRM_MAX_AGE_DAYS. GET shows a page (scanners pre-fetch links); only the POST
calls confirm(), which records the grant as a ConsentEvent with the wording the person was shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import tokens
from newsletter.models import (
    ConsentMethod,
    OutboundMail,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from newsletter.subscribers import suppression
from newsletter.subscribers.subscriptions import SubscribeError, activate, send_confirmation


class NotPending(SubscribeError):
    """A confirm link names a request that no longer waits (purged, or left since)."""


class AddressSuppressed(SubscribeError):
    """The address is suppressed for a reason the subscriber cannot lift (bounce, complaint...)."""


def read_confirm_token(config: Mapping, token: str) -> tuple[int, list[int]]:
    """(subscriber_id, list_ids) of a confirm token; TokenError if bad or expired."""
    payload = tokens.load(config["SECRET_KEY"], tokens.CONFIRM, token,
                          max_age=config["NEWSLETTER_CONFIRM_MAX_AGE_DAYS"] * 86400)
    return _confirm_payload(payload)


def _confirm_payload(payload) -> tuple[int, list[int]]:
    try:
        subscriber_id, list_ids = payload
        return int(subscriber_id), [int(i) for i in list_ids]
    except (TypeError, ValueError):
        raise tokens.TokenError("This link is not valid.") from None


def expired_confirm_payload(error: tokens.TokenError) -> tuple[int, list[int]] | None:
    """What an expired (but genuine) confirm token named, so a new mail can be offered."""
    if not error.expired:
        return None
    try:
        return _confirm_payload(error.payload)
    except tokens.TokenError:
        return None


@dataclass
class ConfirmOutcome:
    """What confirm() changed."""

    subscriber: Subscriber
    confirmed: list[Subscription] = field(default_factory=list)
    already: list[Subscription] = field(default_factory=list)
    mails: list[OutboundMail] = field(default_factory=list)


def confirm(session: Session, subscriber_id: int, list_ids: list[int], *, now: datetime,
            config: Mapping, ip: str | None = None, user_agent: str | None = None) -> ConfirmOutcome:
    """Turn the pending subscriptions a confirm link names into confirmed ones."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        raise NotPending("This request is no longer waiting. Please subscribe again.")
    outcome = ConfirmOutcome(subscriber)
    for subscription in _subscriptions(session, subscriber, list_ids):
        if subscription.status is SubscriptionStatus.confirmed:
            outcome.already.append(subscription)
        elif subscription.status is SubscriptionStatus.pending:
            outcome.confirmed.append(subscription)
    if not outcome.confirmed:
        if outcome.already:
            return outcome
        raise NotPending("This request is no longer waiting. Please subscribe again.")
    lift_own_unsubscribe(session, subscriber, now, config)
    for subscription in outcome.confirmed:
        activate(session, subscription, now=now, config=config,
                 method=_method(subscription.source), ip=ip, user_agent=user_agent,
                 wording=subscription.consent_wording, welcome=True, outcome=outcome)
    return outcome


def already_confirmed(session: Session, subscriber_id: int, list_ids: list[int]) -> Subscriber | None:
    """The subscriber, if every subscription a confirm link names is confirmed already (a link
    opened again); None while any still waits."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return None
    found = _subscriptions(session, subscriber, list_ids)
    done = found and all(s.status is SubscriptionStatus.confirmed for s in found)
    return subscriber if done else None


def _method(source: str) -> ConsentMethod:
    try:
        return ConsentMethod(source)
    except ValueError:
        return ConsentMethod.form


def resend_confirmation(session: Session, subscriber_id: int, list_ids: list[int], *,
                        now: datetime, config: Mapping) -> list[OutboundMail]:
    """A fresh confirmation mail for still-pending subscriptions (respecting the resend limit)."""
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return []
    if suppression.is_suppressed(session, config["NEWSLETTER_SUPPRESSION_KEY"], subscriber.email) \
            and not _only_own_unsubscribe(session, subscriber, config):
        return []
    pending = [s for s in _subscriptions(session, subscriber, list_ids)
               if s.status is SubscriptionStatus.pending]
    return send_confirmation(session, subscriber, pending, now=now, config=config)


def _subscriptions(session: Session, subscriber: Subscriber, list_ids: list[int]) -> list[Subscription]:
    return list(session.scalars(select(Subscription).where(
        Subscription.subscriber_id == subscriber.id, Subscription.list_id.in_(list_ids))))


def _suppression_row(session: Session, subscriber: Subscriber, config: Mapping) -> Suppression | None:
    key = config["NEWSLETTER_SUPPRESSION_KEY"]
    return session.scalar(select(Suppression).where(
        Suppression.email_hash == suppression.email_hash(key, subscriber.email)))


# Suppressions a person lifts by confirming a fresh subscription themselves: their own
# unsubscribe-all, and their own erasure. A bounce, a complaint or a manual entry stays.
OWN_SUPPRESSIONS = (SuppressionReason.unsubscribe_all, SuppressionReason.erasure)


def _only_own_unsubscribe(session: Session, subscriber: Subscriber, config: Mapping) -> bool:
    row = _suppression_row(session, subscriber, config)
    return row is None or row.reason in OWN_SUPPRESSIONS


def lift_own_unsubscribe(session: Session, subscriber: Subscriber, now: datetime,
                         config: Mapping) -> None:
    """A person who left everything (or was erased) and now confirms again lifts their own
    suppression."""
    row = _suppression_row(session, subscriber, config)
    if row is None:
        return
    if row.reason not in OWN_SUPPRESSIONS:
        raise AddressSuppressed("This address cannot be subscribed. Please contact us.")
    suppression.lift(session, config["NEWSLETTER_SUPPRESSION_KEY"], subscriber.email,
                     actor="subscriber", reason="the subscriber confirmed a new subscription",
                     now=now)
