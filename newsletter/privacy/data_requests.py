"""Data-subject requests: see my data (access) and delete my data (erasure).

A request is opened from the public form, a reply, the admin UI or the API; it is always proven
by a signed link mailed to the address (anyone can type an address in a form, and a From header
is easy to forge), and it is due one month after we received it (GDPR art. 12(3)). This module
records, verifies, lists and closes requests; what a verified one sets in motion is fulfil.py
(export.py, erasure.py).
"""

from __future__ import annotations

import calendar
from collections.abc import Mapping
from datetime import datetime, timedelta

from flask import render_template
from flask_babel import gettext as _
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import tokens
from newsletter.i18n import in_language, normalise
from newsletter.models import (
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Subscriber,
)
from newsletter.privacy import audit
from newsletter.sending import mailer
from newsletter.subscribers import suppression

OPEN_STATUSES = (PrivacyRequestStatus.unverified, PrivacyRequestStatus.verified)
RESEND_AFTER = timedelta(minutes=10)  # a repeated request re-sends the link at most this often
VERIFY_MAX_AGE_DAYS = 14
VERIFY_KIND = "privacy-verify"  # OutboundMail.kind of the verification mail


class PrivacyError(Exception):
    """A request cannot be verified (bad, expired or used link); the message says why."""


def one_month_after(when: datetime) -> datetime:
    """The same day next month, or that month's last day (GDPR: "within one month").

    >>> one_month_after(datetime(2024, 1, 31, 12, 0)).isoformat()
    '2024-02-29T12:00:00'
    """
    year, month = (when.year + 1, 1) if when.month == 12 else (when.year, when.month + 1)
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def open_request(
    session: Session,
    *,
    kind: PrivacyRequestKind,
    email: str,
    source: str,
    now: datetime,
    config: Mapping,
    subscriber: Subscriber | None = None,
    inbound_message_id: int | None = None,
    note: str = "",
    actor: str = "subscriber",
    language: str | None = None,
) -> tuple[PrivacyRequest, OutboundMail | None]:
    """Open (or find the open) request for an address and mail the verification link.

    Returns (request, the queued verification mail or None). The caller answers the same
    whether or not we know the address (no enumeration). The request's mails are in `language`
    (the form's browser), else the subscriber's; kept in the request, as erasure removes the
    subscriber before the last mail.
    """
    digest = suppression.email_hash(config["NEWSLETTER_SUPPRESSION_KEY"], email)
    request = session.scalar(
        select(PrivacyRequest).where(PrivacyRequest.email_hash == digest,
                                     PrivacyRequest.kind == kind,
                                     PrivacyRequest.status.in_(OPEN_STATUSES))
        .order_by(PrivacyRequest.id.desc()).limit(1)
    )
    if request is None:
        if subscriber is None:
            subscriber = session.scalar(select(Subscriber).where(Subscriber.email == email))
        request = PrivacyRequest(
            kind=kind, email_hash=digest, source=source, created_at=now,
            due_at=one_month_after(now), subscriber_id=subscriber.id if subscriber else None,
            inbound_message_id=inbound_message_id, note=note,
            # The address itself is needed to answer the person; erasure scrubs it.
            detail={"email": email, "language": normalise(language) or (
                subscriber.language if subscriber is not None else None)},
        )
        session.add(request)
        session.flush()
        audit.record(session, actor=actor, action=f"privacy.{kind.value}.open",
                     subject_type="privacy_request", subject_id=request.id, now=now,
                     detail={"source": source}, note=note)
    if request.status is not PrivacyRequestStatus.unverified:
        return request, None
    last = request.detail.get("verification_sent_at")
    if last and now - datetime.fromisoformat(last) < RESEND_AFTER:
        return request, None
    # Per address, whatever the kind and however many IPs ask: else the form mails a stranger
    # without end. The answer stays the same (the caller never says whether a mail went out).
    window = timedelta(hours=config["NEWSLETTER_PRIVACY_MAIL_WINDOW_HOURS"])
    if mailer.queued_since(session, to=email, kind=VERIFY_KIND, since=now - window) \
            >= config["NEWSLETTER_PRIVACY_MAILS_PER_ADDRESS"]:
        return request, None
    return request, queue_verification(session, config, request, email, now)


