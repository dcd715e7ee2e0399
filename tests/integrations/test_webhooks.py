"""Outgoing event webhooks: a receiver on loopback hears each chosen event once, signed; one
that is down hears it later; URLs that point inward are refused; the page is admins' only."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from inbound import mails
from sqlalchemy import select

from newsletter import links
from newsletter.extensions import db
from newsletter.integrations import webhooks
from newsletter.models import (
    Campaign,
    CampaignStatus,
    MailingList,
    Role,
    Webhook,
    WebhookDelivery,
    utcnow,
)
from newsletter.privacy import erasure
from newsletter.subscribers import confirmation, subscriptions

from .support import Served, serve, stop
from conftest import csrf_token

SECRET = "whsec-test-0123456789abcdef"
CHOSEN = ["subscribed", "confirmed", "unsubscribed", "bounced", "complained", "erasure_done"]


@pytest.fixture
def people(app):
    app.config["NEWSLETTER_WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver is on 127.0.0.1
    return mails.make_people(app)


def send_due(app, now) -> int:
    with app.app_context():
        try:
            return webhooks.send_due(db.session, app.config, now)
        finally:
            db.session.remove()


def received(receiver: Served, now) -> list[tuple[str, dict]]:
    """(event, data) of every POST, after checking its signature."""
    out = []
    for headers, body in receiver.posts():
        assert webhooks.verify_signature(SECRET, headers[webhooks.SIGNATURE_HEADER], body, now)
        payload = json.loads(body)
        assert headers["X-Newsletter-Event"] == payload["event"]
        out.append((payload["event"], payload["data"]))
    return out


def register_in_admin(admin_client, url: str, events: list[str]):
    token = csrf_token(admin_client, "/admin/webhooks")
    return admin_client.post("/admin/webhooks", data={
        "csrf_token": token, "url": url, "events": events, "secret": SECRET})


def test_a_receiver_gets_each_chosen_event_once_signed(app, admin_client, people, receiver):
    page = register_in_admin(admin_client, receiver.url + "/hook", CHOSEN)
    assert page.status_code == 200 and SECRET in page.get_data(as_text=True)
    config, now = app.config, mails.NOW
    with app.app_context():
        session = db.session
        weekly = session.get(MailingList, people.weekly)
        weekly.double_opt_in = True
        outcome = subscriptions.subscribe(session, subscriptions.SubscribeRequest(
            email="carol@example.org", lists=[weekly]), now=now, config=config)
        session.commit()
        carol = outcome.subscriber.id
        confirmation.confirm(session, carol, [people.weekly], now=now, config=config)
        session.commit()
    # One-click unsubscribe (the PostgreSQL fast path on PostgreSQL).
    token = links.unsubscribe_token(config, people.alice, people.offers)
    assert app.test_client().post(f"/u/{token}", data="List-Unsubscribe=One-Click",
                                  content_type="application/x-www-form-urlencoded"
                                  ).status_code < 400
    with app.app_context():
        from newsletter.inbound.poll import process

        process(db.session, config, mails.dsn(config, people.bob, people.campaign, status="5.1.1",
                                              diagnostic="550 5.1.1 user unknown",
                                              recipient="bob@example.com",
                                              message_id="<dsn-9@mx.example.net>"), now)
        process(db.session, config, mails.arf(config, people.alice, people.campaign,
                                              message_id="<arf-9@fbl.example.net>"), now)
        db.session.remove()
    sent_at = utcnow()
    # Sent before the erasure, which would cancel what is still queued about Carol.
    assert send_due(app, sent_at) == 6
    with app.app_context():
        erasure.erase(db.session, "carol@example.org", config=config, now=now, actor="cli")
        db.session.commit()
        # Finished, but not chosen: never sent.
        db.session.add(Campaign(subject="Done", status=CampaignStatus.sending, dispatched_at=now))
        db.session.commit()
        from newsletter.sending import campaigns

        assert campaigns.finish_sent(db.session, now) == 1
        db.session.remove()

    assert send_due(app, sent_at) == 1
    events = received(receiver, sent_at)
    assert sorted(e for e, _ in events) == sorted(
        ["subscribed", "confirmed", "unsubscribed", "bounced", "unsubscribed", "complained",
         "erasure_done"])
    by_event = dict(events)
    left = {data["method"]: data for e, data in events if e == "unsubscribed"}
    assert by_event["subscribed"]["email"] == "carol@example.org"
    assert by_event["confirmed"]["list"] == "weekly"
    assert left["one-click"]["lists"] == ["offers"]
    assert left["one-click"]["subscriber_id"] == people.alice
    assert by_event["bounced"]["decision"] == "hard" and by_event["bounced"]["suppressed"]
    assert left["complaint"]["lists"] == ["weekly"]  # the complaint left the remaining list
    assert by_event["complained"]["subscriber_id"] == people.alice
    # The erasure event names nobody: only the keyed hash.
    erased = [body for h, body in receiver.posts() if h["X-Newsletter-Event"] == "erasure_done"][0]
    assert b"carol" not in erased and set(by_event["erasure_done"]) == {"email_hash"}
    # Once each: nothing is left to send.
    assert send_due(app, sent_at + timedelta(hours=1)) == 0
    assert len(receiver.posts()) == 7


def test_a_receiver_that_is_down_gets_the_event_later(app, admin_client, people, receiver):
    with app.app_context():
        webhooks.register(db.session, url=receiver.url + "/hook", events=["subscribed"],
                          secret=SECRET, actor="cli", now=mails.NOW, config=app.config)
        subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email="dave@example.org", lists=[db.session.get(MailingList, people.weekly)]),
            now=mails.NOW, config=app.config)
        db.session.commit()
        db.session.remove()
    now = utcnow()
    receiver.status = 503
    assert send_due(app, now) == 0
    # The admin sees the attempt and the receiver's answer.
    page = admin_client.get("/admin/webhooks").get_data(as_text=True)
    assert "503 try later" in page
    stop(receiver)  # now it is not even listening
    assert send_due(app, now + timedelta(seconds=31)) == 0
    with app.app_context():
        row = db.session.scalars(select(WebhookDelivery)).one()
        assert (row.status, row.attempts, row.last_status) == ("queued", 2, None)
        assert "Connection" in row.last_response
        due = row.next_attempt_at
        db.session.remove()
    assert due == now + timedelta(seconds=31 + 60)  # 30 s, then 60 s: backoff doubles
    back = serve(Served(port=receiver.port))
    try:
        assert send_due(app, due - timedelta(seconds=1)) == 0  # not before its time
        assert send_due(app, due) == 1
        assert [e for e, _ in received(back, due)] == ["subscribed"]
        with app.app_context():
            row = db.session.scalars(select(WebhookDelivery)).one()
            assert (row.status, row.attempts, row.last_status) == ("sent", 3, 200)
            db.session.remove()
    finally:
        stop(back)
    assert [h[webhooks.SIGNATURE_HEADER] for h, _ in receiver.posts()]  # the 503 was signed too


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8080/hook", "http://localhost/hook", "http://[::1]/hook",
    "http://169.254.169.254/latest/meta-data/", "http://10.0.0.8/hook", "http://192.168.1.1/",
    "ftp://example.com/hook", "file:///etc/passwd", "http://user:pw@1.1.1.1/hook", "hook",
])
def test_urls_that_point_inward_or_are_not_http_are_refused(app, url):
    with app.app_context(), pytest.raises(webhooks.WebhookError):
        webhooks.register(db.session, url=url, events=["subscribed"], actor="cli",
                          now=mails.NOW, config=app.config)


def test_a_url_that_turned_private_is_not_called(app, people, receiver):
    with app.app_context():
        webhooks.register(db.session, url=receiver.url + "/hook", events=["subscribed"],
                          secret=SECRET, actor="cli", now=mails.NOW, config=app.config)
        subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email="erin@example.org", lists=[db.session.get(MailingList, people.weekly)]),
            now=mails.NOW, config=app.config)
        db.session.commit()
        db.session.remove()
    app.config["NEWSLETTER_WEBHOOK_ALLOW_PRIVATE"] = False
    assert send_due(app, utcnow()) == 0
    assert receiver.posts() == []
    with app.app_context():
        assert "not a public address" in db.session.scalars(select(WebhookDelivery)).one(
        ).last_response


def test_no_webhook_no_queue(app, people):
    with app.app_context():
        subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email="frank@example.org", lists=[db.session.get(MailingList, people.weekly)]),
            now=mails.NOW, config=app.config)
        db.session.commit()
        assert db.session.scalars(select(WebhookDelivery)).all() == []


def test_the_webhooks_page_is_for_admins_with_a_csrf_token(app, client, auth, people, receiver):
    auth.create(email="m@example.org", role=Role.marketer)
    auth.login(email="m@example.org")
    assert client.get("/admin/webhooks").status_code == 403
    auth.logout()
    auth.create()
    auth.login()
    assert client.post("/admin/webhooks", data={"url": receiver.url, "events": ["subscribed"]}
                       ).status_code == 400
    with app.app_context():
        assert db.session.scalars(select(Webhook)).all() == []
    refused = register_in_admin(client, receiver.url, ["no-such-event"])
    assert refused.status_code == 303
    page = client.get("/admin/webhooks").get_data(as_text=True)
    assert "unknown event" in page



def test_erasure_cancels_unsent_events_about_the_person_and_scrubs_the_address(app, people,
                                                                              receiver):
    with app.app_context():
        webhooks.register(db.session, url=receiver.url + "/hook",
                          events=["subscribed", "erasure_done"], secret=SECRET, actor="cli",
                          now=mails.NOW, config=app.config)
        subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email="gina@example.org", lists=[db.session.get(MailingList, people.weekly)]),
            now=mails.NOW, config=app.config)
        db.session.commit()
        erasure.erase(db.session, "gina@example.org", config=app.config, now=mails.NOW,
                      actor="cli")
        db.session.commit()
        rows = {row.event: row for row in db.session.scalars(select(WebhookDelivery))}
        assert rows["subscribed"].status == "cancelled"
        assert all("gina" not in row.payload for row in rows.values())
        db.session.remove()
    assert send_due(app, utcnow()) == 1
    assert [h["X-Newsletter-Event"] for h, _ in receiver.posts()] == ["erasure_done"]


def test_cli_adds_lists_sends_and_removes(app, runner, people, receiver):
    added = runner.invoke(args=["newsletter", "webhook", "add", receiver.url + "/hook",
                                "--event", "subscribed", "--secret-stdin"], input=SECRET + "\n")
    assert added.exit_code == 0, added.output
    webhook_id = int(added.output.strip().splitlines()[-1])
    assert f"{webhook_id}\t{receiver.url}/hook\tsubscribed" in runner.invoke(
        args=["newsletter", "webhook", "list"]).output
    with app.app_context():
        subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email="hal@example.org", lists=[db.session.get(MailingList, people.weekly)]),
            now=mails.NOW, config=app.config)
        db.session.commit()
    assert runner.invoke(args=["newsletter", "webhook", "send"]).output.strip() == "accepted 1"
    assert runner.invoke(args=["newsletter", "webhook", "remove", str(webhook_id)]).exit_code == 0
    app.config["NEWSLETTER_WEBHOOK_ALLOW_PRIVATE"] = False
    refused = runner.invoke(args=["newsletter", "webhook", "add", "http://10.1.2.3/",
                                  "--event", "subscribed"])
    assert refused.exit_code != 0 and "not a public address" in refused.output
