"""One person's history on one timeline, newest first: copies of campaigns (subject, status),
bounces, complaints, replies and other inbound mail, consent events (with the policy version in
force), privacy requests. Read from the records kept anyway; nothing here writes.

Bounded: a page of PAGE entries, at most MAX_PAGES pages back. Each source is read newest first
with a LIMIT of what the page needs (page x PAGE rows), then the sources are merged, so a
person with a long history costs a few indexed range reads, never the whole history
(deliveries by ix_delivery_subscriber_sent, bounces by ix_bounce_event_subscriber_at, inbound
by ix_inbound_message_subscriber_verdict, consent by its subscriber_id index).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from newsletter.inbound import wording
from newsletter.models import (
    BounceEvent,
    Campaign,
    ConsentEvent,
    Delivery,
    InboundMessage,
    PolicyVersion,
    PrivacyRequest,
    Subscriber,
)

PAGE = 50
MAX_PAGES = 20
# Bounce reports are shown from BounceEvent (one row per failure, with its decision); the
# inbound row of the same report would show it twice.
_REPORTS = ("bounce_hard", "bounce_soft")


@dataclass(frozen=True)
class Entry:
    """One line of the timeline."""

    at: datetime
    kind: str  # delivery | bounce | complaint | inbound | consent | privacy
    what: str  # the line itself
    status: str = ""  # the state word shown as a badge
    detail: str = ""  # what a person checking it needs next (diagnostic, wording, policy)


@dataclass
class Timeline:
    """One page of entries, and whether there is an older page."""

    entries: list[Entry]
    page: int
    older: bool


def for_subscriber(session: Session, subscriber: Subscriber, page: int = 1) -> Timeline:
    """The page-th page (1: newest) of the person's timeline."""
    page = min(max(page, 1), MAX_PAGES)
    need = page * PAGE + 1  # one more than the page's end: is there an older page?
    # At the same moment a consequence is listed above its cause (newest first reads down in
    # time): a consent withdrawn above the reply that asked, a bounce above its copy.
    sources = (_privacy_requests, _consents, _inbound, _bounces, _deliveries)
    merged = heapq.merge(*(source(session, subscriber, need) for source in sources),
                         key=lambda entry: entry.at, reverse=True)
    entries = [entry for _, entry in zip(range(need), merged, strict=False)]
    start = (page - 1) * PAGE
    return Timeline(entries[start:start + PAGE], page,
                    len(entries) > start + PAGE and page < MAX_PAGES)


def _deliveries(session: Session, subscriber: Subscriber, limit: int) -> Iterator[Entry]:
    # Unsent copies have no sent_at: their last try, or when the campaign started, orders them.
    at = func.coalesce(Delivery.sent_at, Delivery.next_attempt_at, Campaign.started_at,
                       Campaign.created_at)
    rows = session.execute(
        select(at.label("at"), Campaign.subject, Delivery.status, Delivery.smtp_response,
               Delivery.attempts)
        .join(Campaign, Campaign.id == Delivery.campaign_id)
        .where(Delivery.subscriber_id == subscriber.id)
        .order_by(at.desc(), Delivery.id.desc()).limit(limit))
    for row in rows:
        detail = row.smtp_response or ""
        if row.attempts > 1:
            detail = f"{row.attempts} attempts. {detail}".strip()
        yield Entry(row.at, "delivery", f"Campaign “{row.subject}”", row.status.value, detail)


def _bounces(session: Session, subscriber: Subscriber, limit: int) -> Iterator[Entry]:
    rows = session.execute(
        select(BounceEvent, Campaign.subject)
        .outerjoin(Campaign, Campaign.id == BounceEvent.campaign_id)
        .where(BounceEvent.subscriber_id == subscriber.id)
        .order_by(BounceEvent.occurred_at.desc(), BounceEvent.id.desc()).limit(limit))
    for event, subject in rows:
        what = f"Bounce ({event.source})" + (f" of “{subject}”" if subject else "")
        counted = "counted" if event.counted else "not counted"
        yield Entry(event.occurred_at, "bounce", what, event.decision.value,
                    f"{event.status or '-'}, {counted}. {event.detail}".strip())


def _inbound(session: Session, subscriber: Subscriber, limit: int) -> Iterator[Entry]:
    rows = session.scalars(
        select(InboundMessage)
        .where(InboundMessage.subscriber_id == subscriber.id,
               InboundMessage.verdict.not_in(_REPORTS))
        .order_by(InboundMessage.received_at.desc(), InboundMessage.id.desc()).limit(limit))
    for message in rows:
        verdict = message.human_verdict or message.verdict
        if verdict == "complaint":
            yield Entry(message.received_at, "complaint", "Marked a message as spam",
                        "complaint", wording.describe(message.action))
        else:
            what = f"Mail from them: “{message.subject}”" if message.subject else "Mail from them"
            yield Entry(message.received_at, "inbound", what, verdict.replace("_", " "),
                        wording.describe(message.action))


def _consents(session: Session, subscriber: Subscriber, limit: int) -> Iterator[Entry]:
    rows = session.execute(
        select(ConsentEvent, PolicyVersion.version)
        .outerjoin(PolicyVersion, PolicyVersion.id == ConsentEvent.policy_version_id)
        .where(ConsentEvent.subscriber_id == subscriber.id)
        .order_by(ConsentEvent.at.desc(), ConsentEvent.id.desc()).limit(limit))
    for event, version in rows:
        detail = f"policy {version}" if version else "no policy version"
        where = ", ".join(part for part in (event.ip, event.user_agent) if part)
        detail += (f"; from {where}" if where else "") + (
            f"; shown: {event.wording}" if event.wording else "")
        yield Entry(event.at, "consent", f"Consent {event.purpose} ({event.method.value})",
                    "granted" if event.granted else "withdrawn", detail)


def _privacy_requests(session: Session, subscriber: Subscriber, limit: int) -> Iterator[Entry]:
    about = PrivacyRequest.subscriber_id == subscriber.id
    if subscriber.email_hash:
        about = or_(about, PrivacyRequest.email_hash == subscriber.email_hash)
    rows = session.scalars(select(PrivacyRequest).where(about)
                           .order_by(PrivacyRequest.created_at.desc(), PrivacyRequest.id.desc())
                           .limit(limit))
    for request in rows:
        done = f"; closed {request.completed_at:%Y-%m-%d}" if request.completed_at else ""
        yield Entry(request.created_at, "privacy",
                    f"{request.kind.value.title()} request #{request.id} ({request.source})",
                    request.status.value, f"due {request.due_at:%Y-%m-%d}{done}")
