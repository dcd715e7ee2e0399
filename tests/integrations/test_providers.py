"""Sending services' event webhooks, with recorded sample payloads in each service's format
signed by test keys: what changes (suppression, unsubscribes, bounce counts) and what never
does (bad or missing signature, a stale timestamp, a replay, an address without our proof)."""

from __future__ import annotations

import json
import secrets
from datetime import UTC, datetime, timedelta

import pytest
from inbound import mails
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import (
    BounceEvent,
    InboundMessage,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)
from newsletter.models.subscribers import email_hash

from .support import (
    MAILGUN_KEY,
    TOPIC,
    SendGridSigner,
    Served,
    SnsSigner,
    about,
    mailgun_body,
    post_json,
    sample,
    serve,
    snapshot,
    stop,
)

POSTMARK_SECRET = "pm-" + "s3cr3t" * 4


@pytest.fixture(scope="module")
def sns():
    return SnsSigner.new()


@pytest.fixture(scope="module")
def sendgrid():
    return SendGridSigner.new()


@pytest.fixture
def cert_server(sns):
    # A fresh path per test: the verifier caches certificates by URL.
    state = serve(Served())
    state.files[f"/SimpleNotificationService-{secrets.token_hex(4)}.pem"] = sns.pem
    yield state
    stop(state)


@pytest.fixture
def people(app, cert_server, sendgrid):
    app.config.update(
        NEWSLETTER_SES_TOPIC_ARNS=TOPIC,
        NEWSLETTER_SES_SNS_URL=rf"http://127\.0\.0\.1:{cert_server.port}/",
        NEWSLETTER_POSTMARK_SECRET=POSTMARK_SECRET,
        NEWSLETTER_POSTMARK_USER="postmark", NEWSLETTER_POSTMARK_PASSWORD="pm-basic-password",
        NEWSLETTER_SENDGRID_PUBLIC_KEY=sendgrid.public,
        NEWSLETTER_MAILGUN_SIGNING_KEY=MAILGUN_KEY,
    )
    return mails.make_people(app)


def cert_url(server: Served) -> str:
    return server.url + next(iter(server.files))


def alice(app, people) -> dict[str, str]:
    return about(app.config, people.alice, people.campaign, "alice@example.net")


def subscriber(app, subscriber_id: int) -> Subscriber:
    with app.app_context():
        row = db.session.get(Subscriber, subscriber_id)
        db.session.expunge(row)
        return row


def suppression_reason(app, email: str) -> SuppressionReason | None:
    with app.app_context():
        digest = email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], email)
        row = db.session.scalar(select(Suppression).where(Suppression.email_hash == digest))
        return row.reason if row else None


def bounce_events(app, subscriber_id: int) -> list[tuple[str, bool]]:
    with app.app_context():
        return [(e.decision.value, e.counted) for e in db.session.scalars(
            select(BounceEvent).where(BounceEvent.subscriber_id == subscriber_id)
            .order_by(BounceEvent.id))]


def last_inbound(app) -> InboundMessage:
    with app.app_context():
        row = db.session.scalars(select(InboundMessage).order_by(InboundMessage.id.desc())).first()
        db.session.expunge(row)
        return row


def ses_post(client, server, sns, notification: str, **kwargs):
    return post_json(client, "/hooks/ses", json.dumps(sns.message(cert_url(server), notification,
                                                                  **kwargs)))


# --- Amazon SES through SNS ------------------------------------------------------------------


def test_ses_hard_bounce_suppresses(app, client, people, cert_server, sns):
    response = ses_post(client, cert_server, sns, sample("ses_bounce.json", **alice(app, people)))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {"handled": 1, "duplicates": 0, "ignored": 0}
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.bounce
    assert subscriber(app, people.alice).status is SubscriberStatus.bounced
    assert bounce_events(app, people.alice) == [("hard", True)]
    row = last_inbound(app)
    assert row.message_key.startswith("ses:0102017e3a1c3f5e")
    assert (row.verdict, row.subscriber_id, row.campaign_id) == ("bounce_hard", people.alice,
                                                                 people.campaign)
    assert subscriber(app, people.bob).status is SubscriberStatus.active


