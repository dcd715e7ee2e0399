"""Erasure: after it, no column of any table holds the address or the name, on either database.

Ann's and Bob's data come from the real flows (people.py); Bob's must stay.
"""

from __future__ import annotations

import io

from campaign_support import NOW
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
from newsletter.privacy import data_requests, erasure
from newsletter.sending import campaigns
from newsletter.subscribers import confirmation, imports, subscriptions, suppression

from .people import ANN, ANN_NAME, BOB, BOB_NAME, find_text
from conftest import csrf_token


def _verify_erasure_request(app, client, email) -> str:
    with app.app_context():
        digest = suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], email)
        request = db.session.scalar(select(PrivacyRequest).where(PrivacyRequest.email_hash == digest))
        url = f"/privacy/verify/{data_requests.verification_token(app.config, request)}"
    response = client.post(url, data={"csrf_token": csrf_token(client, url)})
    assert response.status_code == 200
    return response.get_data(as_text=True)


def test_an_erasure_request_by_bare_from_waits_for_the_mailed_link(app, world):
    # The world mailed "Delete my data" from Ann's address with nothing but the From to go by.
    with app.app_context():
        digest = suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], ANN)
        [request] = db.session.scalars(select(PrivacyRequest).where(
            PrivacyRequest.email_hash == digest)).all()
        assert (request.source, request.status) == ("reply", PrivacyRequestStatus.unverified)
        assert db.session.get(Subscriber, world.ann).email == ANN
        assert db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == erasure.ACTION)).all() == []
        [link] = db.session.scalars(select(OutboundMail).where(
            OutboundMail.kind == data_requests.VERIFY_KIND, OutboundMail.to_address == ANN)).all()
        assert b"/privacy/verify/" in link.raw


def test_a_verified_erasure_leaves_no_trace_in_any_column(app, client, smtp, world):
    with app.app_context():
        assert find_text(db.session, ANN, ANN_NAME)  # the scan sees the data before
    smtp.clear()
    page = _verify_erasure_request(app, client, ANN)
    assert "Your data has been deleted" in page

    with app.app_context():
        session = db.session
        assert find_text(session, ANN, ANN_NAME, "quillfeather") == []
        # Bob is untouched: his address, name, mail and notes are all still there.
        assert {"subscriber.email", "subscriber.name", "inbound_message.raw",
                "bounce_event.detail", "audit_event.note", "delivery.smtp_response",
                "outbound_mail.raw"} <= set(find_text(session, BOB, BOB_NAME))
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
        assert find_text(db.session, ANN)
    assert "already erased" not in _erase_by_cli(runner)
    with app.app_context():
        assert find_text(db.session, ANN, ANN_NAME) == []


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
        assert find_text(db.session, ANN, ANN_NAME) == []
        [row] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.erase"))
        assert row.actor == "admin:admin@example.org"
    listing = admin_client.get("/admin/privacy?show=all").get_data(as_text=True)
    assert "erased 20" in listing and "by admin:admin@example.org" in listing
