"""THE rule "which rows are about this person", shared by export.py and erasure.py.

A data subject is known by an address. Rows are about them when they name their subscriber row
(the live one and the tombstones of earlier erasures: a late bounce may name one), sit under the
keyed hash of the address (privacy requests, suppression), or carry the address (mail to or from
it, audit details that quote it).

Export and erasure differ on purpose in one place, mail in the reply mailbox: a human reply from
another address that carries the person's token (a forwarded newsletter) is the other person's
mail, so export leaves it out (it would disclose someone else), while erasure scrubs it (it quotes
the person's newsletter). Erasure also scrubs any stored mail whose bytes quote the address.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy import Text, cast, func, or_, select
from sqlalchemy.orm import Session

from newsletter.models import (
    AuditEvent,
    InboundMessage,
    OutboundMail,
    PrivacyRequest,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.subscribers import suppression

# Machine reports about a person: they carry the person's token, not the person's From.
REPORT_VERDICTS = ("bounce_hard", "bounce_soft", "complaint")


@dataclass
class Subject:
    """Who a request is about: the normalised address, its keyed hash, their subscriber rows."""

    email: str
    digest: str
    live: Subscriber | None
    ids: list[int]

    @property
    def name(self) -> str:
        """The name they gave, if we know them."""
        return self.live.name if self.live is not None else ""


def find(session: Session, email: str, config: Mapping) -> Subject:
    """The subject an address names (known or not: the answer has the same shape)."""
    email = email.strip().lower()
    digest = suppression.email_hash(config["NEWSLETTER_SUPPRESSION_KEY"], email)
    live = session.scalar(select(Subscriber).where(func.lower(Subscriber.email) == email))
    ids = set(session.scalars(select(Subscriber.id).where(
        Subscriber.email_hash == digest, Subscriber.status == SubscriberStatus.erased)))
    if live is not None:
        ids.add(live.id)
    return Subject(email, digest, live, sorted(ids))


def subscriber_rows(column, subject: Subject):
    """Rows that point at one of the subject's subscriber rows."""
    return column.in_(subject.ids)


def privacy_requests(subject: Subject):
    return PrivacyRequest.email_hash == subject.digest


def suppressions(subject: Subject):
    return Suppression.email_hash == subject.digest


def inbound(session: Session, subject: Subject, *, erasure: bool):
    """Mail they sent, reports about them; for erasure also mail carrying their token or address."""
    clauses = [func.lower(InboundMessage.sender) == subject.email,
               InboundMessage.subscriber_id.in_(subject.ids)
               & InboundMessage.verdict.in_(REPORT_VERDICTS)]
    if erasure:
        clauses += [InboundMessage.subscriber_id.in_(subject.ids),
                    quotes(session, InboundMessage.raw, subject.email)]
    return or_(*clauses)


def outbound(session: Session, subject: Subject, *, erasure: bool):
    """Transactional mail to them; for erasure also any stored mail quoting the address."""
    clauses = [func.lower(OutboundMail.to_address) == subject.email]
    if erasure:
        clauses.append(quotes(session, OutboundMail.raw, subject.email))
    return or_(*clauses)


def audit_events(subject: Subject, request_ids: list[int]):
    """Audit rows about their subscriber rows, requests or suppression, or quoting the address.

    The text search reads the whole audit table once per request; requests are rare.
    """
    return or_(
        (AuditEvent.subject_type == "subscriber")
        & AuditEvent.subject_id.in_([str(i) for i in subject.ids]),
        (AuditEvent.subject_type == "privacy_request")
        & AuditEvent.subject_id.in_([str(i) for i in request_ids]),
        (AuditEvent.subject_type.in_(["suppression", "email_hash"]))
        & (AuditEvent.subject_id == subject.digest[:16]),
        func.lower(cast(AuditEvent.detail, Text)).contains(subject.email, autoescape=True),
        func.lower(AuditEvent.note).contains(subject.email, autoescape=True),
    )


def quotes(session: Session, column, email: str):
    """A bytes column contains the address, in any case, on either database.

    This reads every stored message once per request: requests are rare and raw mail is purged
    after its retention period.
    """
    if session.get_bind().dialect.name == "postgresql":
        # encode(..., 'escape') turns any byte string into text (non-ASCII as \\ooo).
        text = func.lower(func.encode(column, "escape"))
    else:
        text = func.lower(cast(column, Text))
    return text.contains(email, autoescape=True)