def test_ses_signature_version_1_is_accepted(app, client, people, cert_server, sns):
    response = ses_post(client, cert_server, sns, sample("ses_bounce.json", **alice(app, people)),
                        version="1")
    assert response.status_code == 200
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.bounce


def test_ses_complaint_unsubscribes_from_everything(app, client, people, cert_server, sns):
    response = ses_post(client, cert_server, sns, sample("ses_complaint.json", **alice(app, people)))
    assert response.status_code == 200
    with app.app_context():
        statuses = {s.list_id: s.status for s in db.session.scalars(
            select(Subscription).where(Subscription.subscriber_id == people.alice))}
    assert statuses == {people.weekly: SubscriptionStatus.unsubscribed,
                        people.offers: SubscriptionStatus.unsubscribed}
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.complaint
    assert subscriber(app, people.alice).status is SubscriberStatus.complained


def test_ses_subscription_confirmation_fetches_the_subscribe_url(app, client, people, cert_server,
                                                                 sns):
    cert_server.files["/"] = b"<ConfirmSubscriptionResponse/>"
    subscribe_url = cert_server.url + "/?Action=ConfirmSubscription&Token=2336412f"
    message = sns.message(cert_url(cert_server), kind="SubscriptionConfirmation",
                          subscribe_url=subscribe_url)
    before = snapshot(app)
    assert post_json(client, "/hooks/ses", json.dumps(message)).status_code == 200
    assert ("GET", "/?Action=ConfirmSubscription&Token=2336412f") in [
        (method, path) for method, path, _h, _b in cert_server.requests]
    assert snapshot(app) == before


@pytest.mark.parametrize("spoil", ["signature", "message", "topic", "cert_host", "missing",
                                   "stale"])
def test_ses_refuses_what_amazon_did_not_sign_for_us(app, client, people, cert_server, sns, spoil):
    notification = sample("ses_bounce.json", **alice(app, people))
    url = cert_url(cert_server)
    message = sns.message(url, notification)
    if spoil == "signature":
        message["Signature"] = sns.message(url, notification.replace("5.1.1", "5.1.2"))["Signature"]
    elif spoil == "message":
        message["Message"] = notification.replace("bob", "alice")  + " "
    elif spoil == "topic":
        message = sns.message(url, notification, topic="arn:aws:sns:eu-west-1:999999999999:mine")
    elif spoil == "cert_host":
        # Signed correctly, but the certificate lives where Amazon does not.
        message = sns.message(url.replace("127.0.0.1", "localhost"), notification)
    elif spoil == "missing":
        del message["Signature"]
    elif spoil == "stale":
        message = sns.message(url, notification,
                              timestamp=datetime.now(UTC) - timedelta(hours=2))
    before = snapshot(app)
    response = post_json(client, "/hooks/ses", json.dumps(message))
    assert response.status_code == 401
    assert snapshot(app) == before


def test_ses_replayed_notification_changes_nothing(app, client, people, cert_server, sns):
    body = json.dumps(sns.message(cert_url(cert_server), sample("ses_bounce.json",
                                                                **alice(app, people))))
    assert post_json(client, "/hooks/ses", body).status_code == 200
    after_first = snapshot(app)
    again = post_json(client, "/hooks/ses", body)
    assert again.status_code == 200 and again.json["duplicates"] == 1
    assert snapshot(app) == after_first


# --- Postmark --------------------------------------------------------------------------------


def test_postmark_hard_bounce_matched_by_our_message_id(app, client, people):
    # The returned headers carry our keyed Message-ID and no VERP token.
    response = post_json(client, f"/hooks/postmark/{POSTMARK_SECRET}",
                         sample("postmark_bounce.json", **alice(app, people)))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.bounce
    row = last_inbound(app)
    assert row.message_key == "postmark:4323372036854775807"
    assert any("matched by our Message-ID" in reason for reason in row.reasons)


