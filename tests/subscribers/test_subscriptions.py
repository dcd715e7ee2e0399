"""Subscribing and leaving, at the domain level and through the admin UI and CLI: single and
double opt-in, resend limit, purge of unconfirmed requests, lists, suppression, API tokens."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import (
    ApiToken,
    AuditEvent,
    ConsentEvent,
    ConsentMethod,
    MailingList,
    OutboundMail,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    utcnow,
)
from newsletter.subscribers import confirmation, one_click, subscriptions
from newsletter.subscribers.suppression import is_suppressed

from conftest import csrf_token


@pytest.fixture
def news(app):
    with app.app_context():
        row = MailingList(slug="news", name="News", sender_address="news@news.example.org")
        db.session.add(row)
        db.session.commit()
        return row.id


def do_subscribe(app, list_id, email="ada@example.org", now=None, **kwargs):
    with app.app_context():
        mailing_list = db.session.get(MailingList, list_id)
        outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email=email, lists=[mailing_list], **kwargs), now=now or utcnow(), config=app.config)
        db.session.commit()
        return len(outcome.mails), len(outcome.pending), len(outcome.confirmed)


def count(app, model, *where):
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def test_at_most_one_confirmation_per_address_and_list_per_hour(app, news):
    start = utcnow()
    assert do_subscribe(app, news, now=start) == (1, 1, 0)
    for minutes in (1, 30, 59):
        assert do_subscribe(app, news, now=start + timedelta(minutes=minutes))[0] == 0
    assert do_subscribe(app, news, now=start + timedelta(minutes=61))[0] == 1
    assert count(app, OutboundMail) == 2 and count(app, Subscription) == 1


def test_single_opt_in_list_subscribes_at_once_and_records_consent(app, news):
    with app.app_context():
        db.session.get(MailingList, news).double_opt_in = False
        db.session.commit()
    mails, pending, confirmed = do_subscribe(app, news, ip="192.0.2.7", wording="Yes please")
    assert (pending, confirmed) == (0, 1) and mails == 1  # the "you're subscribed" mail
    with app.app_context():
        event = db.session.scalar(select(ConsentEvent))
        assert (event.granted, event.ip, event.wording) == (True, "192.0.2.7", "Yes please")


def test_existing_consent_is_recorded_as_such_without_mail(app, news):
    assert do_subscribe(app, news, existing_consent=True, send_welcome=False,
                        method=ConsentMethod.api) == (0, 0, 1)
    with app.app_context():
        assert db.session.scalar(select(ConsentEvent.method)) is ConsentMethod.api


def test_purge_forgets_unconfirmed_requests_but_not_former_members(app, news):
    old = utcnow() - timedelta(days=30)
    do_subscribe(app, news, email="never@example.org", now=old)
    do_subscribe(app, news, email="fresh@example.org")
    do_subscribe(app, news, email="back@example.org", now=old, existing_consent=True,
                 send_welcome=False)
    with app.app_context():
        back = db.session.scalar(select(Subscription).join(Subscriber).where(
            Subscriber.email == "back@example.org"))
        back.status = SubscriptionStatus.pending  # asked to come back, never confirmed
        back.confirmation_sent_at = old
        db.session.commit()
        purged = subscriptions.purge_unconfirmed(db.session, now=utcnow(), max_age_days=14)
        db.session.commit()
        assert purged == 2
        emails = set(db.session.scalars(select(Subscriber.email)))
        assert emails == {"fresh@example.org", "back@example.org"}
        assert back.status is SubscriptionStatus.unsubscribed


def test_purge_job_is_scheduled(app):
    from newsletter import scheduler

    job = next(j for j in scheduler.jobs(app) if j.id == "retention")
    do_subscribe_time = utcnow() - timedelta(days=app.config["NEWSLETTER_PENDING_PURGE_DAYS"] + 1)
    with app.app_context():
        mailing_list = MailingList(slug="x", name="X")
        db.session.add(mailing_list)
        db.session.commit()
        list_id = mailing_list.id
    do_subscribe(app, list_id, now=do_subscribe_time)
    with app.app_context():
        job.func(app)
    assert count(app, Subscriber) == 0


def test_unsubscribe_keeps_its_signature_and_is_idempotent(app, news):
    do_subscribe(app, news, existing_consent=True, send_welcome=False)
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        for _ in range(2):
            subscriptions.unsubscribe(db.session, subscriber, list_ids=None,
                                      method=ConsentMethod.reply, now=utcnow(),
                                      suppression_key=app.config["NEWSLETTER_SUPPRESSION_KEY"])
        db.session.commit()
        assert subscriber.status is SubscriberStatus.unsubscribed
        assert is_suppressed(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], subscriber.email)
    assert count(app, ConsentEvent, ConsentEvent.granted.is_(False)) == 1


def test_cli_creates_a_list_and_subscribes_with_a_confirmation_mail(app, runner, smtp):
    result = runner.invoke(args=["newsletter", "lists", "create", "weekly", "--name", "Weekly",
                                 "--public"])
    assert result.exit_code == 0 and result.output.strip().splitlines()[-1] == "weekly"
    again = runner.invoke(args=["newsletter", "lists", "create", "weekly", "--name", "Weekly"])
    assert again.exit_code != 0 and "already exists" in again.output
    first_start = runner.invoke(args=["newsletter", "lists", "create", "news", "--name", "News",
                                      "--if-no-lists"])
    assert first_start.exit_code == 0 and first_start.output == ""  # `make run` seeds only once
    result = runner.invoke(args=["newsletter", "subscribe", "Ada@Example.org", "--list", "weekly",
                                 "--country", "DE"])
    assert result.exit_code == 0, result.output
    smtp.wait_for(1)
    assert smtp.to("ada@example.org")
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        assert result.output.strip().splitlines()[-1] == str(subscriber.id)
        assert subscriber.country == "DE"
    bad = runner.invoke(args=["newsletter", "subscribe", "x@example.org", "--list", "nope"])
    assert bad.exit_code != 0 and "no list" in bad.output


# --- admin UI -----------------------------------------------------------------------------------


def test_admin_creates_and_edits_a_list_refusing_header_injection(app, admin_client):
    token = csrf_token(admin_client, "/admin/lists/new")
    bad = admin_client.post("/admin/lists/new", data={
        "csrf_token": token, "slug": "news", "name": "News",
        "sender_name": "News\r\nBcc: victim@example.org", "sender_address": "n@example.org"})
    assert bad.status_code == 400 and "line breaks" in bad.get_data(as_text=True)
    ok = admin_client.post("/admin/lists/new", data={
        "csrf_token": token, "slug": "news", "name": "News", "sender_name": "Desk",
        "sender_address": "N@Example.org", "double_opt_in": "on"})
    assert ok.status_code == 302
    with app.app_context():
        row = db.session.scalar(select(MailingList))
        assert (row.sender_address, row.double_opt_in, row.public) == ("n@example.org", True, False)
        list_id = row.id
    admin_client.post(f"/admin/lists/{list_id}", data={"csrf_token": token, "name": "News 2",
                                                       "public": "on"})
    with app.app_context():
        assert db.session.get(MailingList, list_id).name == "News 2"
    assert "News 2" in admin_client.get("/admin/lists").get_data(as_text=True)


def test_admin_forms_need_csrf(admin_client):
    assert admin_client.post("/admin/lists/new", data={"slug": "x", "name": "X"}).status_code == 400


def test_admin_adds_searches_edits_and_unsubscribes_a_subscriber(app, admin_client, smtp, news):
    token = csrf_token(admin_client, "/admin/subscribers/new")
    response = admin_client.post("/admin/subscribers/new", data={
        "csrf_token": token, "email": "ada@example.org", "name": "Ada", "list": [str(news)],
        "consent_basis": "existing"})
    assert response.status_code == 302
    page = admin_client.get("/admin/subscribers?q=ADA&status=active").get_data(as_text=True)
    assert "ada@example.org" in page
    assert "ada@example.org" not in admin_client.get(
        f"/admin/subscribers?list_id={news}&status=pending").get_data(as_text=True)
    with app.app_context():
        subscriber_id = db.session.scalar(select(Subscriber.id))
    admin_client.post(f"/admin/subscribers/{subscriber_id}/edit",
                      data={"csrf_token": token, "name": "Ada L.", "country": "GB"})
    admin_client.post(f"/admin/subscribers/{subscriber_id}/unsubscribe",
                      data={"csrf_token": token, "list_id": str(news)})
    detail = admin_client.get(f"/admin/subscribers/{subscriber_id}").get_data(as_text=True)
    assert "Ada L." in detail and "United Kingdom" in detail
    assert "granted" in detail and "withdrawn" in detail  # the consent history
    assert count(app, AuditEvent, AuditEvent.action == "subscriber.edit") == 1


def test_admin_suppression_list_add_check_and_lift_with_reason(app, admin_client):
    token = csrf_token(admin_client, "/admin/suppressions")
    admin_client.post("/admin/suppressions", data={"csrf_token": token, "email": "x@example.org",
                                                   "reason": "manual", "note": "asked by phone"})
    assert count(app, Suppression) == 1
    page = admin_client.get("/admin/suppressions?check=X@example.org").get_data(as_text=True)
    assert "x@example.org is suppressed" in page.lower()
    admin_client.post("/admin/suppressions/lift", data={"csrf_token": token, "email": "x@example.org",
                                                        "reason": ""})
    assert count(app, Suppression) == 1  # no reason, no lift
    admin_client.post("/admin/suppressions/lift", data={"csrf_token": token, "email": "x@example.org",
                                                        "reason": "entered by mistake"})
    assert count(app, Suppression) == 0
    with app.app_context():
        audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "suppression.lift"))
        assert audit.note == "entered by mistake" and audit.actor == "admin:admin@example.org"


def test_api_tokens_are_shown_once_hashed_and_revocable(app, admin_client):
    token = csrf_token(admin_client, "/admin/api-tokens")
    page = admin_client.post("/admin/api-tokens", data={"csrf_token": token, "name": "website"})
    import re

    secret = re.search(r'id="new-token">([^<]+)<', page.get_data(as_text=True)).group(1)
    headers = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/lists", headers=headers).status_code == 200
    with app.app_context():
        row = db.session.scalar(select(ApiToken))
        assert secret not in row.token_hash
    assert secret not in admin_client.get("/admin/api-tokens").get_data(as_text=True)
    admin_client.post(f"/admin/api-tokens/{row.id}/revoke", data={"csrf_token": token})
    assert app.test_client().get("/api/v1/lists", headers=headers).status_code == 401


def test_api_tokens_page_is_for_admins_only(app, client, auth):
    auth.create(email="m@example.org", role=Role.marketer)
    auth.login(email="m@example.org")
    assert client.get("/admin/api-tokens").status_code == 403
    assert client.get("/admin/subscribers").status_code == 200


def test_confirming_queues_the_lists_welcome_campaign_instead_of_the_short_mail(app, news):
    from newsletter.models import Campaign, Delivery

    with app.app_context():
        welcome = Campaign(subject="Welcome!", body="Hello")
        db.session.add(welcome)
        db.session.flush()
        db.session.get(MailingList, news).welcome_campaign_id = welcome.id
        db.session.commit()
    do_subscribe(app, news)
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        outcome = confirmation.confirm(db.session, subscriber.id, [news], now=utcnow(),
                                        config=app.config, ip="192.0.2.1")
        db.session.commit()
        assert outcome.mails == []  # no "you're subscribed" mail: the welcome campaign says it
        assert db.session.scalar(select(func.count(Delivery.id))) == 1
        # Confirming again (a second click) changes nothing.
        again = confirmation.confirm(db.session, subscriber.id, [news], now=utcnow(), config=app.config)
        assert again.confirmed == [] and len(again.already) == 1
    assert count(app, ConsentEvent) == 1


def test_one_click_fast_path_matches_unsubscribe(app, news):
    """leave_list() (one SQL statement on PostgreSQL) leaves the same rows as unsubscribe()."""
    with app.app_context():
        other = MailingList(slug="other", name="Other")
        db.session.add(other)
        db.session.commit()
        other_id = other.id
    for email in ("fast@example.org", "orm@example.org"):
        for list_id in (news, other_id):
            do_subscribe(app, list_id, email=email, existing_consent=True, send_welcome=False)

    def state(email):
        db.session.expire_all()
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        events = db.session.scalars(select(ConsentEvent).where(
            ConsentEvent.subscriber_id == subscriber.id, ConsentEvent.granted.is_(False))
            .order_by(ConsentEvent.id)).all()
        return (subscriber.status,
                sorted((s.list_id, s.status, s.unsubscribed_at) for s in subscriber.subscriptions),
                [(e.purpose, e.method, e.ip, e.user_agent, e.wording, e.policy_version_id, e.at)
                 for e in events])

    with app.app_context():
        fast = db.session.scalar(select(Subscriber.id).where(Subscriber.email == "fast@example.org"))
        orm = db.session.get(Subscriber, db.session.scalar(
            select(Subscriber.id).where(Subscriber.email == "orm@example.org")))
        now = utcnow().replace(microsecond=0)
        client = {"ip": "192.0.2.9", "user_agent": "Mail/1.0", "wording": "one-click"}
        for step, list_id in enumerate((news, news, other_id)):
            changed = one_click.leave_list(db.session, fast, list_id,
                                               method=ConsentMethod.one_click, now=now, **client)
            assert changed is (step != 1)  # a repeat finds nothing to do
            subscriptions.unsubscribe(db.session, orm, list_ids=[list_id],
                                      method=ConsentMethod.one_click, now=now, **client)
            db.session.commit()
            assert state("fast@example.org") == state("orm@example.org")
            if step == 0:
                assert state("fast@example.org")[0] is SubscriberStatus.active
        final = state("fast@example.org")
        assert final[0] is SubscriberStatus.unsubscribed
        assert [e[0] for e in final[2]] == ["newsletter:news", "newsletter:other"]


def test_every_admin_page_of_this_area_renders(app, admin_client, news):
    do_subscribe(app, news, existing_consent=True, send_welcome=False)
    with app.app_context():
        subscriber_id = db.session.scalar(select(Subscriber.id))
    for url in ("/admin/lists", "/admin/lists/new", f"/admin/lists/{news}", "/admin/subscribers",
                f"/admin/subscribers?list_id={news}&status=confirmed&q=a&page=2",
                "/admin/subscribers?q=a%00b%0d%0a", "/admin/suppressions?check=a%00b",
                "/admin/subscribers/new", f"/admin/subscribers/{subscriber_id}",
                f"/admin/subscribers/{subscriber_id}/edit", "/admin/import", "/admin/suppressions",
                "/admin/api-tokens"):
        assert admin_client.get(url).status_code == 200, url
    assert admin_client.get("/admin/subscribers/999999").status_code == 404
    assert admin_client.get("/admin/subscribers/99999999999").status_code == 404
    assert admin_client.get("/admin/lists/99999999999").status_code == 404
    assert admin_client.get("/admin/subscribers?list_id=99999999999&page=99999999999").status_code == 200
