"""One bounce policy, seen from outside: the same refusal gives the same decision and the same
rows whether the SMTP server says it to the delivery worker or a DSN brings it to the mailbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from campaign_support import NOW, add_subscribers, drain, make_list, new_campaign
from inbound import mails
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import (
    AuditEvent,
    BounceEvent,
    ConsentEvent,
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
)
from newsletter.sending import campaigns
from newsletter.subscribers import suppression

WORKER, MAILBOX = "reader0@example.net", "reader1@example.net"

# status, the SMTP reply at RCPT TO, the DSN's (Status, Diagnostic-Code, Action),
# the decision, and what becomes of the worker's delivery.
TABLE = [
    ("5.1.1", "550 5.1.1 <{to}>: Recipient address rejected: User unknown",
     ("5.1.1", "550 5.1.1 User unknown", "failed"), "hard", DeliveryStatus.bounced),
    ("5.1.2", "550 5.1.2 <{to}>: Host or domain name not found",
     ("5.1.2", "550 5.1.2 Host or domain name not found", "failed"), "hard",
     DeliveryStatus.bounced),
    # RFC 3463's own words: no phrase rescues the decision if the table row is wrong.
    ("5.1.8", "553 5.1.8 <bounce@news.example.org>: Bad sender's system address",
     ("5.1.8", "553 5.1.8 Bad sender's system address", "failed"),
     "not_recipient", DeliveryStatus.queued),
    ("5.2.2", "552 5.2.2 <{to}>: Mailbox full",
     ("5.2.2", "552 5.2.2 Mailbox full", "failed"), "soft", DeliveryStatus.failed),
    ("5.4.4", "550 5.4.4 Unable to route",
     ("5.4.4", "550 5.4.4 Unable to route", "failed"), "not_recipient", DeliveryStatus.queued),
    ("5.7.1", "550 5.7.1 Message rejected as spam",
     ("5.7.1", "550 5.7.1 Message rejected as spam", "failed"), "not_recipient",
     DeliveryStatus.failed),
    ("4.2.2", "452 4.2.2 <{to}>: Mailbox full",
     ("4.2.2", "452 4.2.2 Mailbox full", "failed"), "soft", DeliveryStatus.queued),
    ("4.4.7", "451 4.4.7 Delivery time expired",
     ("4.4.7", "451 4.4.7 Delivery time expired", "failed"), "not_recipient",
     DeliveryStatus.queued),
    ("421", "421 Service not available, closing transmission channel",
     ("4.0.0", "421 Service not available, closing transmission channel", "failed"),
     "not_recipient", DeliveryStatus.queued),
]
# What each decision does to the rows of the subscriber (MAILBOX_ONLY: no SMTP reply means it).
EFFECTS = {
    "hard": {"events": [("hard", True)], "status": "bounced", "suppressed": True, "score": 0,
             "audit": ["subscriber.bounced"]},
    "soft": {"events": [("soft", True)], "status": "active", "suppressed": False, "score": 1,
             "audit": ["subscriber.bounce_counted"]},
    "not_recipient": {"events": [("not_recipient", False)], "status": "active",
                      "suppressed": False, "score": 0, "audit": []},
    "delayed": {"events": [("delayed", False)], "status": "active", "suppressed": False,
                "score": 0, "audit": []},
}


@pytest.fixture
def sent(app):
    """Two subscribers on one list and a campaign dispatched to them: (campaign, ids by email)."""
    with app.app_context():
        news = make_list(db.session)
        add_subscribers(db.session, news, 2)
        campaign = new_campaign(db.session, news)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaign_id = campaign.id
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        ids = dict(db.session.execute(select(Subscriber.email, Subscriber.id)).all())
        db.session.remove()
    return campaign_id, ids


def effect(app, email: str) -> dict:
    """Everything a bounce may change about one subscriber."""
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        events = db.session.scalars(select(BounceEvent).where(
            BounceEvent.subscriber_id == subscriber.id).order_by(BounceEvent.id))
        audit = db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.subject_type == "subscriber",
            AuditEvent.subject_id == str(subscriber.id)).order_by(AuditEvent.id))
        result = {
            "events": [(e.decision.value, e.counted) for e in events],
            "status": subscriber.status.value,
            "suppressed": suppression.is_suppressed(
                db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], email),
            "score": subscriber.bounce_score,
            "audit": list(audit),
        }
        # A bounce is never a withdrawal of consent: no ConsentEvent, subscriptions unchanged.
        assert db.session.query(ConsentEvent).count() == 0
        assert {s.status.value for s in db.session.scalars(select(Subscription).where(
            Subscription.subscriber_id == subscriber.id))} == {"confirmed"}
        db.session.remove()
    return result


def mailbox_bounce(app, campaign_id: int, subscriber_id: int, status: str, diagnostic: str,
                   action: str, key: str, now=NOW, email: str = MAILBOX) -> None:
    raw = mails.dsn(app.config, subscriber_id, campaign_id, status=status,
                    diagnostic=diagnostic, message_id=f"<{key}@mx.example.net>",
                    recipient=email, action=action)
    with app.app_context():
        process(db.session, app.config, raw, now)
        db.session.remove()


@pytest.mark.parametrize(("name", "reply", "dsn", "decision", "delivery"), TABLE,
                         ids=[row[0] for row in TABLE])
def test_the_worker_and_the_mailbox_decide_and_apply_alike(app, smtp, sent, name, reply, dsn,
                                                          decision, delivery):
    campaign_id, ids = sent
    smtp.rcpt_replies[WORKER] = reply.format(to=WORKER)
    drain(app, clock=lambda: NOW, rounds=1)
    mailbox_bounce(app, campaign_id, ids[MAILBOX], *dsn, key=name)

    assert effect(app, WORKER) == effect(app, MAILBOX) == EFFECTS[decision]
    with app.app_context():
        assert db.session.scalar(select(Delivery.status).where(
            Delivery.subscriber_id == ids[WORKER])) is delivery
        db.session.remove()


def test_a_delayed_notice_is_recorded_and_changes_nothing(app, sent):
    campaign_id, ids = sent
    mailbox_bounce(app, campaign_id, ids[MAILBOX], "4.4.1", "Connection timed out", "delayed",
                   key="late")
    assert effect(app, MAILBOX) == EFFECTS["delayed"]


def test_six_delayed_notices_change_nothing(app, sent):
    campaign_id, ids = sent
    for n in range(6):
        mailbox_bounce(app, campaign_id, ids[MAILBOX], "4.2.2", "452 4.2.2 Mailbox full",
                       "delayed", key=f"late{n}", now=NOW + timedelta(days=n))
    assert effect(app, MAILBOX) == {**EFFECTS["delayed"], "events": [("delayed", False)] * 6}


def test_five_soft_bounces_on_one_day_count_once(app, sent):
    campaign_id, ids = sent
    for n in range(5):
        mailbox_bounce(app, campaign_id, ids[MAILBOX], "5.2.2", "552 5.2.2 Mailbox full",
                       "failed", key=f"full{n}", now=NOW + timedelta(hours=2 * n))
    assert effect(app, MAILBOX) == {**EFFECTS["soft"],
                                    "events": [("soft", True)] + [("soft", False)] * 4}


def test_the_day_ends_at_midnight_utc(app, sent):
    campaign_id, ids = sent
    midnight = NOW.replace(hour=0) + timedelta(days=1)
    for n, when in enumerate((midnight - timedelta(minutes=5), midnight + timedelta(minutes=5))):
        mailbox_bounce(app, campaign_id, ids[MAILBOX], "5.2.2", "552 5.2.2 Mailbox full",
                       "failed", key=f"night{n}", now=when)
    assert effect(app, MAILBOX)["score"] == 2


def test_soft_bounces_on_five_days_suppress(app, sent):
    campaign_id, ids = sent
    assert app.config["NEWSLETTER_SOFT_BOUNCE_LIMIT"] == 5
    for n in range(5):
        if n == 4:
            assert effect(app, MAILBOX)["status"] == "active"
        mailbox_bounce(app, campaign_id, ids[MAILBOX], "5.2.2", "552 5.2.2 Mailbox full",
                       "failed", key=f"day{n}", now=NOW + timedelta(days=n))
    assert effect(app, MAILBOX) == {
        "events": [("soft", True)] * 5, "status": "bounced", "suppressed": True, "score": 5,
        "audit": ["subscriber.bounce_counted"] * 4 + ["subscriber.bounced"]}


def test_a_quiet_period_resets_the_score(app, sent):
    campaign_id, ids = sent
    window = app.config["NEWSLETTER_SOFT_BOUNCE_WINDOW_DAYS"]
    days = [0, 1, 2, 3, 3 + window + 1]  # five days, but a quiet window before the last
    for n, day in enumerate(days):
        mailbox_bounce(app, campaign_id, ids[MAILBOX], "5.2.2", "552 5.2.2 Mailbox full",
                       "failed", key=f"quiet{n}", now=NOW + timedelta(days=day))
    result = effect(app, MAILBOX)
    assert result["score"] == 1 and result["status"] == "active" and not result["suppressed"]
