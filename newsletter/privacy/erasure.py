"""Erasure: remove every personal trace of an address, keep only keyed hashes (GDPR art. 17).

`erase()` runs as named steps in the caller's transaction. The subscriber row stays as an
anonymous tombstone (status `erased`, a placeholder address, `email_hash` set) so that consent
events and bounce counts still point at *someone* identified only by the keyed hash; the address
goes onto the suppression list as that hash (reason `erasure`), so no import or admin add mails
it again. The person's own later double opt-in lifts it (subscribers/confirmation.py).

Which rows are about the person is subject.py's rule (shared with export.py). Text columns are
redacted, not emptied, where the rest still matters (an SMTP reply, an audit note); raw mail is
dropped whole. A last mail confirms the erasure (not when retention erases); its stored bytes
are dropped once it is sent (mailer.FORGET_ONCE_SENT).

Erasing twice is a no-op: a second run that finds nothing left to scrub changes nothing, mails
nothing and writes no audit row. A run that does find something (a late bounce for the tombstone)
scrubs it and is audited again.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsletter.i18n import in_language
from newsletter.integrations import webhooks
from newsletter.models import (
    AuditEvent,
    BounceEvent,
    ConsentEvent,
    ConsentMethod,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestStatus,
    Subscriber,
    SubscriberStatus,
    SubscriptionStatus,
    SuppressionReason,
    WebhookDelivery,
)
from newsletter.privacy import audit, consent, data_requests, subject
from newsletter.sending import mailer
from newsletter.subscribers import suppression

ERASED = "[erased]"
ERASED_DOMAIN = "erased.invalid"  # RFC 2606: can never be a real mailbox
MAIL_KIND = mailer.ERASURE_CONFIRMATION
ACTION = "privacy.erase"


@dataclass
class ErasureOutcome:
    """What erase() found and changed; `noop` when the address was already erased."""

    email_hash: str
    changed: dict[str, int] = field(default_factory=dict)
    requests: list[int] = field(default_factory=list)
    redacted_audit_rows: list[int] = field(default_factory=list)
    mail: OutboundMail | None = None
    noop: bool = False


class Redactor:
    """Replaces the address and the name, in any case, inside text and JSON values.

    >>> Redactor("ann@example.org", "Ann Lee").text("550 <ANN@example.org>: Ann Lee unknown")
    '550 <[erased]>: [erased] unknown'
    """

    def __init__(self, email: str, name: str = ""):
        patterns = [re.escape(email)]
        if name.strip():
            # Whole words only: a short name must not eat the middle of other words.
            patterns.append(rf"(?<!\w){re.escape(name.strip())}(?!\w)")
        self._pattern = re.compile("|".join(patterns), re.IGNORECASE)

    def text(self, value: str | None) -> str | None:
        """The text with every match replaced."""
        return None if value is None else self._pattern.sub(ERASED, value)

    def json(self, value):
        """A JSON value (dict, list, scalars) with every string redacted, keys too."""
        if isinstance(value, dict):
            return {self.text(k): self.json(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.json(v) for v in value]
        return self.text(value) if isinstance(value, str) else value


def erase(session: Session, email: str, *, config: Mapping, now: datetime,
          actor: str, confirm_by_mail: bool = True) -> ErasureOutcome:
    """Erase everything held about an (already normalised) address; audited; idempotent.

    Retention (retention.py) erases people who left long ago with `confirm_by_mail=False`:
    nobody asked, so nobody is told.
    """
    person = subject.find(session, email, config)
    email, digest = person.email, person.digest
    language = person.live.language if person.live is not None else None  # gone after the steps
    outcome = ErasureOutcome(digest)
    redact = Redactor(email, person.name)
    steps = (
        ("subscriber", lambda: _step_withdraw_and_anonymise(session, person.live, digest, now)),
        ("consent_event", lambda: _step_consent_events(session, person, redact)),
        ("delivery", lambda: _step_deliveries(session, person, redact)),
        ("bounce_event", lambda: _step_bounces(session, person, redact)),
        ("inbound_message", lambda: _step_inbound(session, person, redact)),
        ("outbound_mail", lambda: _step_outbound(session, person)),
        ("webhook_delivery", lambda: _step_webhook_deliveries(session, person, redact)),
        ("privacy_request", lambda: _step_privacy_requests(session, person, redact, now, actor,
                                                           outcome)),
        ("audit_event", lambda: _step_audit_trail(session, person, outcome.requests, redact,
                                                  outcome)),
    )
    for table, step in steps:
        count = step()
        if count:
            outcome.changed[table] = count
    if not outcome.changed and _erased_before(session, digest):
        outcome.noop = True
        return outcome
    _step_suppress(session, config, email, now, actor)
    audit.record(session, actor=actor, action=ACTION, subject_type="email_hash",
                 subject_id=digest[:16], now=now,
                 detail={"email_hash": digest, "rows": outcome.changed,
                         "requests": outcome.requests,
                         audit.REDACTED_KEY: outcome.redacted_audit_rows})
    # Only the keyed hash: a receiver can match it to what it holds, and learns no address.
    webhooks.emit(session, webhooks.Event.erasure_done, {"email_hash": digest}, now)
    if confirm_by_mail:
        outcome.mail = _step_confirm_by_mail(session, config, email, now, language)
    return outcome


def _step_withdraw_and_anonymise(session: Session, subscriber: Subscriber | None, digest: str,
                                 now: datetime) -> int:
    """Withdraw every consent (recorded), drop the subscriptions, make the row a tombstone."""
    if subscriber is None:
        return 0
    for subscription in list(subscriber.subscriptions):
        if subscription.status is not SubscriptionStatus.unsubscribed:
            consent.record(session, subscriber,
                           purpose=consent.newsletter_purpose(subscription.mailing_list.slug),
                           granted=False, method=ConsentMethod.erasure, now=now)
        session.delete(subscription)
    subscriber.email = f"erased-{subscriber.id}@{ERASED_DOMAIN}"
    # Set after the address: changing the address clears the hash (models/subscribers.py).
    subscriber.email_hash = digest
    subscriber.name, subscriber.country, subscriber.attributes = "", None, {}
    subscriber.status = SubscriberStatus.erased
    subscriber.token_version = (subscriber.token_version or 1) + 1  # every mailed link dies
    subscriber.updated_at = now
    session.flush()
    return 1


def _step_consent_events(session: Session, person: subject.Subject, redact: Redactor) -> int:
    """Consent proof stays (purpose, grant, when, how, policy version); who-and-where goes."""
    changed = 0
    for event in session.scalars(select(ConsentEvent).where(
            subject.subscriber_rows(ConsentEvent.subscriber_id, person))):
        wording = redact.text(event.wording)
        if event.ip is not None or event.user_agent is not None or wording != event.wording:
            event.ip, event.user_agent, event.wording = None, None, wording
            changed += 1
    return changed


def _step_deliveries(session: Session, person: subject.Subject, redact: Redactor) -> int:
    """Unsent copies are skipped; a server reply may quote the address."""
    theirs = subject.subscriber_rows(Delivery.subscriber_id, person)
    changed = session.execute(
        update(Delivery).where(theirs, Delivery.status == DeliveryStatus.queued)
        .values(status=DeliveryStatus.skipped)
        .execution_options(synchronize_session=False)).rowcount
    for row in session.scalars(select(Delivery).where(theirs, Delivery.smtp_response.is_not(None))):
        response = redact.text(row.smtp_response)
        if response != row.smtp_response:
            row.smtp_response = response
            changed += 1
    return changed


def _step_bounces(session: Session, person: subject.Subject, redact: Redactor) -> int:
    """The decision and status stay (they count); the diagnostic may quote the address."""
    changed = 0
    for event in session.scalars(select(BounceEvent).where(
            subject.subscriber_rows(BounceEvent.subscriber_id, person))):
        detail = redact.text(event.detail)
        if detail != event.detail:
            event.detail = detail
            changed += 1
    return changed


def _step_inbound(session: Session, person: subject.Subject, redact: Redactor) -> int:
    """Mail they sent, carrying their token, or quoting them: raw, sender, subject go."""
    rows = session.scalars(select(InboundMessage).where(
        subject.inbound(session, person, erasure=True)))
    changed = 0
    for row in rows:
        before = (row.raw, row.sender, row.subject, row.note, row.reasons)
        row.raw, row.sender, row.subject = None, "", ""
        row.note, row.reasons = redact.text(row.note), redact.json(row.reasons)
        if (row.raw, row.sender, row.subject, row.note, row.reasons) != before:
            changed += 1
    return changed


def _step_outbound(session: Session, person: subject.Subject) -> int:
    """Queued mail to them is cancelled; stored bytes of any mail to or quoting them go."""
    rows = session.scalars(select(OutboundMail).where(
        subject.outbound(session, person, erasure=True)))
    changed = 0
    for row in rows:
        if row.status == "queued":
            row.status, row.last_error = "cancelled", "the address was erased"
        row.raw, row.to_address = b"", ""
        changed += 1
    return changed


def _step_webhook_deliveries(session: Session, person: subject.Subject, redact: Redactor) -> int:
    """Events about them not yet sent are cancelled; the address leaves every stored payload."""
    rows = session.scalars(select(WebhookDelivery).where(
        func.lower(WebhookDelivery.payload).contains(person.email, autoescape=True)))
    changed = 0
    for row in rows:
        if row.status == "queued":
            row.status, row.last_response = "cancelled", "the address was erased"
        row.payload = json.dumps(redact.json(json.loads(row.payload)), sort_keys=True,
                                 separators=(",", ":"), ensure_ascii=False)
        changed += 1
    return changed


def _step_privacy_requests(session: Session, person: subject.Subject, redact: Redactor,
                           now: datetime, actor: str, outcome: ErasureOutcome) -> int:
    """Requests keep their hash and dates; the address goes; open ones are closed as done."""
    changed = 0
    for request in session.scalars(select(PrivacyRequest).where(
            subject.privacy_requests(person)).order_by(PrivacyRequest.id)):
        outcome.requests.append(request.id)
        detail = redact.json({k: v for k, v in request.detail.items() if k != "email"})
        note = redact.text(request.note)
        if request.status in data_requests.OPEN_STATUSES:
            data_requests.close(session, request, status=PrivacyRequestStatus.completed,
                                actor=actor, now=now, note="the address was erased")
            detail = {**detail, "erased_at": now.isoformat(), "erased_by": actor}
            note = request.note
            changed += 1
        elif detail != request.detail or note != request.note:
            changed += 1
        request.detail, request.note = detail, note
    return changed


def _step_audit_trail(session: Session, person: subject.Subject, request_ids: list[int],
                      redact: Redactor, outcome: ErasureOutcome) -> int:
    """Audit rows keep who acted, what and when; the address and name in them go (rows about
    the person, their requests, or quoting the address: a note an officer typed). The hash
    chain covers detail and note only as a keyed digest, so it still links; the ids go into
    the `privacy.erase` row, which is what lets `audit verify` accept the changed content."""
    session.flush()
    changed = 0
    for row in session.scalars(select(AuditEvent).where(
            subject.audit_events(person, request_ids)).order_by(AuditEvent.id)):
        detail, note = redact.json(row.detail), redact.text(row.note)
        if (detail, note) != (row.detail, row.note):
            row.detail, row.note = detail, note
            outcome.redacted_audit_rows.append(row.id)
            changed += 1
    return changed


def _erased_before(session: Session, digest: str) -> bool:
    return session.scalar(select(AuditEvent.id).where(
        AuditEvent.action == ACTION, AuditEvent.subject_id == digest[:16]).limit(1)) is not None


def _step_suppress(session: Session, config: Mapping, email: str, now: datetime,
                   actor: str) -> None:
    """On the suppression list as a hash; a stronger reason already there (bounce) stays."""
    row = suppression.suppress(session, config["NEWSLETTER_SUPPRESSION_KEY"], email,
                               SuppressionReason.erasure, now, actor=actor)
    if row.reason is SuppressionReason.unsubscribe_all:
        # Both are lifted by the person's own new confirmation; erasure says more.
        row.reason = SuppressionReason.erasure


def _step_confirm_by_mail(session: Session, config: Mapping, email: str,
                          now: datetime, language: str | None) -> OutboundMail:
    """The last mail to the address; mailer drops its bytes and address once it is sent."""
    with in_language(language):
        subject = _("Your personal data has been deleted")
        text = render_template("email/privacy_erased.txt")
    message = mailer.build_message(config, to=email, subject=subject, text=text, now=now)
    return mailer.queue(session, kind=MAIL_KIND, mail=message, now=now)

