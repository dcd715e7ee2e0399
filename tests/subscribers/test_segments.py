"""Segments: every operator over country and attributes on both databases; the CLI saves one,
a campaign targets it, and exactly its members get the mail on the SMTP server, with their
attribute filled in."""

from __future__ import annotations

import pytest
from campaign_support import drain
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from newsletter.sending import campaigns
from newsletter.subscribers import segments
from newsletter.subscribers.segment_rules import condition
from tests.subscribers.test_import_formats import MAILCHIMP

from conftest import csrf_token

PEOPLE = {
    "ada@example.org": ("GB", {"plan": "pro", "seats": "12", "joined": "2024-03-01"}),
    "bob@example.org": ("DE", {"plan": "free", "seats": 3, "joined": "2023-01-15"}),
    "cy@example.org": ("DE", {"plan": "Pro Plus", "seats": "many"}),
    "dee@example.org": (None, {}),
}


@pytest.fixture
def crowd(app):
    with app.app_context():
        news = MailingList(slug="news", name="News", sender_address="news@example.org")
        db.session.add(news)
        for email, (country, attributes) in PEOPLE.items():
            person = Subscriber(email=email, country=country, attributes=attributes,
                                status=SubscriberStatus.active)
            person.subscriptions.append(Subscription(mailing_list=news,
                                                     status=SubscriptionStatus.confirmed))
            db.session.add(person)
        db.session.commit()
        return news.id


@pytest.mark.parametrize(("text", "expected"), [
    ("attributes.plan=pro", {"ada"}),
    ("attributes.plan!=pro", {"bob", "cy", "dee"}),  # != also matches those without it
    ("attributes.plan contains PRO", {"ada", "cy"}),
    ("attributes.seats>5", {"ada"}),  # as numbers; "many" is no number and never matches
    ("attributes.seats<5", {"bob"}),
    ("attributes.joined<2024-01-01", {"bob"}),  # as text: ISO dates sort correctly
    ("attributes.joined is set", {"ada", "bob"}),
    ("country=de", {"bob", "cy"}),
    ("country!=DE", {"ada", "dee"}),
    ("attributes.plan contains 50%_", set()),  # LIKE wildcards are plain characters here
])
def test_operators(app, crowd, text, expected):
    with app.app_context():
        found = db.session.scalars(select(Subscriber.email).where(
            condition([segments.parse_filter(text)])))
        assert {email.split("@")[0] for email in found} == expected


def test_rules_combine_and_bad_filters_are_refused(app, crowd):
    with app.app_context():
        rules = [segments.parse_filter("country=DE"), segments.parse_filter("attributes.seats>1")]
        found = set(db.session.scalars(select(Subscriber.email).where(condition(rules))))
        assert found == {"bob@example.org"}
    for bad in ("plan=pro", "attributes.Plan=pro", "attributes.plan~pro", "attributes.plan=a\nb"):
        with pytest.raises(segments.SegmentError):
            segments.parse_filter(bad)


