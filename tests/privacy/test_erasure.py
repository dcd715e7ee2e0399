"""Erasure: after it, no column of any table holds the address or the name, on either database.

The person's data is made by the real flows (form subscribe + confirm, a campaign sent through
the test SMTP server, a DSN and an erasure request read from the reply mailbox, an admin note),
next to a second person on the same list, campaign and inbox, whose data must stay.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass

import pytest
from campaign_support import NOW, drain
from inbound import mails
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import (
    AuditEvent,
    BounceEvent,
    ConsentEvent,
    Delivery,
    MailingList,
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from newsletter.privacy import audit, data_requests, erasure
from newsletter.sending import campaigns, mailer
from newsletter.subscribers import confirmation, imports, subscriptions, suppression

from conftest import csrf_token

ANN, ANN_NAME = "ann.quill@example.org", "Annabel Quillfeather"
BOB, BOB_NAME = "bob.stone@example.com", "Robert Stone"


@dataclass
class World:
    list_id: int
    campaign_id: int
    ann: int
    bob: int


def _subscribe(session, config, email, name, mailing_list) -> int:
    outcome = subscriptions.subscribe(session, subscriptions.SubscribeRequest(
        email=email, lists=[mailing_list], name=name, ip="203.0.113.7",
        user_agent=f"Browser for {email}", wording="Yes, send me Weekly"), now=NOW, config=config)
    session.flush()
    confirmation.confirm(session, outcome.subscriber.id, [mailing_list.id], now=NOW,
                         config=config, ip="203.0.113.8", user_agent=f"Browser for {email}")
    session.commit()
    return outcome.subscriber.id


@pytest.fixture
def world(app) -> World:
    """Ann and Bob on one list, one campaign sent to both, mail from both in the inbox."""
    config = app.config
    with app.app_context():
        session = db.session
        weekly = MailingList(slug="weekly", name="Weekly", sender_name="Weekly",
                             sender_address="news@news.example.org")
        session.add(weekly)
        session.commit()
        ann = _subscribe(session, config, ANN, ANN_NAME, weekly)
        bob = _subscribe(session, config, BOB, BOB_NAME, weekly)
        campaign = campaigns.create(session, subject="Weekly #1", body="Hi {{ subscriber.name }}",
                                    list_ids=[weekly.id], now=NOW)
        campaigns.send_now(campaign, NOW)
        session.commit()
        campaigns.dispatch_due_campaigns(session, config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        session.commit()
        world = World(weekly.id, campaign.id, ann, bob)
    drain(app)
    with app.app_context():
        session = db.session
        # A server reply that quotes the address (some do), in another case.
        for delivery in session.scalars(select(Delivery)):
            who = ANN.upper() if delivery.subscriber_id == ann else BOB
            delivery.smtp_response = f"250 2.0.0 <{who}> queued as 4XyZ"
        # A soft bounce quoting the address, and an erasure request by bare From.
        for person, email in ((ann, ANN), (bob, BOB)):
            process(session, config, mails.dsn(config, person, campaign.id, status="5.2.2",
                                               diagnostic=f"552 5.2.2 <{email}> mailbox full",
                                               message_id=f"<dsn-{person}@mx>", recipient=email),
                    NOW)
            process(session, config, mails.plain(
                f"{ANN_NAME if person == ann else BOB_NAME} <{email}>", "privacy@news.example.org",
                f"Delete my data ({email})", "Please delete all my data.",
                message_id=f"<erase-{person}@example.org>"), NOW)
        # A third person's mail that quotes the address (in capitals) in its body.
        process(session, config, mails.plain(
            "Carol <carol@example.net>", "privacy@news.example.org", "A question",
            f"My friend {ANN.upper()} asked me to write to you.", message_id="<carol@example.net>"),
            NOW)
        # The worker keeps the SMTP reply of a refusal, which often quotes the address.
        bounces = session.scalars(select(BounceEvent)).all()
        assert {b.subscriber_id for b in bounces} == {ann, bob}
        for bounce in bounces:
            who = ANN.title() if bounce.subscriber_id == ann else BOB
            bounce.detail = f"552 5.2.2 <{who}>: mailbox full; {bounce.detail}"
        # An officer's note quoting each address.
        for email, name in ((ANN, ANN_NAME), (BOB, BOB_NAME)):
            audit.record(session, actor="admin:officer@example.org", action="note",
                         subject_type="list", subject_id=world.list_id, now=NOW,
                         detail={"caller": email}, note=f"{name} phoned about {email}")
        session.commit()
        mailer.send_committed(session, config, None, NOW)
    return world


def _find(session, *needles: str) -> list[str]:
    """Every (table.column) whose value contains a needle, case-insensitively, in any type."""
    found = []
    for table in db.metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            for column, value in row.items():
                if isinstance(value, bytes):
                    text = value.decode("latin-1")
                elif isinstance(value, (dict, list)):
                    text = json.dumps(value, ensure_ascii=False)
                else:
                    text = str(value)
                found += [f"{table.name}.{column}" for n in needles if n.lower() in text.lower()]
    return sorted(set(found))


def _verify_erasure_request(app, client, email) -> str:
    with app.app_context():
        digest = suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], email)
        request = db.session.scalar(select(PrivacyRequest).where(PrivacyRequest.email_hash == digest))
        url = f"/privacy/verify/{data_requests.verification_token(app.config, request)}"
    response = client.post(url, data={"csrf_token": csrf_token(client, url)})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_a_verified_erasure_leaves_no_trace_in_any_column(app, client, smtp, world):
    with app.app_context():
        assert _find(db.session, ANN, ANN_NAME)  # the scan sees the data before
    smtp.clear()
    page = _verify_erasure_request(app, client, ANN)
    assert "Your data has been deleted" in page

    with app.app_context():
        session = db.session
        assert _find(session, ANN, ANN_NAME, "quillfeather") == []
        # Bob is untouched: his address, name, mail and notes are all still there.
        assert {"subscriber.email", "subscriber.name", "inbound_message.raw",
                "bounce_event.detail", "audit_event.note", "delivery.smtp_response",
                "outbound_mail.raw"} <= set(_find(session, BOB, BOB_NAME))
        tombstone = session.get(Subscriber, world.ann)
        assert tombstone.status is SubscriberStatus.erased
        digest = suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], ANN)
        assert tombstone.email_hash == digest
        # Consent proof stays, anonymised, ending with the withdrawal by erasure.
        events = session.scalars(select(ConsentEvent).where(
            ConsentEvent.subscriber_id == world.ann).order_by(ConsentEvent.id)).all()
        assert [e.granted for e in events] == [True, False]
        assert {(e.ip, e.user_agent) for e in events} == {(None, None)}
        row = session.scalar(select(Suppression).where(Suppression.email_hash == digest))
        assert row.reason is SuppressionReason.erasure
        request = session.scalar(select(PrivacyRequest).where(PrivacyRequest.email_hash == digest))
        assert request.status is PrivacyRequestStatus.completed
        assert request.detail["erased_by"] == "link" and "email" not in request.detail
        [done] = session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
        assert done.detail["email_hash"] == digest and done.actor == "link"
        # The last mail went out; its stored copy holds nothing any more.
        [last] = session.scalars(select(OutboundMail).where(OutboundMail.kind == "privacy-erased"))
        assert (last.status, last.raw, last.to_address) == ("sent", b"", "")
    [message] = smtp.to(ANN)
    assert message.message["Subject"] == "Your personal data has been deleted"


def test_after_erasure_dispatch_skips_import_refuses_and_own_opt_in_works(app, runner, world):
    _erase_by_cli(runner)
    with app.app_context():
        session, config = db.session, app.config
        campaign = campaigns.create(session, subject="Weekly #2", body="Hi",
                                    list_ids=[world.list_id], now=NOW)
        campaigns.send_now(campaign, NOW)
        session.commit()
        campaigns.dispatch_due_campaigns(session, config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        session.commit()
        assert set(session.scalars(select(Delivery.subscriber_id).where(
            Delivery.campaign_id == campaign.id))) == {world.bob}

        report = imports.import_csv(session, io.StringIO(f"email,name\n{ANN},{ANN_NAME}\n"),
                                    world.list_id, consent_basis="existing", now=NOW,
                                    config=config)
        session.commit()
        assert (report.suppressed, report.subscribed, report.pending) == (1, 0, 0)
        assert session.scalar(select(Subscriber).where(Subscriber.email == ANN)) is None

        weekly = session.get(MailingList, world.list_id)
        outcome = subscriptions.subscribe(session, subscriptions.SubscribeRequest(
            email=ANN, lists=[weekly], name="Ann"), now=NOW, config=config)
        session.commit()
        assert not outcome.suppressed and [m.to_address for m in outcome.mails] == [ANN]
        assert suppression.is_suppressed(session, config["NEWSLETTER_SUPPRESSION_KEY"], ANN)
        confirmation.confirm(session, outcome.subscriber.id, [weekly.id], now=NOW, config=config)
        session.commit()
        assert not suppression.is_suppressed(session, config["NEWSLETTER_SUPPRESSION_KEY"], ANN)
        subscription = session.scalar(select(Subscription).where(
            Subscription.subscriber_id == outcome.subscriber.id))
        assert subscription.status is SubscriptionStatus.confirmed


def test_an_admin_cannot_lift_an_erasure_by_adding_the_address(app, runner, world):
    _erase_by_cli(runner)
    with app.app_context():
        weekly = db.session.get(MailingList, world.list_id)
        outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email=ANN, lists=[weekly], actor="admin:someone@example.org"),
            now=NOW, config=app.config)
        assert outcome.suppressed and outcome.mails == []


def _erase_by_cli(runner) -> str:
    result = runner.invoke(args=["newsletter", "privacy", "erase", ANN.upper(), "--yes"])
    assert result.exit_code == 0, result.output
    return result.output


def test_erasing_twice_is_a_noop(app, runner, smtp, world):
    first = _erase_by_cli(runner)
    assert first.startswith("erased (subscriber 1")
    with app.app_context():
        before = (db.session.query(AuditEvent).count(), db.session.query(OutboundMail).count())
    assert "already erased" in _erase_by_cli(runner)
    with app.app_context():
        after = (db.session.query(AuditEvent).count(), db.session.query(OutboundMail).count())
    assert after == before


def test_a_late_bounce_for_the_tombstone_is_scrubbed_by_a_second_erasure(app, runner, world):
    _erase_by_cli(runner)
    with app.app_context():
        process(db.session, app.config, mails.dsn(
            app.config, world.ann, world.campaign_id, status="5.2.2",
            diagnostic=f"552 5.2.2 <{ANN}> mailbox full", message_id="<late@mx>",
            recipient=ANN), NOW)
        late = db.session.scalars(select(BounceEvent).order_by(BounceEvent.id.desc())).first()
        assert late.subscriber_id == world.ann  # the VERP token names the tombstone
        late.detail = f"552 5.2.2 <{ANN}>: mailbox full"
        db.session.commit()
        assert _find(db.session, ANN)
    assert "already erased" not in _erase_by_cli(runner)
    with app.app_context():
        assert _find(db.session, ANN, ANN_NAME) == []


def test_an_unknown_address_is_erased_and_told_like_a_known_one(app, runner, smtp):
    result = runner.invoke(args=["newsletter", "privacy", "erase", "nobody@example.org", "--yes"])
    assert result.exit_code == 0, result.output
    with app.app_context():
        [mail] = db.session.scalars(select(OutboundMail).where(
            OutboundMail.kind == erasure.MAIL_KIND))
        assert mail.status == "sent"
        assert suppression.is_suppressed(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                         "nobody@example.org")


def test_admin_erasure_needs_the_confirmation_box(app, admin_client, world):
    with app.app_context():
        digest = suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], ANN)
        request_id = db.session.scalar(select(PrivacyRequest.id).where(
            PrivacyRequest.email_hash == digest))
    url = f"/admin/privacy/{request_id}/erase"
    page = admin_client.get(url).get_data(as_text=True)
    assert ANN in page and "has not confirmed" in page
    token = csrf_token(admin_client, url)
    admin_client.post(url, data={"csrf_token": token})
    with app.app_context():
        assert db.session.get(Subscriber, world.ann).email == ANN
    response = admin_client.post(url, data={"csrf_token": token, "confirm": "erase"})
    assert response.status_code == 303
    with app.app_context():
        assert _find(db.session, ANN, ANN_NAME) == []
        [row] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
        assert row.actor == "admin:admin@example.org"
    listing = admin_client.get("/admin/privacy?show=all").get_data(as_text=True)
    assert "erased 20" in listing and "by admin:admin@example.org" in listing