def test_postmark_spam_complaint_with_basic_auth(app, client, people):
    response = post_json(client, "/hooks/postmark", sample("postmark_spam_complaint.json",
                                                           **alice(app, people)),
                         auth=("postmark", "pm-basic-password"))
    assert response.status_code == 200
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.complaint


@pytest.mark.parametrize("how", ["wrong-secret", "no-secret", "wrong-password"])
def test_postmark_without_the_secret_changes_nothing(app, client, people, how):
    body = sample("postmark_bounce.json", **alice(app, people))
    before = snapshot(app)
    if how == "wrong-secret":
        response = post_json(client, "/hooks/postmark/" + POSTMARK_SECRET[:-1] + "x", body)
    elif how == "no-secret":
        response = post_json(client, "/hooks/postmark", body)
    else:
        response = post_json(client, "/hooks/postmark", body, auth=("postmark", "guess"))
    assert response.status_code == 401
    assert snapshot(app) == before


# --- SendGrid --------------------------------------------------------------------------------


def test_sendgrid_signed_bounce_suppresses_and_other_events_are_ignored(app, client, people,
                                                                         sendgrid):
    body = sample("sendgrid_events.json", **alice(app, people)).encode()
    response = post_json(client, "/hooks/sendgrid", body, sendgrid.headers(body))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {"handled": 1, "duplicates": 0, "ignored": 1}
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.bounce


@pytest.mark.parametrize("spoil", ["tampered", "other-key", "missing", "stale"])
def test_sendgrid_refused_requests_change_nothing(app, client, people, sendgrid, spoil):
    body = sample("sendgrid_events.json", **alice(app, people)).encode()
    headers = sendgrid.headers(body)
    if spoil == "tampered":
        body = body.replace(b"5.1.1", b"5.1.2")
    elif spoil == "other-key":
        headers = SendGridSigner.new().headers(body)
    elif spoil == "missing":
        headers = {}
    elif spoil == "stale":
        headers = sendgrid.headers(body, int(datetime.now(UTC).timestamp()) - 3600)
    before = snapshot(app)
    assert post_json(client, "/hooks/sendgrid", body, headers).status_code == 401
    assert snapshot(app) == before


def test_an_address_without_our_message_id_acts_on_nobody(app, client, people, sendgrid):
    # Alice's address, but the Message-ID of Bob's copy: the address alone proves nothing.
    values = alice(app, people)
    values["MESSAGE_ID"] = about(app.config, people.bob, people.campaign, "bob@example.com")[
        "MESSAGE_ID"]
    body = sample("sendgrid_events.json", **values).encode()
    before = snapshot(app)
    assert post_json(client, "/hooks/sendgrid", body, sendgrid.headers(body)).status_code == 200
    assert suppression_reason(app, "alice@example.net") is None
    assert bounce_events(app, people.alice) == []
    row = last_inbound(app)
    assert row.subscriber_id is None and "nobody" in row.action
    after = snapshot(app)
    assert after["subscribers"] == before["subscribers"]


# --- Mailgun ---------------------------------------------------------------------------------


def test_mailgun_permanent_failure_suppresses(app, client, people):
    response = post_json(client, "/hooks/mailgun",
                         mailgun_body("mailgun_failed_permanent.json", alice(app, people)))
    assert response.status_code == 200, response.get_data(as_text=True)
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.bounce
    assert last_inbound(app).message_key == "mailgun:G9Bn5sl1TC6nu79C8C0bwg"


def test_mailgun_temporary_failure_is_recorded_not_counted(app, client, people):
    response = post_json(client, "/hooks/mailgun",
                         mailgun_body("mailgun_failed_temporary.json", alice(app, people)))
    assert response.status_code == 200
    assert bounce_events(app, people.alice) == [("delayed", False)]
    assert subscriber(app, people.alice).status is SubscriberStatus.active


