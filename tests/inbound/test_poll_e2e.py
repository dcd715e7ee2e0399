"""The issue's end-to-end case against the test Dovecot: one `inbound poll` acts on each
message correctly and moves it; a second poll changes nothing."""

from __future__ import annotations

import pytest
from imapclient import IMAPClient
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    InboundMessage,
    InboundStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.subscribers import suppression

from . import mails


@pytest.fixture
def mailbox(imap):
    client = IMAPClient("127.0.0.1", port=imap.port, ssl=False)
    client.login(imap.user, imap.password)
    yield client
    client.logout()


def folder_counts(client) -> dict[str, int]:
    counts = {}
    for _flags, _sep, name in client.list_folders():
        counts[name] = client.folder_status(name, ["MESSAGES"])[b"MESSAGES"]
    return counts


def snapshot(app) -> list[tuple]:
    with app.app_context():
        rows = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id))
        subs = db.session.scalars(select(Subscription).order_by(Subscription.id))
        return ([(r.message_key, r.verdict, r.action, r.status) for r in rows]
                + [(s.id, s.status) for s in subs])


def test_one_poll_acts_on_each_message_and_moves_it_a_second_changes_nothing(
        app, runner, imap, mailbox, smtp):
    people = mails.make_people(app)
    app.config["NEWSLETTER_INBOUND"] = imap.url
    config = app.config
    messages = {
        "<unsub@example.net>": mails.reply(config, people.alice, people.campaign,
                                           "Please unsubscribe me from this newsletter.",
                                           message_id="<unsub@example.net>"),
        "<dsn@mx>": mails.dsn(config, people.bob, people.campaign, status="5.1.1",
                              diagnostic="550 5.1.1 <bob@example.com>: User unknown",
                              recipient="bob@example.com", message_id="<dsn@mx>"),
        "<arf@isp>": mails.arf(config, people.alice, people.campaign, message_id="<arf@isp>"),
        "<ooo@example.net>": mails.out_of_office(config, people.alice, people.campaign,
                                                 message_id="<ooo@example.net>"),
        "<question@example.net>": mails.reply(config, people.bob, people.campaign,
                                              "Can I bring a friend to the workshop?",
                                              message_id="<question@example.net>",
                                              sender="bob@example.com"),
    }
    # The out-of-office comes first so its quoted "unsubscribe" is seen before the complaint.
    for key in ("<ooo@example.net>", "<unsub@example.net>", "<dsn@mx>", "<question@example.net>",
                "<arf@isp>"):
        mailbox.append("INBOX", messages[key])

    result = runner.invoke(args=["newsletter", "inbound", "poll"])
    assert result.exit_code == 0, result.output
    assert "5 message(s): 5 handled" in result.output

    with app.app_context():
        rows = {r.message_key: r for r in db.session.scalars(select(InboundMessage))}
        assert {k: rows[k].verdict for k in messages} == {
            "<unsub@example.net>": "unsubscribe", "<dsn@mx>": "bounce_hard",
            "<arf@isp>": "complaint", "<ooo@example.net>": "auto_reply",
            "<question@example.net>": "human"}
        assert rows["<question@example.net>"].status is InboundStatus.needs_human
        assert rows["<ooo@example.net>"].action == "ignored"
        key = config["NEWSLETTER_SUPPRESSION_KEY"]
        assert suppression.is_suppressed(db.session, key, "bob@example.com")  # hard bounce
        assert suppression.is_suppressed(db.session, key, "alice@example.net")  # complaint
        statuses = {(s.subscriber_id, s.status) for s in db.session.scalars(select(Subscription))}
        # The complaint withdrew alice's consent; the bounce stops bob's mail but is no
        # withdrawal, so his subscription stays as it was.
        assert statuses == {(people.alice, SubscriptionStatus.unsubscribed),
                            (people.bob, SubscriptionStatus.confirmed)}
        assert db.session.get(Subscriber, people.bob).status is SubscriberStatus.bounced
    # The unsubscribe was confirmed to alice with an undo link.
    [confirmation] = smtp.wait_for(1)
    assert confirmation.rcpt_tos == ["alice@example.net"]
    assert "http://newsletter.test/u/" in confirmation.message.get_body(("plain",)).get_content()

    assert folder_counts(mailbox) == {"INBOX": 0, "Processed": 4, "NeedsHuman": 1}

    before = snapshot(app)
    again = runner.invoke(args=["newsletter", "inbound", "poll"])
    assert again.exit_code == 0 and "0 message(s)" in again.output
    assert snapshot(app) == before
    assert folder_counts(mailbox) == {"INBOX": 0, "Processed": 4, "NeedsHuman": 1}


def test_a_crash_between_commit_and_move_repeats_no_action(app, imap, mailbox, monkeypatch):
    from newsletter.inbound import mailbox as mailbox_module
    from newsletter.inbound.poll import poll

    people = mails.make_people(app)
    app.config["NEWSLETTER_INBOUND"] = imap.url
    mailbox.append("INBOX", mails.reply(app.config, people.alice, people.campaign,
                                        "Please unsubscribe me.", message_id="<crash@x>"))

    def crash(self, ref, folder):
        raise ConnectionError("connection lost")

    with monkeypatch.context() as patch:
        patch.setattr(mailbox_module.IMAPSource, "move", crash)
        with app.app_context(), pytest.raises(ConnectionError):
            poll(db.session, app.config)
    assert folder_counts(mailbox)["INBOX"] == 1  # committed, not moved
    before = snapshot(app)

    with app.app_context():
        result = poll(db.session, app.config)
    assert (result.seen, result.duplicates, result.handled) == (1, 1, 0)
    assert snapshot(app) == before
    assert folder_counts(mailbox) == {"INBOX": 0, "Processed": 1}


def test_huge_imap_message_is_fetched_as_headers_and_kept_for_a_person(app, imap, mailbox):
    from newsletter.inbound.poll import poll

    app.config.update(NEWSLETTER_INBOUND=imap.url, NEWSLETTER_INBOUND_MAX_BYTES=10_000)
    mailbox.append("INBOX", mails.plain("a@example.com", "news@news.example.org", "big",
                                        "please unsubscribe me\n" + "x" * 30_000,
                                        message_id="<huge@x>"))
    with app.app_context():
        result = poll(db.session, app.config)
        row = db.session.scalar(select(InboundMessage))
        assert (result.seen, result.needs_human) == (1, 1)
        assert row.verdict == "human" and len(row.raw) < 1000
    assert folder_counts(mailbox) == {"INBOX": 0, "NeedsHuman": 1}
