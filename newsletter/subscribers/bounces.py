"""The bounce policy: what a failed delivery says about an address, and what we do about it.

One definition for both places a failure is learnt: the SMTP reply the delivery worker gets
(sending/worker.py) and the delivery status notification that reaches the reply mailbox
(inbound/handle.py). `decide()` reads an enhanced status code (RFC 3463) first and the words
of the reply when the code is generic (sisimai's reason tables are the model:
lib/sisimai/reason/*.rb); `record()` applies the decision to the subscriber. Mailman 3's
BounceEvent and bounce_score are the model (src/mailman/app/bounces.py, model/bounce.py): a
bounce stops mail to an address, but it is not the person withdrawing consent, so it writes a
BounceEvent and an AuditEvent, never a ConsentEvent, and leaves the subscriptions as they are.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, or_, update
from sqlalchemy.orm import Session

from newsletter.models import (
    BounceDecision,
    BounceEvent,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
)
from newsletter.privacy import audit
from newsletter.subscribers import suppression

Decision = BounceDecision
DETAIL_LIMIT = 500  # characters of the reply or diagnostic kept with a BounceEvent

# RFC 3463 section 3: the subject and detail of an enhanced status code (without its class)
# -> decision. The most specific row wins; None means the code alone does not say, and the
# words of the reply decide (see PHRASES below). The class decides only between 4 (the sender
# may retry) and 5 (it gave up); a 4.x.x can never be hard.
STATUS_TABLE: tuple[tuple[str, Decision | None], ...] = (
    ("1.1", Decision.hard),  # X.1.1 Bad destination mailbox address
    ("1.2", Decision.hard),  # X.1.2 Bad destination system address (no such host)
    ("1.3", Decision.hard),  # X.1.3 Bad destination mailbox address syntax
    ("1.6", Decision.hard),  # X.1.6 Destination mailbox has moved, no forwarding address
    ("1.10", Decision.hard),  # X.1.10 Recipient address has null MX (RFC 7505)
    ("1.7", Decision.not_recipient),  # X.1.7 Bad sender's mailbox address syntax: OUR sender
    ("1.8", Decision.not_recipient),  # X.1.8 Bad sender's system address: OUR domain
    ("1.", None),  # X.1.0 other address status, X.1.4 ambiguous, X.1.5 valid: read the words
    ("2.1", None),  # X.2.1 Mailbox disabled: some MTAs say "user unknown" with it
    ("2.", Decision.soft),  # X.2.x Mailbox status: full (X.2.2), too big for it (X.2.3)
    ("3.0", None),  # X.3.0 Other mail system status: "553 5.3.0 Address does not exist"
    ("3.", Decision.not_recipient),  # X.3.x Mail system status: the receiving system
    ("4.4", None),  # X.4.4 Unable to route: "host or domain name not found" is hard (sisimai)
    ("4.", Decision.not_recipient),  # X.4.x Network and routing status
    ("5.0", None),  # X.5.0 Other protocol status: often "mailbox unavailable", read the words
    ("5.", Decision.not_recipient),  # X.5.x Mail delivery protocol status: our client
    ("6.", Decision.not_recipient),  # X.6.x Message content or media status: our message
    # X.7.x Security or policy status: content, reputation; but sisimai reads the words first,
    # and "550 5.7.1 No mailbox found" is an unknown user (below: no word -> not_recipient).
    ("7.", None),
    ("0.", None),  # X.0.0 Other undefined status: read the words
)
# SMTP reply codes that say something whatever the status (RFC 5321 section 4.2.3).
REPLY_TABLE: dict[int, Decision] = {
    421: Decision.not_recipient,  # service not available, closing the channel: the server
}

# Phrases in a reply or diagnostic (lower-case substrings), from sisimai's reason tables.
# The mailbox exists but cannot take mail now (sisimai mailboxfull, suspend): soft.
MAILBOX_PHRASES = (
    "mailbox full", "mailbox is full", "full mailbox", "quota", "over quota", "exceeded storage",
    "insufficient storage", "disabled", "suspended", "inactive", "deactivated",
)
# About our message, our sender, the receiving system or the network (sisimai mesgtoobig,
# blocked, spamdetected, policyviolation, expired, toomanyconn, rejected): not the recipient.
NOT_RECIPIENT_PHRASES = (
    "sender address rejected", "too large", "too big", "size limit", "message size", "spam",
    "blocked", "blacklist", "blocklist", "policy", "reputation", "dmarc", "spf", "dkim",
    "not authorized", "relay", "relaying denied", "try again later", "temporarily",
    "deferred", "delayed", "timeout", "timed out", "too many", "rate limit", "virus",
    "content rejected", "rejected for policy", "ptr", "reverse dns", "greylist", "greylisted",
    "retry timeout exceeded", "unable to deliver for", "could not be delivered for",
)
# No such mailbox or host (sisimai userunknown, hostunknown, hasmoved): hard.
HARD_PHRASES = (
    "user unknown", "unknown user", "no such user", "no such mailbox", "no such recipient",
    "no such person", "unknown recipient", "recipient unknown",
    "mailbox not found", "mailbox does not exist", "does not exist", "doesn't exist",
    "no mailbox found", "mail-box not found", "not listed in domino directory",
    "nonexistent user", "no mail box available", "bad_recipient", "not an active address",
    "no account by that name",
    "not a valid mailbox", "invalid recipient", "invalid mailbox",
    "recipient address rejected: user unknown", "recipient address rejected: unknown user",
    "unknown address", "unknown or illegal alias", "is not a known user",
    "account does not exist", "no mailbox here", "not our customer", "user doesn't have",
    "recipient not found", "address unknown", "unrouteable address", "host unknown",
    "host not found", "domain not found", "no mx record", "name or service not known",
    "domain does not exist", "nxdomain", "unknown host", "has moved", "no longer available",
    "no valid recipients", "bad destination mailbox", "unknown local part",
    "this user doesn't have a", "unknown mailbox", "no such domain", "not listed in public name",
    "invalid user address", "recipient address rejected: access denied",
    "host or domain name not found", "domain name not found",
)
# Not in HARD_PHRASES although they sound like it (sisimai's reason tables): "user not found"
# and RFC 5321's "mailbox unavailable" are "filtered" there, "name service error" alone is a
# DNS fault ("networkerror"), and Gmail's "delivery to the following recipient failed
# permanently" heads every kind of failure.
PHRASES = MAILBOX_PHRASES + NOT_RECIPIENT_PHRASES + HARD_PHRASES
# Words that overrule a "hard" status code (sisimai mailboxfull, suspend, mesgtoobig).
NOT_THE_ADDRESS = MAILBOX_PHRASES[:5] + ("suspended", "message size exceeded", "too large",
                                         "too big")
# The failure came after the message body, not at RCPT TO (Postfix, m-FILTER, Exim wording):
# the server accepted the address and refused only the content (sisimai: "filtered").
AFTER_DATA = re.compile(r"in reply to (?:end of )?data command|smtp command:? data\b|"
                        r"after end of data", re.IGNORECASE)
# An enhanced status code at the start of an SMTP reply's text (RFC 2034 section 4).
LEADING_STATUS = re.compile(r"^\s*([245]\.\d{1,3}\.\d{1,3})(?![\d.])")


@dataclass(frozen=True)
class Judgement:
    """A decision and the reason for it, in words."""

    decision: Decision
    why: str


def decide(status: str | None, reply_code: int | None, diagnostic: str,
           action: str | None) -> Decision:
    """What a failure says about the address: hard, soft, not_recipient or delayed.

    >>> decide("5.1.1", 550, "5.1.1 <a@example.net>: Recipient address rejected", "failed")
    <BounceDecision.hard: 'hard'>
    >>> decide("5.1.8", 553, "5.1.8 Sender address rejected: Domain not found", None)
    <BounceDecision.not_recipient: 'not_recipient'>
    >>> decide("5.2.2", 552, "Mailbox full", None), decide("4.2.2", 452, "over quota", None)
    (<BounceDecision.soft: 'soft'>, <BounceDecision.soft: 'soft'>)
    >>> decide(None, 421, "Service not available, closing transmission channel", None)
    <BounceDecision.not_recipient: 'not_recipient'>
    >>> decide(None, 421, "Too much mail for over quota users, closing channel", None)
    <BounceDecision.not_recipient: 'not_recipient'>
    >>> decide(None, 550, "No such user here", None)
    <BounceDecision.hard: 'hard'>
    >>> decide("4.4.1", None, "Connection timed out", "delayed")
    <BounceDecision.delayed: 'delayed'>
    """
    return judge(status, reply_code, diagnostic, action).decision


def judge(status: str | None, reply_code: int | None, diagnostic: str,
          action: str | None) -> Judgement:
    """`decide()` with the reason, for the record."""
    if (action or "").strip().lower() == "delayed":
        # RFC 3464 2.3.3: the MTA is still trying. A warning, never a failure.
        return Judgement(Decision.delayed, "delivery delayed: the server is still trying")
    if reply_code in REPLY_TABLE:
        return Judgement(REPLY_TABLE[reply_code], f"reply {reply_code}: the receiving server")
    text = " ".join((diagnostic or "").lower().split())
    temporary = (status or "").startswith("4") or (not status and 400 <= (reply_code or 0) < 500)
    by_status = _from_status(status, text) if status else None
    # X.4.4 and X.7.x are read for their words, but with none the code stands: not the address.
    routing_or_policy = (status or "").split(".")[1:2] in (["4"], ["7"])
    judgement = by_status or _from_words(text, temporary or routing_or_policy)
    if temporary and judgement.decision is Decision.hard:
        # 4.1.1 and "450 mailbox unavailable": the server may know better tomorrow.
        return Judgement(Decision.soft, judgement.why + ", but temporary")
    return judgement


def _from_status(status: str, text: str) -> Judgement | None:
    subject_detail = status.split(".", 1)[1] if "." in status else ""
    decision = next((d for key, d in STATUS_TABLE
                     if subject_detail == key or (key.endswith(".") and
                                                  subject_detail.startswith(key))), None)
    if decision is None:
        return None
    if decision is Decision.hard:
        full = next((p for p in NOT_THE_ADDRESS if p in text), None)
        if full:  # 5.1.1 "mailbox full" or "[SUSPEND]": MTAs that use one code for all refusals
            return Judgement(Decision.soft, f"status {status} but the text says {full!r}")
        return Judgement(decision, f"status {status}: the address or its domain does not exist")
    meaning = {Decision.soft: "is about the mailbox",
               Decision.not_recipient: "is about our message, our sender, a system or the network"}
    return Judgement(decision, f"status {status} {meaning[decision]}")


def _from_words(text: str, temporary: bool) -> Judgement:
    mailbox = next((p for p in MAILBOX_PHRASES if p in text), None)
    if mailbox:
        return Judgement(Decision.soft, f"diagnostic says {mailbox!r}")
    ours = next((p for p in NOT_RECIPIENT_PHRASES if p in text), None)
    if ours:
        return Judgement(Decision.not_recipient, f"diagnostic says {ours!r}")
    hard = next((p for p in HARD_PHRASES if p in text), None)
    if hard and AFTER_DATA.search(text):
        return Judgement(Decision.not_recipient,
                         f"diagnostic says {hard!r}, but after DATA: the address was accepted")
    if hard:
        return Judgement(Decision.hard, f"diagnostic says {hard!r}")
    if temporary:
        return Judgement(Decision.not_recipient, "temporary, routing or policy failure with no "
                                                 "word on the mailbox")
    return Judgement(Decision.soft, "no sign that the address cannot exist")


def smtp_status(reply: str) -> str | None:
    """The enhanced status code an SMTP reply's text starts with, if any.

    >>> smtp_status("5.1.1 <a@example.net>: no such user"), smtp_status("closing")
    ('5.1.1', None)
    """
    match = LEADING_STATUS.match(reply or "")
    return match.group(1) if match else None


# --- applying a decision ----------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What `record()` did: the event, whether it counted, and whether mail to it stopped."""

    event: BounceEvent
    counted: bool
    suppressed: bool
    score: int

    @property
    def summary(self) -> str:
        """A short account for InboundMessage.action and logs (at most 64 characters)."""
        decision = self.event.decision.value
        if self.suppressed:
            return f"bounce-{decision}: suppressed"
        if self.counted:
            return f"bounce-{decision}: counted, score {self.score}"
        if self.event.decision is Decision.soft:
            return f"bounce-{decision}: already counted today, score {self.score}"
        return f"bounce-{decision}: recorded"


