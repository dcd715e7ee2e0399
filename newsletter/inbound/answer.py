"""A person answers a message from the inbox: the answer goes out as mail (through the
transactional queue, threaded under the message) and the message counts as handled."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.inbound import inbox
from newsletter.models import InboundMessage, OutboundMail
from newsletter.privacy import audit
from newsletter.sending import mailer
from newsletter.subscribers.addresses import InvalidEmail, normalise_email

KIND = "inbox-answer"
MAX_CHARS = 20_000
ACTION = "answered-by-admin"
_REPLY_PREFIX = re.compile(r"^\s*(re|aw|sv|antw|r)\s*:\s*", re.IGNORECASE)


def subject_for(original: str | None) -> str:
    """ "Re: " and the original subject on one line, without a pile of prefixes.

    >>> subject_for("RE: Aw: When is the next\\n workshop?")
    'Re: When is the next workshop?'
    """
    subject = " ".join((original or "").split())
    while _REPLY_PREFIX.match(subject):
        subject = _REPLY_PREFIX.sub("", subject, count=1)
    return f"Re: {subject or 'your message'}"[:200]


def answer(session: Session, config: Mapping, row: InboundMessage, text: str, *, actor: str,
           now: datetime) -> OutboundMail:
    """Queue `text` as an answer to the sender of `row`; mark the message handled."""
    if not text.strip():
        raise inbox.InboxError("Write the answer first.")
    if len(text) > MAX_CHARS:
        raise inbox.InboxError(f"Keep the answer under {MAX_CHARS} characters.")
    try:
        to = normalise_email(row.sender or "")
    except InvalidEmail:
        raise inbox.InboxError("This message has no sender address to answer.") from None
    in_reply_to = row.message_key if row.message_key.startswith("<") else None
    mail = mailer.build_message(config, to=to, subject=subject_for(row.subject), text=text, now=now,
                                in_reply_to=in_reply_to, written_by_a_person=True)
    queued = mailer.queue(session, kind=KIND, mail=mail, now=now)
    audit.record(session, actor=actor, action="inbound.answer", subject_type="inbound_message",
                 subject_id=row.id, now=now, detail={"to": to, "chars": len(text)})
    row.action = ACTION
    inbox.mark_handled(session, row, actor=actor, now=now)
    return queued