def test_mailgun_complaint_unsubscribes_from_everything(app, client, people):
    response = post_json(client, "/hooks/mailgun",
                         mailgun_body("mailgun_complained.json", alice(app, people)))
    assert response.status_code == 200
    assert suppression_reason(app, "alice@example.net") is SuppressionReason.complaint
    with app.app_context():
        assert {s.status for s in db.session.scalars(select(Subscription).where(
            Subscription.subscriber_id == people.alice))} == {SubscriptionStatus.unsubscribed}


def test_mailgun_replayed_token_is_refused(app, client, people):
    body = mailgun_body("mailgun_failed_temporary.json", alice(app, people))
    assert post_json(client, "/hooks/mailgun", body).status_code == 200
    after_first = snapshot(app)
    assert post_json(client, "/hooks/mailgun", body).status_code == 401
    assert snapshot(app) == after_first


@pytest.mark.parametrize("spoil", ["key", "stale", "missing"])
def test_mailgun_refused_requests_change_nothing(app, client, people, spoil):
    values = alice(app, people)
    if spoil == "key":
        body = mailgun_body("mailgun_failed_permanent.json", values, key="key-not-ours")
    elif spoil == "stale":
        body = mailgun_body("mailgun_failed_permanent.json", values,
                            timestamp=int(datetime.now(UTC).timestamp()) - 3600)
    else:
        payload = json.loads(mailgun_body("mailgun_failed_permanent.json", values))
        del payload["signature"]
        body = json.dumps(payload).encode()
    before = snapshot(app)
    assert post_json(client, "/hooks/mailgun", body).status_code == 401
    assert snapshot(app) == before


# --- one failure, two messengers -------------------------------------------------------------


def test_same_hard_bounce_by_mail_and_by_webhook_counts_once(app, client, people, cert_server, sns):
    dsn = mails.dsn(app.config, people.alice, people.campaign, status="5.1.1",
                    diagnostic="550 5.1.1 <alice@example.net>: User unknown",
                    message_id="<dsn-1@mx.example.net>")
    with app.app_context():
        process(db.session, app.config, dsn, mails.NOW)
    assert ses_post(client, cert_server, sns,
                    sample("ses_bounce.json", **alice(app, people))).status_code == 200
    assert bounce_events(app, people.alice) == [("hard", True), ("hard", False)]
    assert "already counted" in last_inbound(app).action


def test_same_soft_bounce_by_webhook_and_by_mail_counts_once(app, client, people, cert_server,
                                                            sns):
    # Days apart, so only the one-copy rule (not the once-a-day rule) keeps the count at one.
    notification = json.loads(sample("ses_bounce.json", **alice(app, people)))
    notification["bounce"].update(bounceType="Transient", bounceSubType="MailboxFull")
    notification["bounce"]["bouncedRecipients"][0].update(
        status="5.2.2", diagnosticCode="smtp; 552 5.2.2 Mailbox full")
    assert ses_post(client, cert_server, sns, json.dumps(notification)).status_code == 200
    dsn = mails.dsn(app.config, people.alice, people.campaign, status="5.2.2",
                    diagnostic="552 5.2.2 Mailbox full", message_id="<dsn-2@mx.example.net>")
    with app.app_context():
        process(db.session, app.config, dsn, mails.NOW + timedelta(days=400))
    assert bounce_events(app, people.alice) == [("soft", True), ("soft", False)]
    assert subscriber(app, people.alice).bounce_score == 1


def test_a_provider_that_is_not_configured_is_not_there(app, client, people):
    app.config["NEWSLETTER_MAILGUN_SIGNING_KEY"] = ""
    assert post_json(client, "/hooks/mailgun", b"{}").status_code == 404
    assert post_json(client, "/hooks/elasticemail", b"{}").status_code == 404