def verification_token(config: Mapping, request: PrivacyRequest) -> str:
    """A signed, expiring token naming the request (and a piece of its address hash)."""
    return tokens.sign(config["SECRET_KEY"], tokens.PRIVACY_VERIFY,
                       [request.id, request.email_hash[:16]])


def verification_url(config: Mapping, request: PrivacyRequest) -> str:
    """The link in the verification mail: GET shows a button, POST verifies."""
    return f"{config['NEWSLETTER_BASE_URL']}/privacy/verify/{verification_token(config, request)}"


def queue_verification(session: Session, config: Mapping, request: PrivacyRequest, email: str,
                       now: datetime) -> OutboundMail:
    """Queue the mail with the verification link in the caller's transaction."""
    context = {"request": request, "kind": request.kind.value, "due_at": request.due_at,
               "verify_url": verification_url(config, request),
               "max_age_days": VERIFY_MAX_AGE_DAYS}
    with in_language(request.detail.get("language")):
        subject = (_("Please confirm your request to see your data")
                   if request.kind is PrivacyRequestKind.access
                   else _("Please confirm your request to delete your data"))
        text = render_template("email/privacy_verify.txt", **context)
    # System mail: from MAIL_DEFAULT_SENDER, no list headers (the request is about a person,
    # who may be on no list at all).
    message = mailer.build_message(config, to=email, subject=subject, text=text, now=now)
    mail = mailer.queue(session, kind=VERIFY_KIND, mail=message, now=now)
    request.detail = {**request.detail, "verification_sent_at": now.isoformat()}
    return mail


def read_verification(config: Mapping, session: Session, token: str) -> PrivacyRequest:
    """The request a verification link names; raise PrivacyError if the link is not good."""
    try:
        request_id, hash_part = tokens.load(config["SECRET_KEY"], tokens.PRIVACY_VERIFY, token,
                                            max_age=VERIFY_MAX_AGE_DAYS * 86400)
    except tokens.TokenError as exc:
        raise PrivacyError(str(exc)) from None
    except (TypeError, ValueError):
        raise PrivacyError("This link is not valid.") from None
    request = session.get(PrivacyRequest, request_id)
    if request is None or request.email_hash[:16] != hash_part:
        raise PrivacyError("This request no longer exists.")
    if request.status is PrivacyRequestStatus.rejected:
        raise PrivacyError("This request was closed.")
    if request.status is not PrivacyRequestStatus.unverified:
        when = request.verified_at or request.completed_at
        raise PrivacyError(
            "This link was used already" + (f", on {when:%d %B %Y}" if when else "")
            + ": the request is confirmed and nothing more needs doing here.")
    return request


def verify(session: Session, config: Mapping, token: str, now: datetime) -> PrivacyRequest:
    """Mark the request verified; raise PrivacyError on a bad, closed or used link."""
    request = read_verification(config, session, token)
    request.status = PrivacyRequestStatus.verified
    request.verified_at = now
    audit.record(session, actor="link", action=f"privacy.{request.kind.value}.verify",
                 subject_type="privacy_request", subject_id=request.id, now=now)
    return request


def list_requests(session: Session, *, open_only: bool = False) -> list[PrivacyRequest]:
    """Requests, the most urgent first."""
    query = select(PrivacyRequest)
    if open_only:
        query = query.where(PrivacyRequest.status.in_(OPEN_STATUSES))
    return list(session.scalars(query.order_by(PrivacyRequest.due_at, PrivacyRequest.id)))


def days_left(request: PrivacyRequest, now: datetime) -> int:
    """Whole days until the legal deadline (negative when overdue)."""
    return (request.due_at - now).days


def was_carried_out(request: PrivacyRequest) -> bool:
    """True once the data was sent (a download link) or erased for this request."""
    return bool(request.detail.get("export_sent_at") or request.detail.get("erased_at"))


def close(session: Session, request: PrivacyRequest, *, status: PrivacyRequestStatus,
          actor: str, now: datetime, note: str = "") -> None:
    """Mark a request completed or rejected, with an audit row. Closing one without doing it
    (nothing was sent or erased for it) needs a reason."""
    if not note.strip() and not was_carried_out(request):
        raise PrivacyError("Say why the request is closed without being carried out.")
    request.status = status
    request.completed_at = now
    if note:
        request.note = note
    audit.record(session, actor=actor, action=f"privacy.{request.kind.value}.{status.value}",
                 subject_type="privacy_request", subject_id=request.id, now=now, note=note)