def record(session: Session, subscriber: Subscriber, decision: Decision, *, source: str,
           status: str | None, detail: str, campaign_id: int | None, now: datetime,
           config: Mapping) -> Applied:
    """Record one bounce of `subscriber` and apply the policy; flushes, the caller commits."""
    event = BounceEvent(subscriber_id=subscriber.id, occurred_at=now, decision=decision,
                        status=(status or None) and status[:16], source=source,
                        campaign_id=campaign_id, detail=(detail or "")[:DETAIL_LIMIT],
                        counted=False)
    session.add(event)
    if decision is Decision.hard:
        event.counted = True
        _step_mark(session, subscriber, now)
        _step_suppress(session, subscriber, event, config, now, why=f"hard bounce {status or ''}")
        return Applied(event, True, True, subscriber.bounce_score)
    if decision is not Decision.soft:
        session.flush()  # delayed and not_recipient: kept for the record, nothing changes
        return Applied(event, False, False, subscriber.bounce_score)
    score = _step_count(session, subscriber, config, now)
    if score is None:  # a soft bounce was counted today already
        session.flush()
        return Applied(event, False, False, subscriber.bounce_score)
    event.counted = True
    limit = int(config.get("NEWSLETTER_SOFT_BOUNCE_LIMIT", 5))
    if score >= limit:
        _step_suppress(session, subscriber, event, config, now,
                       why=f"{score} soft bounces on different days (limit {limit})")
        return Applied(event, True, True, score)
    _audit(session, subscriber, event, now, "subscriber.bounce_counted", score=score)
    session.flush()
    return Applied(event, True, False, score)


