"""Proofs: a campaign as a reader will see it before it goes out, in the admin preview or as a
test copy mailed to staff, for a sample reader or for one chosen real subscriber.

Showing a real subscriber's mail is a read of their data (name, address, attributes): each
proof for a subscriber writes an audit row in the caller's transaction (privacy/audit.py).
Their personal links stay out of it: the preview's links are inert anchors, and a test copy
carries the links of a test copy (subscriber 0), so staff cannot act for the subscriber by
clicking them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import AuditEvent, Campaign, Layout, MailingList, Subscriber, Subscription
from newsletter.privacy import audit
from newsletter.sending import compose, mailer, readers
from newsletter.sending.campaigns import CampaignError, content_for
from newsletter.subscribers.addresses import SubscribeError, normalise_email

MAX_TEST_ADDRESSES = 10
# The preview page writes one audit row and its frames (phone, desktop) cite it; a frame
# asked for later, or by someone else, writes its own.
FRAME_COVERED_FOR = timedelta(minutes=10)
PREVIEW_ACTION, TEST_ACTION = "subscriber.mail_preview", "subscriber.mail_test"


@dataclass(frozen=True)
class Proof:
    """A campaign as one reader sees it."""

    subject: str
    html: str
    audit_id: int | None = None  # the row that recorded the look (a real subscriber's proof)


def _lists(campaign: Campaign) -> list[MailingList]:
    if not campaign.lists:
        raise CampaignError("the campaign has no list")
    return list(campaign.lists)


def preview(campaign: Campaign, config: Mapping) -> str:
    """The campaign's HTML for a sample reader."""
    return compose.compile_campaign(content_for(campaign, _lists(campaign)[0]), config).preview()


# What a layout is shown around on its page: each thing a layout styles, once.
SAMPLE_BODY = """# A sample issue

Hello {{ subscriber.name or "there" }}, this is how an issue of **{{ list.name }}** looks in
this layout, with [a link](https://example.org/) in a paragraph.

> A quotation set apart from the text: a reader's letter, or a line worth repeating.

| Plan | Seats | Price |
|------|------:|------:|
| Basic | 1 | 5 EUR |
| Team | 10 | 40 EUR |

- a list item
- another one
"""


def layout_sample(layout: Layout, config: Mapping) -> str:
    """A saved layout around SAMPLE_BODY, for a sample reader (the layout page's preview)."""
    mailing_list = layout.mailing_list
    content = compose.CampaignContent(
        campaign_id=0, subject="A sample issue", body=SAMPLE_BODY, body_format="markdown",
        list_id=mailing_list.id, list_slug=mailing_list.slug, list_name=mailing_list.name,
        sender_name=mailing_list.sender_name, sender_address=mailing_list.sender_address,
        layout=layout.html, language=mailing_list.default_language,
        postal_address=mailing_list.postal_address or "")
    return compose.compile_campaign(content, config).preview()


def reader(session: Session, campaign: Campaign, email: str) -> Subscriber:
    """The subscriber a proof is for: one on the campaign's lists; raise CampaignError."""
    try:
        address = normalise_email(email)
    except SubscribeError:
        address = email.strip().lower()
    found = readers.on_lists(session, address, [m.id for m in _lists(campaign)])
    if found is None:
        raise CampaignError(f"{email.strip()!r} is not a subscriber of this campaign's lists")
    return found


def _their_list(session: Session, campaign: Campaign, subscriber: Subscriber) -> MailingList:
    """The first of the campaign's lists the subscriber is on: its layout, its name."""
    theirs = set(session.scalars(select(Subscription.list_id)
                                 .where(Subscription.subscriber_id == subscriber.id)))
    return next((m for m in _lists(campaign) if m.id in theirs), _lists(campaign)[0])


