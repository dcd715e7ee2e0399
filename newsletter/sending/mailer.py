"""Transactional mail (confirmations, notices, verification links) through a durable queue.

`queue()` writes an OutboundMail row in the caller's transaction, so the mail exists exactly when
the change that needs it was committed. `send_queued()` hands due rows to a transport; it runs
right after a request commits and from the worker, which retries with backoff.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import OutboundMail
from newsletter.sending.transport import Transport, TransportError, new_message_id

MAX_ATTEMPTS = 8
log = logging.getLogger(__name__)


def build_message(
    *,
    sender: Address | str,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    domain: str,
    now: datetime,
    headers: dict[str, str] | None = None,
) -> EmailMessage:
    """A multipart/alternative message with the usual headers (policy.SMTP: CRLF line ends)."""
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    msg["Subject"] = subject  # the header registry refuses CR/LF in a header value
    msg["Date"] = format_datetime(now)
    msg["Message-ID"] = new_message_id(domain)
    msg["Auto-Submitted"] = "auto-generated"  # RFC 3834: auto-responders must not answer
    for name, value in (headers or {}).items():
        msg[name] = value
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def queue(session: Session, *, kind: str, message: EmailMessage, envelope_from: str,
          now: datetime) -> OutboundMail:
    """Add a message to the queue inside the caller's transaction."""
    row = OutboundMail(
        kind=kind,
        to_address=str(message["To"]),
        envelope_from=envelope_from,
        raw=message.as_bytes(policy=policy.SMTP),
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def send_queued(session: Session, transport: Transport, now: datetime, limit: int = 100,
                ids: list[int] | None = None) -> int:
    """Send due queued mail (only `ids` when given); commit after each. Returns how many were sent."""
    statement = select(OutboundMail).where(
        OutboundMail.status == "queued", OutboundMail.next_attempt_at <= now
    )
    if ids is not None:
        statement = statement.where(OutboundMail.id.in_(ids))
    rows = session.scalars(statement.order_by(OutboundMail.id).limit(limit)).all()
    sent = 0
    for row in rows:
        # Claim it by bumping next_attempt_at first, so a concurrent sender skips it.
        claimed = session.execute(
            OutboundMail.__table__.update()
            .where(OutboundMail.id == row.id, OutboundMail.status == "queued",
                   OutboundMail.next_attempt_at == row.next_attempt_at)
            .values(next_attempt_at=now + timedelta(minutes=5))
        ).rowcount
        session.commit()
        if not claimed:
            continue
        session.refresh(row)
        row.attempts += 1
        try:
            transport.send(row.envelope_from, row.to_address, row.raw)
        except TransportError as exc:
            row.last_error = str(exc)
            if exc.permanent or row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
            else:
                row.next_attempt_at = now + timedelta(seconds=30 * 2 ** row.attempts)
        else:
            row.status, row.sent_at = "sent", now
            sent += 1
        session.commit()
    return sent


def send_committed(session: Session, config: Mapping, ids: list[int] | None, now: datetime) -> int:
    """Best effort: send committed queued mail now (only `ids` when given, else all that is
    due); on any fault the rows stay queued and the worker retries them later."""
    if ids is not None and not ids:
        return 0
    from newsletter.sending.transport import transport_from_config

    transport = transport_from_config(config)
    try:
        return send_queued(session, transport, now, limit=len(ids) if ids else 100, ids=ids)
    except Exception:  # noqa: BLE001 - the row stays queued; the worker sends it
        log.exception("sending queued mail %s failed; the worker will retry", ids or "(due)")
        session.rollback()
        return 0
    finally:
        transport.close()


def commit_and_send(session: Session, config: Mapping, mails: list[OutboundMail | None],
                    now: datetime) -> int:
    """Commit the caller's transaction, then send the mail it queued (see send_committed)."""
    session.flush()  # the rows get their ids
    ids = [mail.id for mail in mails if mail is not None]
    session.commit()
    return send_committed(session, config, ids, now)
