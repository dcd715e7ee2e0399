"""Transactional mail (confirmations, notices, verification links) through a durable queue.

`build_message()` is the one builder of this mail: the header lines come from `headers.py`, as
for campaign mail, and the DKIM signature is added before the bytes are queued, so the queued
`raw` is exactly what goes on the wire. `queue()` writes an OutboundMail row in the caller's
transaction, so the mail exists exactly when the change that needs it was committed.
`send_queued()` hands due rows to a transport; the worker runs it (and the scheduler's
`transactional-mail` job), retrying with backoff. Public pages only queue: a request that talked
SMTP would answer slower for a new address than for a known one. `queue_later()` goes one step
further for the hot public paths (the subscribe form): the row holds only what to render
(template, subject, plain values), and the sender renders, builds and signs it, so the request
does no template or DKIM work at all and writes one row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from email.message import EmailMessage
from html import escape

from flask import render_template
from flask_babel import gettext
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from newsletter import links
from newsletter.i18n import in_language, mail_language
from newsletter.models import MailingList, OutboundMail, Subscriber
from newsletter.sending import headers
from newsletter.sending.dkim import signer_from_config
from newsletter.sending.transport import Transport, TransportError, new_message_id

MAX_ATTEMPTS = 8
# The mail that confirms an erasure is the one thing still holding the address: once it is sent
# (or given up on) its bytes and recipient go too (privacy/erasure.py).
ERASURE_CONFIRMATION = "privacy-erased"
FORGET_ONCE_SENT = frozenset({ERASURE_CONFIRMATION})
BODY_POLICY = policy.SMTP.clone(cte_type="7bit")
_MESSAGE_ID = re.compile(r"<[\x21-\x3b\x3d\x3f-\x7e]{1,250}>")  # printable ASCII, no < or >
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Mail:
    """A message ready for the queue; `raw` (signed when a key is configured) goes on the wire."""

    to: str
    envelope_from: str
    raw: bytes


def build_message(
    config: Mapping,
    *,
    to: str,
    subject: str,
    text: str,
    html: str | None = None,
    now: datetime,
    mailing_list: MailingList | None = None,
    subscriber_id: int | None = None,
    in_reply_to: str | None = None,
    written_by_a_person: bool = False,
) -> Mail:
    """The one builder of transactional mail (confirmations, notices, verification links).

    With a list, From follows the list's sender and List-Id is set; with a subscriber too,
    Reply-To, List-Unsubscribe and List-Unsubscribe-Post are set exactly as in that list's
    campaign mail, and bounces come back to the subscriber's VERP address. Without a list it is
    system mail from MAIL_DEFAULT_SENDER. Every message is marked Auto-Submitted, except an
    answer a person wrote (inbound/answer.py).
    """
    for label, value in (("to", to), ("subject", subject)):
        if "\r" in value or "\n" in value or "\x00" in value:
            # A line break would start a header of the caller's choosing (Bcc: ...).
            raise ValueError(f"{label}: line breaks and NUL are not allowed in a header")
    if mailing_list is not None:
        head = headers.from_header(config, mailing_list.sender_name, mailing_list.sender_address,
                                   mailing_list.name)
    else:
        head = headers.from_header(config)
    head += (headers.address_header("To", "", to) + headers.header("Subject", subject)
             + headers.date_header(now)
             + headers.message_id_header(new_message_id(config["NEWSLETTER_MAIL_DOMAIN"])))
    if not written_by_a_person:
        # RFC 3834: machine mail says so (auto-responders stay quiet); a person's answer does not.
        head += headers.AUTO_SUBMITTED
    if in_reply_to and _MESSAGE_ID.fullmatch(in_reply_to):
        # An answer from the inbox: the reader's mail program shows it in their thread.
        head += headers.fold("In-Reply-To", [in_reply_to]) + headers.fold("References", [in_reply_to])
    if subscriber_id is not None:
        head += headers.address_header("Reply-To", "", links.reply_address(config, subscriber_id))
        envelope_from = links.bounce_address(config, subscriber_id)
    else:
        envelope_from = headers.sender(config)[1]
    if mailing_list is not None and subscriber_id is not None:
        head += headers.list_headers(config, subscriber_id, mailing_list.id, mailing_list.slug,
                                     mailing_list.name)
    elif mailing_list is not None:
        head += headers.list_id_header(config, mailing_list.slug, mailing_list.name)
    text, html = with_data_footer(config, text, html)
    return Mail(to, envelope_from, sign(config, head + _body(text, html)))


SIGNATURE = re.compile(r"^-- ?$", re.MULTILINE)  # the "-- " line that starts a mail footer


def with_data_footer(config: Mapping, text: str, html: str | None) -> tuple[str, str | None]:
    """The parts with the line every mail carries: where to see or delete one's data (a
    template that already links the page keeps its own wording)."""
    url = links.privacy_request_url(config)
    if url not in text:
        start = "\n" if SIGNATURE.search(text) else "\n\n-- \n"
        text = f"{text.rstrip()}{start}Your data (see it or have it deleted): {url}\n"
    if html and escape(url) not in html:
        footer = (f'<p style="font-size:13px;color:#5b6475"><a href="{escape(url)}">Your data: '
                  "see it or have it deleted</a></p>")
        html = html.replace("</body>", footer + "</body>", 1) if "</body>" in html \
            else html + footer
    return text, html


def _body(text: str, html: str | None) -> bytes:
    """MIME-Version, Content-Type and the parts (text, or text and HTML), CRLF line ends.

    Only the body is left to the email package: its headers here are short and ASCII. 7bit
    transfer encodings only (quoted-printable or base64 for non-ASCII text), so the message
    needs no 8BITMIME from any server on its way.
    """
    body = EmailMessage(policy=BODY_POLICY)
    body.set_content(text)
    if html:
        body.add_alternative(html, subtype="html")
    return body.as_bytes()


def sign(config: Mapping, raw: bytes) -> bytes:
    """The message DKIM-signed like campaign mail when a key is configured, else as it is."""
    signer = signer_from_config(config, headers.SIGNED_HEADERS)
    return signer.sign(raw) if signer is not None else raw


def queue(session: Session, *, kind: str, mail: Mail, now: datetime) -> OutboundMail:
    """Add a message to the queue inside the caller's transaction."""
    row = OutboundMail(
        kind=kind,
        to_address=mail.to,
        envelope_from=mail.envelope_from,
        raw=mail.raw,
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def queue_later(session: Session, *, kind: str, subscriber: Subscriber, mailing_list: MailingList,
                template: str, subject: str, context: Mapping, now: datetime,
                subject_values: Mapping | None = None) -> OutboundMail:
    """Queue a list mail to a subscriber that the sender renders (`email/<template>.txt|html`).

    `subject` is a catalogue text (translated with `subject_values` when rendered), `context`
    holds plain JSON values (links, names); the sender adds `subscriber` and `list` as they are
    when it sends, in the subscriber's language. The result is what build_message() makes.
    """
    row = OutboundMail(
        kind=kind,
        to_address=subscriber.email,
        envelope_from="",  # with raw, filled in by the sender (render_queued)
        raw=b"",
        payload={"template": template, "subject": subject,
                 "subject_values": dict(subject_values or {}), "context": dict(context),
                 "subscriber_id": subscriber.id, "list_id": mailing_list.id},
        next_attempt_at=now,
        created_at=now,
    )
    session.add(row)
    return row


def render_queued(session: Session, config: Mapping, row: OutboundMail, now: datetime) -> Mail | None:
    """The message a queue_later() row stands for; None when its subscriber has gone or changed
    address since (erased, edited): that mail is no longer wanted."""
    payload = row.payload or {}
    subscriber = session.get(Subscriber, payload["subscriber_id"])
    mailing_list = session.get(MailingList, payload["list_id"])
    if subscriber is None or mailing_list is None or subscriber.email != row.to_address:
        return None
    context = dict(payload["context"], subscriber=subscriber, list=mailing_list)
    template = payload["template"]
    with in_language(mail_language(subscriber.language, mailing_list.default_language)):
        subject = gettext(payload["subject"], **payload.get("subject_values", {}))
        text = render_template(f"email/{template}.txt", **context)
        html = render_template(f"email/{template}.html", **context)
    return build_message(config, to=subscriber.email, subject=subject, text=text, html=html,
                         now=now, mailing_list=mailing_list, subscriber_id=subscriber.id)


def queued_since(session: Session, *, to: str, kind: str, since: datetime) -> int:
    """How many mails of this kind were queued to this address since then (a per-address limit).

    Index: ix_outbound_mail_to_created (to_address, created_at) keeps it to that address's rows.
    """
    return session.scalar(select(func.count()).select_from(OutboundMail).where(
        OutboundMail.to_address == to, OutboundMail.created_at >= since,
        OutboundMail.kind == kind)) or 0


def send_queued(session: Session, transport: Transport, now: datetime, limit: int = 100,
                ids: list[int] | None = None, *, config: Mapping | None = None) -> int:
    """Send due queued mail (only `ids` when given); commit after each. Returns how many were sent.

    Rows queued by queue_later() are rendered first (`config` is needed for them) and their
    bytes committed before they are sent, so a retry sends the very same message.
    """
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
        if not row.raw and row.payload is not None and not _rendered(session, config, row, now):
            session.commit()
            continue
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
        if row.kind in FORGET_ONCE_SENT and row.status != "queued":
            row.raw, row.to_address = b"", ""
        session.commit()
    return sent


def _rendered(session: Session, config: Mapping | None, row: OutboundMail, now: datetime) -> bool:
    """Fill in a queue_later() row's bytes; False (row settled) when it is not to be sent."""
    if config is None:
        raise ValueError("send_queued: config is needed to render queued mail")
    try:
        mail = render_queued(session, config, row, now)
    except Exception as exc:  # noqa: BLE001 - a broken template fails this mail, not the loop
        log.exception("outbound mail %s: cannot render", row.id)
        row.status, row.last_error = "failed", f"render error: {exc}"[:500]
        return False
    if mail is None:
        row.status, row.last_error = "cancelled", "the recipient has gone"
        return False
    row.raw, row.envelope_from, row.payload = mail.raw, mail.envelope_from, None
    session.commit()
    return True


def send_committed(session: Session, config: Mapping, ids: list[int] | None, now: datetime) -> int:
    """Best effort: send committed queued mail now (only `ids` when given, else all that is
    due); on any fault the rows stay queued and the worker retries them later."""
    if ids is not None and not ids:
        return 0
    from newsletter.sending.transport import transport_from_config

    transport = transport_from_config(config)
    try:
        return send_queued(session, transport, now, limit=len(ids) if ids else 100, ids=ids,
                           config=config)
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
