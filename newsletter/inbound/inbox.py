"""The admin inbox: messages the machine could not decide, and what a person does with them.

A person reads a message rendered safely (text part, or HTML cleaned by nh3 with no images and
no remote anything), then unsubscribes its sender, marks it handled, or reclassifies it. A
reclassification is kept on the row (`human_verdict`) as a labelled example and carries out
what the new verdict means, under the same rules as the poller (bounces and complaints act only
with one of our tokens).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import policy
from email.message import Message
from email.parser import BytesParser

import nh3
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from newsletter.inbound.classify import Kind, classify
from newsletter.inbound.handle import ACTIONS, Who, identify
from newsletter.inbound.mime import decoded_text
from newsletter.models import (
    ConsentMethod,
    InboundMessage,
    InboundStatus,
    Subscriber,
    SubscriptionStatus,
)
from newsletter.privacy import audit
from newsletter.subscribers import subscriptions

PAGE = 50
# How long the raw bytes are kept by default; NEWSLETTER_INBOUND_KEEP_DAYS sets it.
RAW_KEEP_DAYS = 90
# Tags and attributes a person needs to read a mail; everything else (img, style, script,
# iframe, form, event handlers) is dropped. Links cannot leak the reader's address either.
SAFE_TAGS = {"a", "abbr", "b", "blockquote", "br", "caption", "code", "div", "em", "h1", "h2",
             "h3", "h4", "h5", "h6", "hr", "i", "li", "ol", "p", "pre", "s", "small", "span",
             "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u",
             "ul"}
SAFE_ATTRIBUTES = {"a": {"href", "title"}, "td": {"colspan", "rowspan"},
                   "th": {"colspan", "rowspan"}}


class InboxError(Exception):
    """An inbox action cannot be done; the message says why."""


@dataclass
class Rendered:
    """A message as the inbox page shows it."""

    headers: list[tuple[str, str]] = field(default_factory=list)
    text: str = ""
    html: str = ""  # sanitised
    attachments: list[tuple[str, str, int]] = field(default_factory=list)  # name, type, bytes
    error: str = ""


def list_messages(session: Session, *, status: str = "needs_human", verdict: str = "",
                  page: int = 1) -> tuple[list[InboundMessage], int]:
    """One page of messages (newest first) and the total that match."""
    query = select(InboundMessage)
    if status in {s.value for s in InboundStatus}:
        query = query.where(InboundMessage.status == InboundStatus(status))
    if verdict in {k.value for k in Kind}:
        query = query.where(InboundMessage.verdict == verdict)
    total = session.scalar(select(func.count()).select_from(query.subquery()))
    rows = session.scalars(query.order_by(InboundMessage.received_at.desc(),
                                          InboundMessage.id.desc())
                           .limit(PAGE).offset((max(page, 1) - 1) * PAGE))
    return list(rows), total or 0


def counts(session: Session) -> dict[str, int]:
    """How many messages are in each status."""
    rows = session.execute(select(InboundMessage.status, func.count(InboundMessage.id))
                           .group_by(InboundMessage.status))
    return {status.value: n for status, n in rows}


def render(raw: bytes | None) -> Rendered:
    """Headers, text and sanitised HTML of a stored message; never raises."""
    if not raw:
        return Rendered(error="The message bytes are no longer kept.")
    try:
        message = BytesParser(policy=policy.default).parsebytes(raw)
        rendered = Rendered(headers=[(name, _safe_header(message, name)) for name in
                                     ("From", "To", "Cc", "Reply-To", "Subject", "Date",
                                      "Message-ID") if name in message])
        _fill_body(message, rendered)
        return rendered
    except Exception as exc:  # noqa: BLE001 - a broken message is still shown, as text
        return Rendered(text=raw[:200_000].decode("utf-8", "replace"),
                        error=f"Could not parse the message ({type(exc).__name__}); raw text shown.")


def _safe_header(message: Message, name: str) -> str:
    try:
        return str(message[name])
    except Exception:  # noqa: BLE001
        return "(unreadable)"


def _fill_body(message: Message, rendered: Rendered) -> None:
    for part in message.walk():
        if part.is_multipart():
            continue
        kind = part.get_content_type()
        disposition = str(part.get("Content-Disposition", "")).lower()
        if disposition.startswith("attachment") or not kind.startswith("text/"):
            payload = part.get_payload(decode=True) or b""
            rendered.attachments.append((part.get_filename() or "(no name)", kind, len(payload)))
        elif kind == "text/plain" and not rendered.text:
            rendered.text = decoded_text(part)
        elif kind == "text/html" and not rendered.html:
            rendered.html = sanitise_html(decoded_text(part))


def sanitise_html(markup: str) -> str:
    """HTML safe to show in the admin UI: no images, scripts, styles or tracking.

    >>> sanitise_html('<p onclick="x()">Hi <img src="http://t.example/p.gif"></p>')
    '<p>Hi </p>'
    """
    return nh3.clean(markup, tags=SAFE_TAGS, attributes=SAFE_ATTRIBUTES,
                     url_schemes={"http", "https", "mailto"},
                     link_rel="noopener noreferrer nofollow")


def sender_subscriber(session: Session, row: InboundMessage) -> Subscriber | None:
    """The subscriber a message is about: the one the poller found, else its From address."""
    if row.subscriber_id:
        return session.get(Subscriber, row.subscriber_id)
    try:
        return subscriptions.find_subscriber(session, subscriptions.normalise_email(row.sender))
    except subscriptions.InvalidEmail:
        return None


def unsubscribe_sender(session: Session, row: InboundMessage, *, actor: str, config: Mapping,
                       now: datetime) -> int:
    """Unsubscribe the message's subscriber from every list; returns how many lists changed."""
    subscriber = sender_subscriber(session, row)
    if subscriber is None:
        raise InboxError("No subscriber has this address.")
    active = [s.list_id for s in subscriber.subscriptions
              if s.status is not SubscriptionStatus.unsubscribed]
    changed = subscriptions.unsubscribe(
        session, subscriber, list_ids=active, method=ConsentMethod.reply, now=now,
        suppression_key=config["NEWSLETTER_SUPPRESSION_KEY"],
        wording=f"{actor} acting on inbound message {row.message_key[:120]}",
    )
    row.subscriber_id = subscriber.id
    _close(session, row, actor, now, action=f"unsubscribed-{len(changed)}-lists-by-admin",
           label=Kind.unsubscribe.value)
    return len(changed)


