"""Transactional mail as the SMTP server received it: the same From, List-Id, List-Unsubscribe and
DKIM signature as the list's campaign mail, read from the raw bytes (STYLE.md: a library default
once folded List-Unsubscribe into RFC 2047 encoded words, and the decoded header hid it)."""

from __future__ import annotations

import re
from email.header import decode_header, make_header

import pytest
from campaign_support import NOW, SELECTOR, dkim_valid, write_dkim_key
from sqlalchemy import select

from newsletter import links
from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import (
    Campaign,
    MailingList,
    PrivacyRequestKind,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.privacy import data_requests
from newsletter.sending import campaigns, compose, mailer, proofs

from conftest import csrf_token, deliver_queued, make_app

# A list name long enough to fold List-Id, and a sender name that needs RFC 2047.
LIST_NAME = "The Rhineland Weekly: everything that happened between Basel and Rotterdam this week"
SENDER_NAME = "Redaktion Köln – Grüße aus dem Rheinland und darüber hinaus, jede Woche neu"


@pytest.fixture
def signed_app(database_url, tmp_path, smtp):
    key_file, txt = write_dkim_key(tmp_path)
    app = make_app(database_url, tmp_path, smtp.port, NEWSLETTER_DKIM_KEY_FILE=str(key_file),
                   NEWSLETTER_DKIM_SELECTOR=SELECTOR)
    app.config["TEST_DKIM_TXT"] = txt
    with app.app_context():
        db.session.add(MailingList(slug="weekly", name=LIST_NAME, sender_name=SENDER_NAME,
                                   sender_address="news@news.example.org", public=True))
        db.session.commit()
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def field(raw: bytes, name: str) -> bytes | None:
    """The raw value of a header field, folding kept (None when absent)."""
    head = raw.split(b"\r\n\r\n", 1)[0]
    found = re.search(rb"(?:^|\r\n)" + name.encode() + rb": (.*?)\r\n(?![ \t])", head + b"\r\n",
                      re.DOTALL | re.IGNORECASE)
    return found.group(1) if found else None


def campaign_from(app, mailing_list: MailingList) -> bytes:
    """The From line the list's campaign mail carries."""
    campaign = Campaign(id=1, subject="News", body="Hi", body_format="markdown")
    compiled = compose.compile_campaign(campaigns.content_for(campaign, mailing_list), app.config)
    raw = compiled.render(compose.Recipient(1, "reader@example.net", list_id=mailing_list.id), NOW).raw
    return field(raw, "From")


def assert_signed(app, raw: bytes) -> None:
    assert dkim_valid(raw, app.config["TEST_DKIM_TXT"])
    signed = field(raw, "DKIM-Signature").replace(b"\r\n", b"").split(b"h=")[1].split(b";")[0]
    assert set(signed.decode().split(":")) >= {"from", "to", "subject", "date", "message-id"}
    assert raw.isascii() and max(map(len, raw.split(b"\r\n"))) <= 998


def assert_list_mail(app, raw: bytes, email: str) -> None:
    """List-Unsubscribe, -Post, List-Id and From exactly as the list's campaign mail has them."""
    with app.app_context():
        weekly = db.session.scalar(select(MailingList).where(MailingList.slug == "weekly"))
        subscriber_id = db.session.scalar(select(Subscriber.id).where(Subscriber.email == email))
        url = links.unsubscribe_url(app.config, subscriber_id, weekly.id)
        mailto = links.unsubscribe_mailto(app.config, subscriber_id, weekly.id)
        expected_from = campaign_from(app, weekly)
    unsubscribe = field(raw, "List-Unsubscribe")
    # RFC 2369: plain `<URI>` items; a fold only after the comma between them, never inside one.
    assert b"=?" not in unsubscribe
    assert all(line.endswith(b",") for line in unsubscribe.split(b"\r\n")[:-1])
    assert unsubscribe.replace(b"\r\n", b"") == f"<{url}>, <{mailto}>".encode()
    assert url.startswith("http") and mailto.startswith("mailto:unsubscribe+")
    assert field(raw, "List-Unsubscribe-Post") == b"List-Unsubscribe=One-Click"
    list_id = field(raw, "List-Id")
    assert list_id.replace(b"\r\n", b"") == f'"{LIST_NAME}" <weekly.news.example.org>'.encode()
    assert field(raw, "From") == expected_from
    name, address = expected_from.replace(b"\r\n", b"").decode().rsplit(" ", 1)
    # Decoded the RFC 2047 way (whitespace between adjacent encoded words is dropped).
    assert (str(make_header(decode_header(name))), address) == (SENDER_NAME,
                                                                "<news@news.example.org>")
    assert field(raw, "Reply-To").startswith(b"reply+")
    assert_signed(app, raw)


def test_confirmation_and_subscribed_mail_carry_the_lists_headers_signed(signed_app, smtp):
    client = signed_app.test_client()
    token = csrf_token(client, "/subscribe/weekly")
    response = client.post("/subscribe/weekly", data={"email": "ada@example.org", "name": "Ada",
                                                      "country": "GB", "csrf_token": token})
    assert response.status_code == 200
    deliver_queued(signed_app)
    (confirmation,) = smtp.wait_for(1)
    assert confirmation.message["Subject"].startswith("Please confirm")
    assert_list_mail(signed_app, confirmation.raw, "ada@example.org")

    text = confirmation.message.get_body(("plain",)).get_content()
    path = re.search(r"http://newsletter\.test(/confirm/\S+)", text).group(1)
    assert client.post(path).status_code == 200
    deliver_queued(signed_app)
    subscribed = smtp.wait_for(2)[1]
    assert subscribed.message["Subject"].startswith("You are subscribed")
    assert_list_mail(signed_app, subscribed.raw, "ada@example.org")


def test_you_left_mail_carries_the_lists_headers_signed(signed_app, smtp):
    app = signed_app
    with app.app_context():
        weekly = db.session.scalar(select(MailingList))
        subscriber = Subscriber(email="bea@example.net", status=SubscriberStatus.active)
        db.session.add(subscriber)
        db.session.flush()
        db.session.add(Subscription(subscriber=subscriber, mailing_list=weekly,
                                    status=SubscriptionStatus.confirmed, confirmed_at=NOW))
        db.session.commit()
        reply = (b"From: Bea <bea@example.net>\r\nTo: news@news.example.org\r\n"
                 b"Subject: unsubscribe\r\nMessage-ID: <leave@example.net>\r\n\r\n"
                 b"Please unsubscribe me.\r\n")
        process(db.session, app.config, reply, NOW)
        db.session.commit()
        assert mailer.send_committed(db.session, app.config, None, NOW) == 1
    (left,) = smtp.wait_for(1)
    assert left.message["Subject"].startswith("You are unsubscribed")
    assert_list_mail(app, left.raw, "bea@example.net")


def test_privacy_verification_is_signed_system_mail(signed_app, smtp):
    app = signed_app
    with app.app_context():
        _, mail = data_requests.open_request(db.session, kind=PrivacyRequestKind.access,
                                             email="cy@example.org", source="form", now=NOW,
                                             config=app.config)
        mailer.commit_and_send(db.session, app.config, [mail], NOW)
    (received,) = smtp.wait_for(1)
    raw = received.raw
    # About a person, not a list: the service's sender, no list headers, auto-generated.
    assert field(raw, "From") == app.config["MAIL_DEFAULT_SENDER"].encode()
    assert field(raw, "List-Unsubscribe") is None and field(raw, "List-Id") is None
    assert field(raw, "Auto-Submitted") == b"auto-generated"
    assert received.mail_from == app.config["MAIL_DEFAULT_SENDER"]
    assert b"/privacy/verify/" in raw
    assert_signed(app, raw)


def test_campaign_test_send_is_signed_like_the_campaign(signed_app, smtp):
    app = signed_app
    with app.app_context():
        weekly = db.session.scalar(select(MailingList))
        campaign = campaigns.create(db.session, list_ids=[weekly.id], now=NOW, subject="Hello",
                                    body="Hi {{ subscriber.name }}")
        proofs.test_send(db.session, campaign, ["editor@example.org"], app.config, NOW)
        db.session.commit()
        assert mailer.send_committed(db.session, app.config, None, NOW) == 1
    (received,) = smtp.wait_for(1)
    assert field(received.raw, "Subject") == b"[Test] Hello"
    assert_signed(app, received.raw)


def test_header_breaks_in_subject_or_address_are_refused(signed_app):
    for values in ({"subject": "Hi\r\nBcc: victim@example.org"}, {"to": "a@example.org\nBcc: b"}):
        with pytest.raises(ValueError, match="line breaks"):
            mailer.build_message(signed_app.config, **{"to": "a@example.org", "subject": "Hi",
                                                       **values}, text="x", now=NOW)
