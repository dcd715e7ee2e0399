"""A subscriber's admin page shows their history on one timeline, newest first: copies of
campaigns, bounces, complaints, mail from them, consent with the policy version, privacy
requests; someone else's rows never; a long history in pages; the view is audited."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    BounceDecision,
    BounceEvent,
    Campaign,
    ConsentEvent,
    ConsentMethod,
    Delivery,
    DeliveryStatus,
    InboundMessage,
    PolicyVersion,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Subscriber,
    SubscriberStatus,
)

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def at(hours: int) -> datetime:
    return T0 + timedelta(hours=hours)


def _rows(page: str) -> list[str]:
    body = re.search(r'<table id="timeline">.*?<tbody>(.*?)</tbody>', page, re.S).group(1)
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row)).strip()
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", body, re.S)]


def _person(session, email: str) -> Subscriber:
    person = Subscriber(email=email, status=SubscriberStatus.active)
    session.add(person)
    session.flush()
    return person


def test_one_timeline_newest_first_with_everything_and_nobody_else(app, admin_client):
    with app.app_context():
        ada, other = _person(db.session, "ada@example.org"), _person(db.session, "bo@example.org")
        policy = PolicyVersion(version="2026-02", summary="s", body="b", published_at=at(-100),
                               effective_at=at(-100))
        spring, summer = Campaign(subject="Spring issue"), Campaign(subject="Summer issue")
        db.session.add_all([policy, spring, summer])
        db.session.flush()
        db.session.add_all([
            ConsentEvent(subscriber_id=ada.id, purpose="newsletter:news", granted=True,
                         method=ConsentMethod.form, at=at(0), policy_version_id=policy.id,
                         wording="Send me the news"),
            Delivery(campaign_id=spring.id, subscriber_id=ada.id, status=DeliveryStatus.sent,
                     sent_at=at(1)),
            Delivery(campaign_id=summer.id, subscriber_id=ada.id, status=DeliveryStatus.bounced,
                     next_attempt_at=at(2), smtp_response="550 5.2.2 mailbox full"),
            BounceEvent(subscriber_id=ada.id, decision=BounceDecision.soft, status="5.2.2",
                        source="smtp", campaign_id=summer.id, occurred_at=at(2), counted=True,
                        detail="mailbox full"),
            # The DSN of that bounce: shown once, as the bounce above.
            InboundMessage(message_key="<dsn@x>", subscriber_id=ada.id, verdict="bounce_soft",
                           received_at=at(3), subject="Undelivered Mail", action="bounce-soft"),
            InboundMessage(message_key="<re@x>", subscriber_id=ada.id, verdict="human",
                           received_at=at(4), subject="Re: Spring issue", sender="ada@example.org"),
            InboundMessage(message_key="<arf@x>", subscriber_id=ada.id, verdict="complaint",
                           received_at=at(5)),
            PrivacyRequest(kind=PrivacyRequestKind.access, status=PrivacyRequestStatus.verified,
                           subscriber_id=ada.id, email_hash="0" * 64, source="form",
                           created_at=at(6), due_at=at(6 + 24 * 30)),
            ConsentEvent(subscriber_id=ada.id, purpose="newsletter:news", granted=False,
                         method=ConsentMethod.one_click, at=at(7)),
            # Someone else's history stays on their page.
            Delivery(campaign_id=spring.id, subscriber_id=other.id, status=DeliveryStatus.sent,
                     sent_at=at(8)),
            ConsentEvent(subscriber_id=other.id, purpose="newsletter:other", granted=True,
                         method=ConsentMethod.form, at=at(9)),
        ])
        db.session.commit()
        ada_id = ada.id
    page = admin_client.get(f"/admin/subscribers/{ada_id}").get_data(as_text=True)
    rows = _rows(page)
    assert len(rows) == 8, rows
    expected = [
        ("Consent newsletter:news (one-click)", "withdrawn"),
        ("Access request", "verified"),
        ("Marked a message as spam", "complaint"),
        ("Mail from them: “Re: Spring issue”", "human"),
        ("Bounce (smtp) of “Summer issue”", "soft"),
        ("Campaign “Summer issue”", "bounced"),
        ("Campaign “Spring issue”", "sent"),
        ("Consent newsletter:news (form)", "granted"),
    ]
    for row, (what, status) in zip(rows, expected, strict=True):
        assert what in row and status in row, (row, what)
    assert "policy 2026-02" in rows[-1] and "Send me the news" in rows[-1]
    assert "5.2.2, counted" in rows[4]
    assert rows[0].startswith("2026-03-01 16:00:00")
    assert "newsletter:other" not in page and page.count("Spring issue") == 2
    with app.app_context():
        views = db.session.scalars(select(AuditEvent.subject_id).where(
            AuditEvent.action == "subscriber.view")).all()
        assert views == [str(ada_id)]


def test_a_long_history_comes_in_bounded_pages(app, admin_client):
    with app.app_context():
        ada = _person(db.session, "ada@example.org")
        campaign = Campaign(subject="Weekly")
        db.session.add(campaign)
        db.session.flush()
        for n in range(60):
            db.session.add(ConsentEvent(subscriber_id=ada.id, purpose=f"newsletter:n{n:02}",
                                        granted=True, method=ConsentMethod.admin, at=at(2 * n)))
        db.session.add(Delivery(campaign_id=campaign.id, subscriber_id=ada.id,
                                status=DeliveryStatus.sent, sent_at=at(1)))  # among the oldest
        db.session.commit()
        ada_id = ada.id
    first = admin_client.get(f"/admin/subscribers/{ada_id}").get_data(as_text=True)
    rows = _rows(first)
    assert len(rows) == 50 and "newsletter:n59" in rows[0] and "newsletter:n10" in rows[-1]
    assert 'id="timeline-older"' in first
    second = admin_client.get(f"/admin/subscribers/{ada_id}?page=2").get_data(as_text=True)
    rows = _rows(second)
    assert len(rows) == 11 and "timeline-older" not in second
    assert "Campaign “Weekly”" in rows[-2] and "newsletter:n00" in rows[-1]
    far = admin_client.get(f"/admin/subscribers/{ada_id}?page=999999")
    assert far.status_code == 200 and _rows(far.get_data(as_text=True)) == [
        "Nothing recorded yet."]