def mark_handled(session: Session, row: InboundMessage, *, actor: str, now: datetime) -> None:
    """A person dealt with it (answered by hand, or nothing to do)."""
    _close(session, row, actor, now, action=row.action or "handled-by-admin", label=None)


def reclassify(session: Session, row: InboundMessage, kind: Kind, *, actor: str,
               config: Mapping, now: datetime) -> str:
    """Keep the person's verdict as a labelled example and do what it means."""
    verdict = classify(row.raw or b"", max_bytes=config.get("NEWSLETTER_INBOUND_MAX_BYTES",
                                                            25 * 1024 * 1024))
    verdict.kind = kind
    who = identify(session, verdict, config)
    if who.subscriber is None and row.subscriber_id:
        who = Who(session.get(Subscriber, row.subscriber_id), "from")
    action = "labelled"
    if kind not in (Kind.human, Kind.auto_reply):
        action = ACTIONS[kind](session, row, verdict, who, config, now)
    _close(session, row, actor, now, action=f"reclassified: {action}", label=kind.value)
    return action


def purge_raw(session: Session, now: datetime, keep_days: int = RAW_KEEP_DAYS) -> int:
    """Forget the bytes of messages older than `keep_days` that nobody needs any more.

    Messages still waiting for a person and labelled examples (reclassified by a person) keep
    theirs; the row itself (verdict, action, reasons) stays as the record of what was done.
    """
    result = session.execute(
        update(InboundMessage)
        .where(InboundMessage.received_at < now - timedelta(days=keep_days),
               InboundMessage.raw.is_not(None),
               InboundMessage.status != InboundStatus.needs_human,
               InboundMessage.human_verdict.is_(None))
        .values(raw=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def labelled_examples(session: Session) -> list[InboundMessage]:
    """Messages a person reclassified, with their bytes: material for the test corpus."""
    return list(session.scalars(select(InboundMessage).where(
        InboundMessage.human_verdict.is_not(None), InboundMessage.raw.is_not(None))
        .order_by(InboundMessage.id)))


def _close(session: Session, row: InboundMessage, actor: str, now: datetime, *, action: str,
           label: str | None) -> None:
    previous = row.verdict
    row.status = InboundStatus.handled
    row.handled_by = actor[:254]
    row.action = action[:64]
    if label is not None:
        row.human_verdict = label
    audit.record(session, actor=actor, action="inbound.handle", subject_type="inbound_message",
                 subject_id=row.id, now=now,
                 detail={"verdict": previous, "human_verdict": label, "action": row.action})