def _as_reader(subscriber: Subscriber, mailing_list: MailingList) -> compose.Recipient:
    # Subscriber 0: a test copy's links, never the subscriber's own tokens.
    return compose.Recipient(0, subscriber.email, subscriber.name or "",
                             subscriber.attributes or {}, 1, mailing_list.id,
                             language=subscriber.language)


def preview_as(session: Session, campaign: Campaign, subscriber: Subscriber, config: Mapping,
               *, actor: str, now: datetime, seen: int | None = None) -> Proof:
    """Subject and HTML as `subscriber` will get them; audited unless `seen` is this actor's
    recent row for the same look (the preview page's frames)."""
    mailing_list = _their_list(session, campaign, subscriber)
    compiled = compose.compile_campaign(content_for(campaign, mailing_list), config)
    recipient = _as_reader(subscriber, mailing_list)
    subject, html = compiled.preview_subject(recipient), compiled.preview(recipient)
    row = _covering(session, seen, actor, subscriber.id, campaign.id, now)
    if row is None:
        row = audit.record(session, actor=actor, action=PREVIEW_ACTION, subject_type="subscriber",
                           subject_id=subscriber.id, now=now, detail={"campaign": campaign.id})
        session.flush()
    return Proof(subject, html, row.id)


def _covering(session: Session, seen: int | None, actor: str, subscriber_id: int,
              campaign_id: int, now: datetime) -> AuditEvent | None:
    if seen is None:
        return None
    row = session.get(AuditEvent, seen)
    if (row is None or row.action != PREVIEW_ACTION or row.actor != actor
            or row.subject_id != str(subscriber_id) or row.at < now - FRAME_COVERED_FOR
            or (row.detail or {}).get("campaign") != campaign_id):
        return None
    return row


def _test_address(raw: str) -> str:
    """A test-send address, validated like a subscriber's ("not an email" is not three)."""
    try:
        return normalise_email(raw)
    except SubscribeError as exc:
        raise CampaignError(f"{raw!r} is not an email address: {exc}") from None


def test_send(session: Session, campaign: Campaign, addresses: Sequence[str], config: Mapping,
              now: datetime, *, as_subscriber: Subscriber | None = None,
              actor: str = "") -> int:
    """Queue a test copy to each address (transactional queue); returns how many.

    With `as_subscriber` every copy is rendered with that subscriber's name, address and
    attributes (and their list's layout), goes to the given staff addresses, and is audited.
    """
    lists = _lists(campaign)
    if not addresses or len(addresses) > MAX_TEST_ADDRESSES:
        raise CampaignError(f"give between one and {MAX_TEST_ADDRESSES} addresses")
    addresses = [_test_address(raw) for raw in addresses]
    mailing_list = lists[0] if as_subscriber is None \
        else _their_list(session, campaign, as_subscriber)
    content = content_for(campaign, mailing_list)
    content = compose.CampaignContent(**{**content.__dict__, "subject": f"[Test] {content.subject}"})
    compiled = compose.compile_campaign(content, config)
    for address in addresses:
        if as_subscriber is not None:
            message = compiled.render(_as_reader(as_subscriber, mailing_list), now,
                                      deliver_to=address)
        else:
            known = session.scalar(select(Subscriber).where(Subscriber.email == address))
            recipient = compose.Recipient(
                subscriber_id=known.id if known else 0, email=address,
                name=known.name if known else "", attributes=known.attributes if known else {},
                token_version=known.token_version if known else 1)
            message = compiled.render(recipient, now)
        # Signed like the campaign itself: a test copy shows what readers will get.
        mailer.queue(session, kind="campaign-test", now=now, mail=mailer.Mail(
            message.recipient, message.envelope_from, mailer.sign(config, message.raw)))
    if as_subscriber is not None:
        audit.record(session, actor=actor, action=TEST_ACTION, subject_type="subscriber",
                     subject_id=as_subscriber.id, now=now,
                     detail={"campaign": campaign.id, "to": addresses})
    return len(addresses)
