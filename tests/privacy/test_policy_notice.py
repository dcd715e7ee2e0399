"""End to end (real SMTP server, both databases): a material policy change is told in the next
newsletter each subscriber receives, recorded with its "sent" mark, and mailed on its own at the
deadline to whoever a newsletter did not reach, once."""

from __future__ import annotations

from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser

import pytest
from campaign_support import NOW, add_subscribers, drain, make_list, new_campaign
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Delivery, DeliveryStatus, MailingList, PolicyNotice
from newsletter.privacy import policy
from newsletter.sending import campaigns, mailer
from newsletter.sending.store import PortableStore, PostgresStore
from newsletter.sending.transport import transport_from_config

NOTICE = "Our privacy policy has changed"


def publish(app, summary: str = "We now keep bounce records for 90 days.", **kwargs):
    version = policy.publish(db.session, body=kwargs.pop("body", "# Policy\n\nWe keep little.\n"),
                             summary=summary, material=kwargs.pop("material", True),
                             now=kwargs.pop("now", NOW), config=app.config, actor="test", **kwargs)
    db.session.commit()
    return version


def start(app, list_id: int, subject: str = "News") -> int:
    """A campaign to one list, dispatched: one queued Delivery per subscriber."""
    campaign = new_campaign(db.session, db.session.get(MailingList, list_id), subject=subject)
    campaigns.send_now(campaign, NOW)
    db.session.commit()
    campaign_id = campaign.id
    campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
    db.session.remove()
    return campaign_id


def send(app, list_id: int, subject: str = "News") -> tuple[int, int]:
    campaign_id = start(app, list_id, subject)
    return campaign_id, drain(app, clock=lambda: NOW + timedelta(minutes=1))


def text_of(message) -> str:
    """Both decoded parts of a received message (read from the raw bytes the server got)."""
    parsed = BytesParser(policy=email_policy.default).parsebytes(message.raw)
    return "\n".join(part.get_content() for part in parsed.walk()
                     if part.get_content_maintype() == "text")


def notices(session):
    return {(n.subscriber_id, n.policy_version_id): (n.how, n.campaign_id)
            for n in session.scalars(select(PolicyNotice))}


def sweep_and_send(app, now) -> int:
    queued = policy.sweep(db.session, app.config, now)
    transport = transport_from_config(app.config)
    try:
        mailer.send_queued(db.session, transport, now)
    finally:
        transport.close()
    return queued


def test_material_change_told_once_in_next_newsletter_then_standalone_at_deadline(app, smtp):
    with app.app_context():
        first, second = make_list(db.session, "first"), make_list(db.session, "second")
        first_id = first.id
        readers = add_subscribers(db.session, first, 2)
        (loner,) = add_subscribers(db.session, second, 1, prefix="loner")
        version = publish(app)
        version_id, label = version.id, version.version
        assert set(notices(db.session).values()) == {(None, None)}  # three owe it

        campaign_id, sent = send(app, first_id, "June news")
        assert sent == 2
        received = smtp.wait_for(2)
        assert sorted(m.rcpt_tos[0] for m in received) == ["reader0@example.net",
                                                            "reader1@example.net"]
        for message in received:
            body = text_of(message)
            # Both parts carry the block, with the summary and the link to the version.
            assert body.count(NOTICE) == 2, body
            assert "We now keep bounce records for 90 days." in body
            assert f"http://newsletter.test/privacy/v/{version_id}" in body
            assert f"version {label}" in body
        recorded = notices(db.session)
        assert recorded[(readers[0], version_id)] == ("newsletter", campaign_id)
        assert recorded[(readers[1], version_id)] == ("newsletter", campaign_id)
        assert recorded[(loner, version_id)] == (None, None)

        smtp.clear()
        _, sent = send(app, first_id, "July news")
        assert sent == 2
        assert not any(NOTICE in text_of(m) for m in smtp.wait_for(2))

        # Before the deadline nobody gets a standalone notice.
        smtp.clear()
        deadline = NOW + timedelta(days=app.config["NEWSLETTER_POLICY_NOTICE_DAYS"])
        assert sweep_and_send(app, deadline - timedelta(minutes=1)) == 0
        assert sweep_and_send(app, deadline) == 1
        (alone,) = smtp.wait_for(1)
        assert alone.rcpt_tos == ["loner0@example.net"]
        assert b"\r\nSubject: Our privacy policy has changed\r\n" in alone.raw
        assert f"http://newsletter.test/privacy/v/{version_id}" in text_of(alone)
        assert notices(db.session)[(loner, version_id)][0] == "standalone"
        assert policy.stats(db.session)[version_id] == {
            "newsletter": 2, "standalone": 1, "owed": 0, "gone": 0}

        smtp.clear()
        assert sweep_and_send(app, deadline + timedelta(days=1)) == 0
        assert smtp.messages == []


def test_subscriber_owing_two_versions_gets_one_block_naming_the_latest(app, smtp):
    with app.app_context():
        news = make_list(db.session)
        news_id = news.id
        (reader,) = add_subscribers(db.session, news, 1)
        older = publish(app, summary="First change.").id
        newer = publish(app, summary="Second change.").id
        _, sent = send(app, news_id, "News")
        assert sent == 1
        body = text_of(smtp.wait_for(1)[0])
        assert body.count(NOTICE) == 2  # one block in each part, not two per part
        assert "Second change." in body and "First change." not in body
        assert f"/privacy/v/{newer}" in body
        recorded = notices(db.session)
        assert recorded[(reader, older)][0] == recorded[(reader, newer)][0] == "newsletter"


def test_minor_version_owes_nobody_anything(app, smtp):
    with app.app_context():
        news = make_list(db.session)
        news_id = news.id
        add_subscribers(db.session, news, 1)
        publish(app, material=False)
        assert notices(db.session) == {}
        send(app, news_id, "News")
        assert NOTICE not in text_of(smtp.wait_for(1)[0])


@pytest.fixture
def lost_marks(monkeypatch):
    """The worker dies between the SMTP reply and the mark: the mark never reaches the
    database (both stores), and the lease runs out."""
    monkeypatch.setattr(PortableStore, "mark_sent", lambda self, *args, **kwargs: None)
    monkeypatch.setattr(PostgresStore, "mark_sent", lambda self, *args, **kwargs: None)
    return monkeypatch


def test_crash_before_the_mark_repeats_the_notice_at_most_once_and_never_loses_it(
        app, smtp, lost_marks):
    with app.app_context():
        news = make_list(db.session)
        news_id = news.id
        (reader,) = add_subscribers(db.session, news, 1)
        version_id = publish(app).id
        # One round only: the row stays "sending" under a lease nobody renews.
        campaign_id = start(app, news_id)
        drain(app, clock=lambda: NOW, rounds=1)
        assert NOTICE in text_of(smtp.wait_for(1)[0])
        assert notices(db.session)[(reader, version_id)] == (None, None)  # not lost: still owed

        lost_marks.undo()
        later = NOW + timedelta(minutes=30)  # the lease is over: another worker resumes
        drain(app, clock=lambda: later)
        received = smtp.wait_for(2)
        assert len(received) == 2 and NOTICE in text_of(received[1])
        assert notices(db.session)[(reader, version_id)] == ("newsletter", campaign_id)
        assert db.session.scalar(select(Delivery.status)) is DeliveryStatus.sent
        smtp.clear()
        send(app, news_id, "Next")
        assert NOTICE not in text_of(smtp.wait_for(1)[0])
