"""Acting on verdicts: what changes in the database (and which mail is queued) per message."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound import handle as handle_module
from newsletter.inbound.handle import policy_rejections
from newsletter.inbound.poll import process
from newsletter.models import (
    ConsentEvent,
    ConsentMethod,
    InboundMessage,
    InboundStatus,
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.subscribers import suppression

from . import mails
from .mails import NOW


@pytest.fixture
def people(app):
    return mails.make_people(app)


def run(app, raw: bytes, now=NOW) -> InboundMessage:
    with app.app_context():
        process(db.session, app.config, raw, now)
        return db.session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()


def statuses(app, subscriber_id: int) -> dict[int, SubscriptionStatus]:
    with app.app_context():
        rows = db.session.scalars(select(Subscription).where(
            Subscription.subscriber_id == subscriber_id))
        return {row.list_id: row.status for row in rows}


def queued(app, kind: str) -> list[OutboundMail]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundMail).where(OutboundMail.kind == kind)))


def suppressed(app, email: str) -> bool:
    with app.app_context():
        return suppression.is_suppressed(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], email)


def test_reply_unsubscribes_from_the_campaigns_list_and_confirms_with_undo_link(app, people):
    raw = mails.reply(app.config, people.alice, people.campaign, "Please unsubscribe me.",
                      message_id="<u1@example.net>")
    row = run(app, raw)
    assert row.verdict == "unsubscribe" and row.subscriber_id == people.alice
    assert statuses(app, people.alice) == {people.weekly: SubscriptionStatus.unsubscribed,
                                           people.offers: SubscriptionStatus.confirmed}
    with app.app_context():
        event = db.session.scalar(select(ConsentEvent).where(ConsentEvent.granted.is_(False)))
        assert event.method is ConsentMethod.reply and event.purpose == "newsletter:weekly"
    [mail] = queued(app, "reply-unsubscribed")
    assert mail.to_address == "alice@example.net"
    assert b"http://newsletter.test/u/" in mail.raw
    assert not suppressed(app, "alice@example.net")


def test_the_same_message_twice_acts_once(app, people):
    raw = mails.reply(app.config, people.alice, people.campaign, "Please unsubscribe me.",
                      message_id="<twice@example.net>")
    run(app, raw)
    run(app, raw)
    with app.app_context():
        assert db.session.query(InboundMessage).count() == 1
        assert db.session.query(ConsentEvent).count() == 1
    assert len(queued(app, "reply-unsubscribed")) == 1


def test_unsubscribe_by_bare_from_leaves_every_list_and_mails_undo_links(app, people):
    raw = mails.plain("Alice <Alice@Example.net>", "news@news.example.org", "unsubscribe",
                      "Please remove me from all your lists.", message_id="<u2@example.net>")
    row = run(app, raw)
    assert row.action.endswith("by-from")
    assert set(statuses(app, people.alice).values()) == {SubscriptionStatus.unsubscribed}
    [mail] = queued(app, "reply-unsubscribed")
    body = mail.raw.split(b"\r\n\r\n", 1)[1]  # (List-Unsubscribe in the head has one more)
    assert body.count(b"http://newsletter.test/u/") == 2  # one undo link per list


def test_unsubscribe_from_an_unknown_address_waits_for_a_person(app, people):
    raw = mails.plain("stranger@example.org", "news@news.example.org", "Re: hi",
                      "Please unsubscribe me.", message_id="<u3@example.net>")
    row = run(app, raw)
    assert row.status is InboundStatus.needs_human


def test_list_unsubscribe_mailto_leaves_that_list_whatever_the_body_says(app, people):
    from newsletter import tokens

    token = tokens.address_token(app.config["SECRET_KEY"], "unsubscribe", people.alice,
                                 people.offers)
    raw = mails.plain("alice@example.net", f"unsubscribe+{token}@news.example.org",
                      "unsubscribe", "hello", message_id="<u4@example.net>")
    run(app, raw)
    assert statuses(app, people.alice) == {people.weekly: SubscriptionStatus.confirmed,
                                           people.offers: SubscriptionStatus.unsubscribed}
    assert queued(app, "reply-unsubscribed") == []


def test_forged_token_is_ignored(app, people):
    raw = mails.reply(app.config, people.alice, people.campaign, "Please unsubscribe me.",
                      message_id="<u5@example.net>", sender="bob@example.com")
    raw = raw.replace(b"reply+r", b"reply+r0")  # the MAC no longer matches
    row = run(app, raw)
    assert row.subscriber_id == people.bob  # fell back to From
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed


def test_hard_bounce_with_token_suppresses(app, people):
    raw = mails.dsn(app.config, people.alice, people.campaign, status="5.1.1",
                    diagnostic="550 5.1.1 User unknown", message_id="<b1@mx>")
    row = run(app, raw)
    assert row.verdict == "bounce_hard" and row.action == "bounce-hard: suppressed"
    assert suppressed(app, "alice@example.net")
    with app.app_context():
        assert db.session.get(Subscriber, people.alice).status is SubscriberStatus.bounced
        # A bounce stops the mail but is not the person withdrawing consent.
        assert db.session.query(ConsentEvent).count() == 0
    assert set(statuses(app, people.alice).values()) == {SubscriptionStatus.confirmed}


def test_bounce_without_our_token_suppresses_nobody(app, people):
    raw = mails.dsn(app.config, people.alice, people.campaign, status="5.1.1",
                    diagnostic="550 5.1.1 User unknown", message_id="<b2@mx>", with_token=False)
    row = run(app, raw)
    assert row.verdict == "bounce_hard" and row.subscriber_id is None
    assert not suppressed(app, "alice@example.net")


def test_policy_rejection_is_counted_per_campaign_and_domain_never_suppressed(app, people):
    for n in range(3):
        run(app, mails.dsn(app.config, people.alice, people.campaign, status="5.7.1",
                           diagnostic="550 5.7.1 rejected as spam", message_id=f"<p{n}@mx>"))
    assert not suppressed(app, "alice@example.net")
    with app.app_context():
        assert policy_rejections(db.session) == [(people.campaign, "example.net", 3)]


def test_soft_bounces_on_different_days_suppress_at_the_limit_after_a_quiet_reset(app, people):
    app.config["NEWSLETTER_SOFT_BOUNCE_LIMIT"] = 3
    app.config["NEWSLETTER_SOFT_BOUNCE_WINDOW_DAYS"] = 10

    def bounce(n, when):
        run(app, mails.dsn(app.config, people.alice, people.campaign, status="5.2.2",
                           diagnostic="552 5.2.2 Mailbox full", message_id=f"<s{n}@mx>"), when)

    bounce(0, NOW - timedelta(days=30))  # followed by a quiet window: the score starts again
    bounce(1, NOW - timedelta(days=2))
    bounce(2, NOW - timedelta(days=1))
    assert not suppressed(app, "alice@example.net")
    bounce(3, NOW)
    assert suppressed(app, "alice@example.net")


def test_complaint_unsubscribes_from_everything_and_suppresses(app, people):
    row = run(app, mails.arf(app.config, people.alice, people.campaign, message_id="<c1@isp>"))
    assert row.verdict == "complaint"
    assert set(statuses(app, people.alice).values()) == {SubscriptionStatus.unsubscribed}
    assert suppressed(app, "alice@example.net")
    with app.app_context():
        assert db.session.get(Subscriber, people.alice).status is SubscriberStatus.complained


def test_complaint_without_token_suppresses_nobody(app, people):
    run(app, mails.arf(app.config, people.alice, people.campaign, message_id="<c2@isp>",
                       with_token=False))
    assert not suppressed(app, "alice@example.net")
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed


def test_access_request_by_bare_from_gets_a_verification_link(app, people):
    raw = mails.plain("bob@example.com", "privacy@news.example.org", "My data",
                      "What personal data do you have about me?", message_id="<a1@example.com>")
    row = run(app, raw)
    assert row.verdict == "access_request"
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest))
        assert request.kind is PrivacyRequestKind.access
        assert request.status is PrivacyRequestStatus.unverified
        assert request.subscriber_id == people.bob and request.source == "reply"
        assert request.due_at == NOW.replace(month=7)
    [mail] = queued(app, "privacy-verify")
    assert mail.to_address == "bob@example.com" and b"/privacy/verify/" in mail.raw


def test_erasure_request_by_reply_is_verified_at_the_subscribers_own_address(app, people):
    # A forwarded newsletter carries the same reply token: the link goes to the subscriber.
    raw = mails.reply(app.config, people.alice, people.campaign, "Please delete all my data.",
                      message_id="<e1@example.net>", sender="friend@example.org")
    row = run(app, raw)
    assert row.verdict == "erasure_request"
    [mail] = queued(app, "privacy-verify")
    assert mail.to_address == "alice@example.net"
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed


def test_auto_reply_is_recorded_and_ignored(app, people):
    row = run(app, mails.out_of_office(app.config, people.alice, people.campaign,
                                       message_id="<o1@example.net>"))
    assert row.verdict == "auto_reply" and row.action == "ignored"
    assert row.status is InboundStatus.done
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed


def test_question_waits_in_the_inbox(app, people):
    row = run(app, mails.reply(app.config, people.alice, people.campaign,
                               "When is the next workshop?", message_id="<q1@example.net>"))
    assert row.verdict == "human" and row.status is InboundStatus.needs_human
    assert row.subscriber_id == people.alice and row.raw


def test_a_failure_while_acting_is_kept_for_a_person(app, people, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("database said no")

    monkeypatch.setitem(handle_module.ACTIONS, handle_module.Kind.unsubscribe, broken)
    row = run(app, mails.reply(app.config, people.alice, people.campaign,
                               "Please unsubscribe me.", message_id="<f1@example.net>"))
    assert row.verdict == "human" and row.status is InboundStatus.needs_human
    assert any("acting failed" in reason for reason in row.reasons)
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed


def test_request_naming_another_address_waits_for_a_person(app, people):
    row = run(app, mails.reply(app.config, people.alice, people.campaign,
                               "Please unsubscribe carol@example.org, she left.",
                               message_id="<other@example.net>"))
    assert row.verdict == "unsubscribe" and row.status is InboundStatus.needs_human
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed


def test_dmarc_authentication_failure_report_unsubscribes_nobody(app, people):
    raw = mails.arf(app.config, people.alice, people.campaign, message_id="<af@isp>")
    row = run(app, raw.replace(b"Feedback-Type: abuse", b"Feedback-Type: auth-failure"))
    assert row.verdict == "complaint" and row.action.startswith("recorded")
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed
    assert not suppressed(app, "alice@example.net")


def test_forwarded_newsletter_answered_by_another_subscriber_waits_for_a_person(app, people):
    # Bob replies "unsubscribe me" to the newsletter Alice forwarded him: the token is Alice's.
    row = run(app, mails.reply(app.config, people.alice, people.campaign,
                               "Please unsubscribe me.", message_id="<fwd@example.com>",
                               sender="bob@example.com"))
    assert row.status is InboundStatus.needs_human
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.confirmed
    assert statuses(app, people.bob)[people.weekly] is SubscriptionStatus.confirmed


def test_unsubscribe_and_delete_my_data_does_both(app, people):
    row = run(app, mails.reply(app.config, people.alice, people.campaign,
                               "Unsubscribe me and delete my data, please.",
                               message_id="<both@example.net>"))
    assert row.verdict == "erasure_request"
    assert row.action.startswith("privacy-request-") and "unsubscribed" in row.action
    assert statuses(app, people.alice)[people.weekly] is SubscriptionStatus.unsubscribed
    assert [m.to_address for m in queued(app, "privacy-verify")] == ["alice@example.net"]


def test_hard_bounce_of_a_forwarding_target_only_counts(app, people):
    raw = mails.dsn(app.config, people.alice, people.campaign, status="5.1.1",
                    diagnostic="550 5.1.1 User unknown", message_id="<fwd-b@mx>",
                    recipient="alice.old@elsewhere.example")
    row = run(app, raw)
    assert row.verdict == "bounce_hard" and row.action == "bounce-soft: counted, score 1"
    assert not suppressed(app, "alice@example.net")


def test_control_characters_in_headers_are_stored_cleanly(app, people):
    raw = (b"From: Eve\x00 <eve@example.org>\r\nTo: news@news.example.org\r\n"
           b"Subject: Hello\x00 there\x07\r\nMessage-ID: <nul\x00@x>\r\n\r\nHi\x00 there\r\n")
    row = run(app, raw)
    assert row.subject == "Hello there" and "\x00" not in row.message_key
    assert row.status is InboundStatus.needs_human
