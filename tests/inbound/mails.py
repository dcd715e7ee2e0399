"""Messages as they reach the reply mailbox, addressed with real tokens, and the people they
concern. Shared by the handle, mailbox and end-to-end tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import Header

from newsletter import links
from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
NEWSLETTER = (
    "Hello,\n\nThis week: ten tips for your garden.\n\n--\n"
    "You receive this because you subscribed to Weekly.\n"
    "To unsubscribe, click here: http://newsletter.test/u/abc\n"
)


@dataclass
class People:
    """Ids of the rows the tests act on."""

    weekly: int
    offers: int
    alice: int
    bob: int
    campaign: int


def make_people(app) -> People:
    """Two lists; alice on both, bob on weekly; one campaign to weekly."""
    with app.app_context():
        weekly = MailingList(slug="weekly", name="Weekly", sender_address="news@news.example.org")
        offers = MailingList(slug="offers", name="Offers")
        alice = Subscriber(email="alice@example.net", status=SubscriberStatus.active)
        bob = Subscriber(email="bob@example.com", status=SubscriberStatus.active)
        db.session.add_all([weekly, offers, alice, bob])
        db.session.flush()
        for subscriber, lists in ((alice, (weekly, offers)), (bob, (weekly,))):
            for mailing_list in lists:
                db.session.add(Subscription(subscriber=subscriber, mailing_list=mailing_list,
                                            status=SubscriptionStatus.confirmed, confirmed_at=NOW))
        campaign = Campaign(subject="Weekly #12", lists=[weekly])
        db.session.add(campaign)
        db.session.commit()
        return People(weekly.id, offers.id, alice.id, bob.id, campaign.id)


def _mail(headers: dict[str, str], body: str, content_type: str = "text/plain; charset=utf-8"
          ) -> bytes:
    lines = [f"{k}: {v}" for k, v in headers.items()]
    lines += ["MIME-Version: 1.0", f"Content-Type: {content_type}",
              "Content-Transfer-Encoding: 8bit", "", body]
    return "\r\n".join(lines).replace("\n", "\r\n").replace("\r\r\n", "\r\n").encode()


def quoted(text: str = NEWSLETTER) -> str:
    """The newsletter as a mail client quotes it below a reply."""
    return ("On Mon, 1 Jun 2026 at 09:00, Weekly <news@news.example.org> wrote:\n"
            + "\n".join("> " + line for line in text.splitlines()))


def reply(config, subscriber_id: int, campaign_id: int, text: str, *, message_id: str,
          sender: str = "Alice <alice@example.net>", extra: dict | None = None,
          subject: str = "Re: Weekly #12") -> bytes:
    """A reply to a newsletter: to the reply+ address, the newsletter quoted below."""
    headers = {"From": sender, "To": links.reply_address(config, subscriber_id, campaign_id),
               "Subject": subject, "Date": "Mon, 01 Jun 2026 10:00:00 +0000",
               "Message-ID": message_id, **(extra or {})}
    return _mail(headers, text + "\n\n" + quoted())


def plain(sender: str, to: str, subject: str, text: str, *, message_id: str) -> bytes:
    """A fresh mail (not a reply): no token anywhere; a non-ASCII subject RFC 2047-encoded, as
    mail clients send it (raw 8-bit header bytes make the classifier wait for a person)."""
    if not subject.isascii():
        subject = Header(subject, "utf-8").encode()
    return _mail({"From": sender, "To": to, "Subject": subject, "Message-ID": message_id,
                  "Date": "Mon, 01 Jun 2026 10:00:00 +0000"}, text)


def out_of_office(config, subscriber_id: int, campaign_id: int, *, message_id: str) -> bytes:
    """An RFC 3834 auto-reply that quotes the newsletter, "unsubscribe" and all."""
    return reply(config, subscriber_id, campaign_id,
                 "I am out of the office until June 10. Please unsubscribe me? No: just wait.",
                 message_id=message_id, subject="Automatic reply: Weekly #12",
                 extra={"Auto-Submitted": "auto-replied"})


def dsn(config, subscriber_id: int, campaign_id: int, *, status: str, diagnostic: str,
        message_id: str, recipient: str = "alice@example.net", with_token: bool = True,
        action: str | None = None) -> bytes:
    """An RFC 3464 bounce to the VERP address, our message's headers returned."""
    bounce = links.bounce_address(config, subscriber_id, campaign_id) if with_token \
        else "news@news.example.org"
    action = action or ("delayed" if status.startswith("4") else "failed")
    body = f"""--BND
Content-Type: text/plain; charset=us-ascii

This is the mail system at host mx.example.net. Your message could not be delivered.

--BND
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.net

Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {diagnostic}

--BND
Content-Type: text/rfc822-headers

Return-Path: <{bounce}>
From: Weekly <news@news.example.org>
To: {recipient}
Subject: Weekly #12

--BND--"""
    return _mail({"From": "MAILER-DAEMON@mx.example.net", "To": bounce,
                  "Subject": "Undelivered Mail Returned to Sender", "Message-ID": message_id,
                  "Auto-Submitted": "auto-replied"}, body,
                 'multipart/report; report-type=delivery-status; boundary="BND"')


def arf(config, subscriber_id: int, campaign_id: int, *, message_id: str,
        with_token: bool = True) -> bytes:
    """An RFC 5965 abuse report that returns our message."""
    bounce = links.bounce_address(config, subscriber_id, campaign_id) if with_token \
        else "news@news.example.org"
    body = f"""--ARF
Content-Type: text/plain; charset=us-ascii

This is an email abuse report.

--ARF
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ISP-FBL/1.0
Version: 1
Original-Rcpt-To: <alice@example.net>

--ARF
Content-Type: message/rfc822

Return-Path: <{bounce}>
From: Weekly <news@news.example.org>
To: alice@example.net
Subject: Weekly #12

Hello
--ARF--"""
    return _mail({"From": "fbl@isp.example", "To": "abuse@news.example.org",
                  "Subject": "Abuse report", "Message-ID": message_id}, body,
                 'multipart/report; report-type=feedback-report; boundary="ARF"')
