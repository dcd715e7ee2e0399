"""Retention: personal data is kept only as long as a period says (GDPR art. 5(1)(e)).

Each period is one function `(session, now, config) -> int` that removes what is older than its
`NEWSLETTER_*_DAYS` setting and returns how many rows it changed; a period set to 0 keeps
forever. `run()` is one pass over every period, in the caller's transaction, with one audit row
(actor "system", counts only) when it removed anything. The scheduler job and
`flask newsletter retention run` both call `run()`; a second pass finds nothing and writes
nothing.

What stays is what the rest of the service counts on: campaign counts and the delivery rows,
the consent events (purpose, grant, when, how, wording), the suppression hash, the audit trail.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from newsletter.inbound import inbox
from newsletter.models import (
    Campaign,
    ConsentEvent,
    Delivery,
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.privacy import audit, erasure
from newsletter.subscribers import subscriptions

ACTION = "privacy.retention"
ACTOR = "system"
# Statuses of people who left us: by unsubscribing, by a hard bounce, or by a spam complaint.
DEPARTED = (SubscriberStatus.unsubscribed, SubscriberStatus.bounced, SubscriberStatus.complained)
CLOSED = (PrivacyRequestStatus.completed, PrivacyRequestStatus.rejected)


def _cutoff(now: datetime, config: Mapping, setting: str) -> datetime | None:
    """The moment before which data goes, or None when the period is 0 (keep forever)."""
    days = config[setting]
    return now - timedelta(days=days) if days > 0 else None


def sent_mail(session: Session, now: datetime, config: Mapping) -> int:
    """Drop the bytes and the address of sent or failed transactional mail (the row stays)."""
    cutoff = _cutoff(now, config, "NEWSLETTER_RETAIN_SENT_MAIL_DAYS")
    if cutoff is None:
        return 0
    return session.execute(
        update(OutboundMail)
        .where(OutboundMail.status.in_(("sent", "failed")), OutboundMail.created_at < cutoff,
               (func.length(OutboundMail.raw) > 0) | (OutboundMail.to_address != ""))
        .values(raw=b"", to_address="")
        .execution_options(synchronize_session=False)).rowcount or 0


def delivery_details(session: Session, now: datetime, config: Mapping) -> int:
    """Forget each copy's SMTP reply and Message-ID once its campaign finished long ago; the
    delivery rows (status, sent_at) and so the campaign's counts stay."""
    cutoff = _cutoff(now, config, "NEWSLETTER_RETAIN_DELIVERY_DETAIL_DAYS")
    if cutoff is None:
        return 0
    finished = select(Campaign.id).where(Campaign.finished_at < cutoff)
    return session.execute(
        update(Delivery)
        .where(Delivery.campaign_id.in_(finished),
               Delivery.smtp_response.is_not(None) | Delivery.message_id.is_not(None))
        .values(smtp_response=None, message_id=None)
        .execution_options(synchronize_session=False)).rowcount or 0


def departed_people(session: Session, now: datetime, config: Mapping) -> int:
    """Make people who left or bounced long ago the tombstone erasure makes, without its last
    mail: only the keyed hash stays, on the suppression list."""
    cutoff = _cutoff(now, config, "NEWSLETTER_RETAIN_DEPARTED_DAYS")
    if cutoff is None:
        return 0
    # Asking to come back (pending) keeps them; so does a confirmed list, except after a hard
    # bounce, which leaves the subscriptions as they were (bounces.py) but can no longer be mailed.
    in_force = select(Subscription.id).where(
        Subscription.subscriber_id == Subscriber.id,
        (Subscription.status == SubscriptionStatus.pending)
        | ((Subscription.status == SubscriptionStatus.confirmed)
           & (Subscriber.status != SubscriberStatus.bounced)))
    # The last sign of them restarts the period: a status change, a bounce, leaving a list (a
    # bounced person who later leaves a list keeps status and updated_at as they were).
    left_late = select(Subscription.id).where(Subscription.subscriber_id == Subscriber.id,
                                              Subscription.unsubscribed_at >= cutoff)
    emails = list(session.scalars(select(Subscriber.email).where(
        Subscriber.status.in_(DEPARTED), Subscriber.updated_at < cutoff,
        Subscriber.last_bounce_at.is_(None) | (Subscriber.last_bounce_at < cutoff),
        ~in_force.exists(), ~left_late.exists()).order_by(Subscriber.id)))
    for email in emails:
        erasure.erase(session, email, config=config, now=now, actor=ACTOR, confirm_by_mail=False)
    return len(emails)


def consent_network(session: Session, now: datetime, config: Mapping) -> int:
    """Forget the IP address and user agent of old consents; the consent events stay."""
    cutoff = _cutoff(now, config, "NEWSLETTER_RETAIN_CONSENT_NETWORK_DAYS")
    if cutoff is None:
        return 0
    events = session.execute(
        update(ConsentEvent)
        .where(ConsentEvent.at < cutoff,
               ConsentEvent.ip.is_not(None) | ConsentEvent.user_agent.is_not(None))
        .values(ip=None, user_agent=None)
        .execution_options(synchronize_session=False)).rowcount or 0
    # The sign-up request keeps a copy until it is confirmed (then the consent event has it).
    requests = session.execute(
        update(Subscription)
        .where(Subscription.created_at < cutoff,
               Subscription.request_ip.is_not(None) | Subscription.request_user_agent.is_not(None))
        .values(request_ip=None, request_user_agent=None)
        .execution_options(synchronize_session=False)).rowcount or 0
    return events + requests


def closed_requests(session: Session, now: datetime, config: Mapping) -> int:
    """Delete access and erasure requests closed long ago; their audit rows stay."""
    cutoff = _cutoff(now, config, "NEWSLETTER_RETAIN_CLOSED_REQUEST_DAYS")
    if cutoff is None:
        return 0
    return session.execute(
        delete(PrivacyRequest)
        .where(PrivacyRequest.status.in_(CLOSED),
               func.coalesce(PrivacyRequest.completed_at, PrivacyRequest.created_at) < cutoff)
        .execution_options(synchronize_session=False)).rowcount or 0


def unconfirmed_signups(session: Session, now: datetime, config: Mapping) -> int:
    """Sign-ups nobody confirmed (subscriptions.purge_unconfirmed)."""
    return subscriptions.purge_unconfirmed(
        session, now=now, max_age_days=config["NEWSLETTER_PENDING_PURGE_DAYS"])


def inbound_raw(session: Session, now: datetime, config: Mapping) -> int:
    """The bytes of old inbound mail (inbox.purge_raw)."""
    return inbox.purge_raw(session, now, config["NEWSLETTER_INBOUND_KEEP_DAYS"])


PERIODS: tuple[tuple[str, Callable[[Session, datetime, Mapping], int]], ...] = (
    ("unconfirmed_signups", unconfirmed_signups),
    ("inbound_raw", inbound_raw),
    ("sent_mail", sent_mail),
    ("delivery_details", delivery_details),
    # Before the consent and request periods: erasure reads and redacts those rows itself.
    ("departed_people", departed_people),
    ("consent_network", consent_network),
    ("closed_requests", closed_requests),
)


def run(session: Session, now: datetime, config: Mapping) -> dict[str, int]:
    """One pass over every period; returns what each removed; audited when anything was."""
    removed = {}
    for name, period in PERIODS:
        removed[name] = period(session, now, config)
        session.flush()
    if any(removed.values()):
        audit.record(session, actor=ACTOR, action=ACTION, subject_type="retention",
                     subject_id=None, now=now, detail={"removed": removed})
    return removed