def test_cli_segment_on_plan_sends_to_exactly_those_subscribers(app, runner, tmp_path, smtp):
    with app.app_context():
        db.session.add(MailingList(slug="news", name="News", sender_address="news@example.org"))
        db.session.commit()
    export = tmp_path / "mailchimp.csv"
    export.write_text(MAILCHIMP, encoding="utf-8")
    result = runner.invoke(args=["newsletter", "import", str(export), "--list", "news",
                                 "--consent-basis", "existing"])
    assert result.exit_code == 0, result.output

    result = runner.invoke(args=["newsletter", "segments", "create", "pro-people", "--list", "news",
                                 "--filter", "attributes.plan=pro", "--filter", "country=GB"])
    assert result.exit_code == 0, result.output
    assert "1 recipient(s) now" in result.output
    assert result.output.splitlines()[-1] == "pro-people"
    listing = runner.invoke(args=["newsletter", "segments", "list"])
    assert listing.output.splitlines() == [
        "pro-people\tnews\tattributes.plan = pro and country = GB\t1"]

    body = tmp_path / "body.md"
    body.write_text("Hi {{ subscriber.name }}, thanks for choosing {{ subscriber.attributes.plan }}.")
    result = runner.invoke(args=["newsletter", "campaign", "create", "--segment", "pro-people",
                                 "--subject", "For {{ subscriber.attributes.plan }} users",
                                 "--body-file", str(body)])
    assert result.exit_code == 0, result.output
    assert "1 recipient(s) now" in result.output
    campaign_id = int(result.output.splitlines()[-1])
    with app.app_context():
        campaign = db.session.get(campaigns.Campaign, campaign_id)
        campaigns.send_now(campaign, utcnow())
        db.session.commit()
        queued = campaigns.dispatch_due_campaigns(
            db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], utcnow())
        db.session.remove()
    assert queued == 1
    assert drain(app) == 1
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["ada@example.org"]
    assert mail.message["Subject"] == "For pro users"
    assert "thanks for choosing pro." in mail.message.get_body(("plain",)).get_content()


def test_campaign_page_shows_the_count_before_sending(app, admin_client, crowd):
    with app.app_context():
        news = db.session.get(MailingList, crowd)
        segment = segments.create(db.session, "germany", news,
                                  [segments.parse_filter("country=DE")], actor="t", now=utcnow())
        campaign = campaigns.create(db.session, subject="Hallo", body="Hallo", list_ids=[crowd],
                                    now=utcnow(), segment_id=segment.id)
        whole = campaigns.create(db.session, subject="All", body="All", list_ids=[crowd],
                                 now=utcnow())
        db.session.commit()
        ids = campaign.id, whole.id
    page = admin_client.get(f"/admin/campaigns/{ids[0]}").get_data(as_text=True)
    assert "Would go to <strong>2</strong> subscribers if sent now" in page
    assert "country = DE" in page
    page = admin_client.get(f"/admin/campaigns/{ids[1]}").get_data(as_text=True)
    assert "Would go to <strong>4</strong> subscribers if sent now" in page


def test_admin_saves_a_segment_and_a_campaign_for_it(app, admin_client, crowd):
    token = csrf_token(admin_client, "/admin/segments")
    bad = admin_client.post("/admin/segments", data={
        "csrf_token": token, "slug": "de", "list_id": str(crowd), "filters": "plan=pro"})
    assert bad.status_code == 400 and "country, attributes.NAME" in bad.get_data(as_text=True)
    response = admin_client.post("/admin/segments", data={
        "csrf_token": token, "slug": "de", "name": "Germany", "list_id": str(crowd),
        "filters": "country=DE\nattributes.seats is set\n"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "country = DE and attributes.seats is set" in page
    assert "<td>2</td>" in page  # bob and cy
    token = csrf_token(admin_client, "/admin/campaigns/new")
    response = admin_client.post("/admin/campaigns/new", data={
        "csrf_token": token, "subject": "Hallo", "body": "Hallo", "body_format": "markdown",
        "segment": "de", "mode": "draft"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "Segment: <strong>Germany</strong>" in page
    assert "Would go to <strong>2</strong> subscribers" in page


def test_api_campaign_for_a_segment(app, api_token, crowd):
    with app.app_context():
        segments.create(db.session, "germany", db.session.get(MailingList, crowd),
                        [segments.parse_filter("country=DE")], actor="t", now=utcnow())
        db.session.commit()
    client = app.test_client()
    body = {"subject": "Hallo", "body": "Hallo"}
    response = client.post("/api/v1/campaigns", headers=api_token, json={**body, "segment": "germany"})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["lists"] == ["news"] and response.get_json()["segment_id"]
    for wrong in ({}, {"segment": "nope"}):
        assert client.post("/api/v1/campaigns", headers=api_token,
                           json={**body, **wrong}).status_code == 422
