"""Segment filters on a person's history: when they joined the list, when they were last
mailed, their bounces. On both databases, through the SQL clause, the CLI and the admin form."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    BounceDecision,
    BounceEvent,
    Campaign,
    Delivery,
    DeliveryStatus,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.subscribers import segments
from newsletter.subscribers.segment_rules import condition

from conftest import csrf_token


def day(text: str, hour: int = 12) -> datetime:
    return datetime.fromisoformat(text).replace(hour=hour, tzinfo=UTC)


# name: (confirmed on news, confirmed on other, copies sent (day, status), bounces, score)
PEOPLE = {
    "old": ("2023-05-01", None, [("2024-01-10", DeliveryStatus.sent)], [], 0),
    "new": ("2025-02-01", "2020-01-01", [("2025-03-01", DeliveryStatus.sent),
                                         ("2024-06-01", DeliveryStatus.sent)], [], 0),
    "edge": ("2024-01-01", None, [("2024-01-01", DeliveryStatus.sent)],
             [BounceDecision.soft], 3),
    "quiet": ("2024-06-15", None, [("2025-01-01", DeliveryStatus.queued),
                                   ("2025-01-02", DeliveryStatus.bounced)],
              [BounceDecision.hard, BounceDecision.soft], 1),
    "fresh": ("2025-06-01", None, [], [BounceDecision.delayed], 0),
}


@pytest.fixture
def history(app):
    with app.app_context():
        news = MailingList(slug="news", name="News", sender_address="news@example.org")
        other = MailingList(slug="other", name="Other", sender_address="news@example.org")
        campaign = Campaign(subject="Issue")
        db.session.add_all([news, other, campaign])
        db.session.flush()
        for name, (joined, joined_other, copies, bounces, score) in PEOPLE.items():
            person = Subscriber(email=f"{name}@example.org", status=SubscriberStatus.active,
                                bounce_score=score)
            person.subscriptions.append(Subscription(
                mailing_list=news, status=SubscriptionStatus.confirmed, created_at=day(joined),
                confirmed_at=day(joined)))
            if joined_other:
                person.subscriptions.append(Subscription(
                    mailing_list=other, status=SubscriptionStatus.confirmed,
                    confirmed_at=day(joined_other)))
            db.session.add(person)
            db.session.flush()
            for number, (sent, status) in enumerate(copies):
                copy_of = campaign if number == 0 else Campaign(subject=f"Issue {number}")
                db.session.add(copy_of)
                db.session.flush()
                db.session.add(Delivery(campaign_id=copy_of.id, subscriber_id=person.id,
                                        status=status, sent_at=day(sent)
                                        if status is DeliveryStatus.sent else None))
            for decision in bounces:
                db.session.add(BounceEvent(subscriber_id=person.id, decision=decision,
                                           source="smtp", occurred_at=day("2025-01-02")))
        db.session.commit()
        return news.id


@pytest.mark.parametrize(("text", "expected"), [
    ("subscribed<2024-01-01", {"old"}),  # "new" joined the other list in 2020: not this one
    ("subscribed>2024-01-01", {"new", "quiet", "fresh"}),  # the day itself is in neither
    ("subscribed<2025-06-02", {"old", "new", "edge", "quiet", "fresh"}),
    ("last_mailed<2024-06-01", {"old", "edge"}),  # "new" got one on 2024-06-01: not before it
    ("last_mailed>2024-12-31", {"new"}),  # queued and bounced copies were never sent
    ("last_mailed>2024-01-01", {"old", "new"}),
    ("last_mailed is set", {"old", "new", "edge"}),
    ("last_mailed is not set", {"quiet", "fresh"}),  # never mailed
    ("bounce=hard", {"quiet"}),
    ("bounce=soft", {"edge"}),
    ("bounce=none", {"old", "new", "fresh"}),  # a delayed report is no bounce
    ("bounce_score>2", {"edge"}),
    ("bounce_score>0", {"edge", "quiet"}),
    ("bounce_score=0", {"old", "new", "fresh"}),
])
def test_history_filters(app, history, text, expected):
    with app.app_context():
        found = db.session.scalars(select(Subscriber.email).where(
            condition([segments.parse_filter(text)], history)))
        assert {email.split("@")[0] for email in found} == expected


@pytest.mark.parametrize(("text", "message"), [
    ("subscribed<yesterday", "YYYY-MM-DD"),
    ("subscribed<2024-13-01", "YYYY-MM-DD"),
    ("subscribed=2024-01-01", "subscribed takes <, >"),
    ("subscribed is set", "subscribed takes <, >"),
    ("last_mailed<2024-1-1", "YYYY-MM-DD"),
    ("bounce=maybe", "hard, soft, none"),
    ("bounce_score>two", "whole number"),
    ("bounce_score>-1", "whole number"),
    ("bounced=hard", "one of country, attributes.NAME, subscribed"),
])
def test_bad_history_filters_say_why(text, message):
    with pytest.raises(segments.SegmentError, match=message):
        segments.parse_filter(text)


def test_cli_counts_a_history_segment_and_lists_it(app, runner, history):
    result = runner.invoke(args=[
        "newsletter", "segments", "create", "lapsed", "--list", "news",
        "--filter", "subscribed<2024-06-30", "--filter", "last_mailed<2024-06-01",
        "--filter", "bounce=none"])
    assert result.exit_code == 0, result.output
    assert "1 recipient(s) now" in result.output  # old ("edge" has a soft bounce)
    listing = runner.invoke(args=["newsletter", "segments", "list"])
    assert listing.output.splitlines() == [
        "lapsed\tnews\tsubscribed < 2024-06-30 and last_mailed < 2024-06-01 and bounce = none\t1"]
    bad = runner.invoke(args=["newsletter", "segments", "create", "x", "--list", "news",
                              "--filter", "bounce=maybe"])
    assert bad.exit_code != 0 and "hard, soft, none" in bad.output
    with app.app_context():
        assert segments.find(db.session, "x") is None


def test_admin_form_takes_history_filters_and_shows_the_count(app, admin_client, history):
    form = admin_client.get("/admin/segments").get_data(as_text=True)
    help_text = form[form.index('id="filter-help"'):]
    for field in ("country", "attributes.NAME", "subscribed", "last_mailed", "bounce",
                  "bounce_score"):
        assert f"<code>{field}</code>" in help_text  # the form names every field it takes
    token = csrf_token(admin_client, "/admin/segments")
    response = admin_client.post("/admin/segments", data={
        "csrf_token": token, "slug": "never", "list_id": str(history),
        "filters": "last_mailed is not set\n"}, follow_redirects=True)
    page = response.get_data(as_text=True)
    assert response.status_code == 200, page
    # quiet has a hard bounce but is still active here: eligibility, not the segment, decides.
    assert "last_mailed is not set" in page and "<td>2</td>" in page
    bad = admin_client.post("/admin/segments", data={
        "csrf_token": token, "slug": "bad", "list_id": str(history),
        "filters": "subscribed<soon"})
    assert bad.status_code == 400 and "YYYY-MM-DD" in bad.get_data(as_text=True)
