"""A sending service's event (SES, Postmark, SendGrid, Mailgun) becomes an inbound verdict.

Providers (providers/*.py) check the signature and turn their payload into `ProviderEvent`s;
here each becomes the same `Verdict` a mail in the reply mailbox would get, the bounce judged
by the one bounce policy (subscribers/bounces.py `judge`), and goes through the same handling
(inbound/handle.py `handle`): recorded as an InboundMessage keyed "<provider>:<event id>", so
a redelivered event changes nothing. Whom it concerns is found only from what proves that we
sent the mail: our VERP token in the envelope sender or returned headers, or the keyed
Message-ID of a campaign copy (links.delivery_message_id) checked against the subscriber the
event names. The address alone acts on nobody, as with a bounce by mail.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter import links
from newsletter.inbound import handle
from newsletter.inbound.classify import TOKEN_RE, Kind, Verdict
from newsletter.models import Campaign
from newsletter.subscribers import bounces, subscriptions
from newsletter.subscribers.addresses import InvalidEmail
from newsletter.subscribers.bounces import Decision

# "<32 hex>.<campaign id>@<our mail domain>": the shape of links.delivery_message_id.
DELIVERY_MESSAGE_ID = re.compile(r"<?([0-9a-f]{32})\.(\d{1,10})@([^>\s]+)>?")
# "smtp; 550 5.1.1 <a@b>: user unknown": the reply code and enhanced status in a diagnostic.
DIAGNOSTIC = re.compile(r"^\s*(?:smtp\s*;\s*)?(?:([245]\d\d)[\s-]+)?(?:([245]\.\d{1,3}\.\d{1,3})\b)?",
                        re.IGNORECASE)


class Refused(Exception):
    """The request is not from the configured sending service (signature, secret, age, replay)."""


class Malformed(Exception):
    """A verified request whose body we cannot read."""


class Unreachable(Exception):
    """A verified request needs a call back to the service, and that call failed."""


class EventKind(enum.Enum):
    """What a provider event tells us."""

    bounce = "bounce"  # a failed or delayed delivery: the bounce policy decides what it means
    complaint = "complaint"  # the recipient marked it as spam
    unsubscribe = "unsubscribe"  # the recipient used the service's unsubscribe link
    other = "other"  # delivered, opened, ...: not ours to act on, not recorded


@dataclass
class ProviderEvent:
    """One event of a sending service, as far as we need it."""

    provider: str
    event_id: str
    kind: EventKind
    name: str  # the provider's own name for it ("Bounce/Permanent", "bounce", "failed", ...)
    recipient: str = ""
    status: str | None = None  # enhanced status code, when given
    reply_code: int | None = None
    diagnostic: str = ""
    action: str | None = None  # "failed" or "delayed" (RFC 3464 words)
    message_ids: list[str] = field(default_factory=list)  # Message-IDs of the mail it is about
    carriers: list[str] = field(default_factory=list)  # text that may hold our VERP token
    feedback_type: str | None = None
    raw: dict = field(default_factory=dict)


@dataclass
class Summary:
    """What one request did."""

    handled: int = 0
    duplicates: int = 0
    ignored: int = 0

    def as_dict(self) -> dict:
        """For the JSON answer."""
        return {"handled": self.handled, "duplicates": self.duplicates, "ignored": self.ignored}


def read_diagnostic(text: str) -> tuple[int | None, str | None]:
    """Reply code and enhanced status at the start of a diagnostic, when there.

    >>> read_diagnostic("smtp; 550 5.1.1 <a@example.net>: Recipient address rejected")
    (550, '5.1.1')
    >>> read_diagnostic("smtp;550 No such user"), read_diagnostic("mailbox full")
    ((550, None), (None, None))
    """
    match = DIAGNOSTIC.match(text or "")
    code, status = (match.group(1), match.group(2)) if match else (None, None)
    return (int(code) if code else None), status


def accept(session: Session, events: list[ProviderEvent], *, config: Mapping,
           now: datetime) -> Summary:
    """Handle verified events, committing after each (a unit of work, like a polled message).

    handle() rolls the transaction back when another request recorded the same event a moment
    earlier; committing per event keeps that from undoing the others of a batch (SendGrid).
    """
    summary = Summary()
    for event in events:
        if event.kind is EventKind.other or not event.event_id:
            summary.ignored += 1
            continue
        outcome = receive(session, event, config=config, now=now)
        session.commit()
        if outcome.duplicate:
            summary.duplicates += 1
        else:
            summary.handled += 1
    return summary


def receive(session: Session, event: ProviderEvent, *, config: Mapping,
            now: datetime) -> handle.Outcome:
    """One event through inbound/handle.py, as a mail with the same verdict would go."""
    verdict = to_verdict(event)
    who = None if verdict.tokens else by_message_id(session, event, config)
    if who is not None:
        verdict.reasons.append(f"matched by our Message-ID {who_message_id(event)}")
    raw = json.dumps(event.raw, sort_keys=True, default=str).encode()
    return handle.handle(session, raw, verdict, config=config, now=now, who=who, source="webhook")


def to_verdict(event: ProviderEvent) -> Verdict:
    """The verdict the mailbox would give the same news."""
    key = f"{event.provider}:{event.event_id}"[:255]
    # The digest the mailbox takes from a message's bytes is taken from the event id here: a
    # provider sending the same event again, however its JSON is laid out, is a duplicate.
    verdict = Verdict(message_key=key, digest=hashlib.sha256(key.encode()).hexdigest(),
                      subject=f"{event.provider} {event.name}"[:200],
                      failed_recipient=event.recipient or None)
    verdict.reasons.append(f"{event.provider} webhook event {event.name} {event.event_id}")
    verdict.tokens = _tokens(event.carriers)
    if event.kind is EventKind.complaint:
        verdict.kind = Kind.complaint
        verdict.feedback_type = (event.feedback_type or "abuse").lower()
    elif event.kind is EventKind.unsubscribe:
        verdict.kind = Kind.unsubscribe
    else:
        code, status = read_diagnostic(event.diagnostic)
        verdict.status = event.status or status
        judgement = bounces.judge(verdict.status, event.reply_code or code, event.diagnostic,
                                  event.action)
        verdict.kind = Kind.bounce_hard if judgement.decision is Decision.hard else Kind.bounce_soft
        verdict.bounce = judgement.decision.value
        verdict.policy = bool(verdict.status and verdict.status.startswith("5.7."))
        verdict.reasons.append(f"{judgement.why}: {event.diagnostic[:200]}")
    return verdict


def _tokens(carriers: list[str]) -> list[str]:
    found: list[str] = []
    for text in carriers:
        for _kind, token in TOKEN_RE.findall(text or ""):
            if token not in found:
                found.append(token)
    return found


def who_message_id(event: ProviderEvent) -> str:
    """The first Message-ID of ours the event names, or ''."""
    return next((m for m in event.message_ids if DELIVERY_MESSAGE_ID.fullmatch(m.strip())), "")


def by_message_id(session: Session, event: ProviderEvent, config: Mapping) -> handle.Who | None:
    """The subscriber whose campaign copy this was, proven by our keyed Message-ID.

    The event's recipient address only says which subscriber to test: the Message-ID of
    (campaign, subscriber) is an HMAC with our secret, so it matches that subscriber only if
    we sent them that copy.
    """
    message_id = who_message_id(event)
    if not message_id or not event.recipient:
        return None
    campaign_id = int(DELIVERY_MESSAGE_ID.fullmatch(message_id.strip()).group(2))
    try:
        subscriber = subscriptions.find_subscriber(
            session, subscriptions.normalise_email(event.recipient))
    except (InvalidEmail, ValueError):
        return None
    if subscriber is None:
        return None
    expected = links.delivery_message_id(config, campaign_id, subscriber.id)
    if not hmac.compare_digest(expected, "<" + message_id.strip().strip("<>") + ">"):
        return None
    if session.get(Campaign, campaign_id) is None:
        return None
    return handle.Who(subscriber, by="message-id", token_kind="bounce", campaign_id=campaign_id)