def _step_mark(session: Session, subscriber: Subscriber, now: datetime) -> None:
    session.execute(update(Subscriber).where(Subscriber.id == subscriber.id)
                    .values(last_bounce_at=now).execution_options(synchronize_session=False))
    session.expire(subscriber, ["last_bounce_at"])


def _step_count(session: Session, subscriber: Subscriber, config: Mapping,
                now: datetime) -> int | None:
    """Count a soft bounce unless one was counted on the same UTC day; the new score or None.

    One conditional UPDATE, so two workers or pollers recording bounces of one address at the
    same moment count it once: the second finds last_bounce_at already in today.
    """
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    window = timedelta(days=int(config.get("NEWSLETTER_SOFT_BOUNCE_WINDOW_DAYS", 30)))
    quiet = or_(Subscriber.last_bounce_at.is_(None), Subscriber.last_bounce_at < now - window)
    score = session.execute(
        update(Subscriber)
        .where(Subscriber.id == subscriber.id,
               or_(Subscriber.last_bounce_at.is_(None), Subscriber.last_bounce_at < day_start))
        # After a quiet period as long as the window the count starts again (Mailman:
        # bounce_info_stale_after).
        .values(bounce_score=case((quiet, 1), else_=Subscriber.bounce_score + 1),
                last_bounce_at=now)
        .returning(Subscriber.bounce_score)
        .execution_options(synchronize_session=False)
    ).scalar()
    session.expire(subscriber, ["bounce_score", "last_bounce_at"])
    return score


def _step_suppress(session: Session, subscriber: Subscriber, event: BounceEvent,
                   config: Mapping, now: datetime, why: str) -> None:
    suppression.suppress(session, config["NEWSLETTER_SUPPRESSION_KEY"], subscriber.email,
                         SuppressionReason.bounce, now, note=why)
    was = subscriber.status
    if was in (SubscriberStatus.active, SubscriberStatus.pending):
        # Eligibility requires an active subscriber and no suppression, so mail stops; the
        # subscriptions stay as they are (the person did not leave).
        subscriber.status = SubscriberStatus.bounced
    _audit(session, subscriber, event, now, "subscriber.bounced", was=was.value,
           score=subscriber.bounce_score, note=why)
    session.flush()


def _audit(session: Session, subscriber: Subscriber, event: BounceEvent, now: datetime,
           action: str, note: str | None = None, **detail) -> None:
    audit.record(session, actor="system", action=action, subject_type="subscriber",
                 subject_id=subscriber.id, now=now, note=note,
                 detail={"decision": event.decision.value, "status": event.status,
                         "source": event.source, "campaign_id": event.campaign_id, **detail})
