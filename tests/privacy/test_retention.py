"""Retention periods (privacy/retention.py) with a frozen clock: each removes exactly what is older
than its period, nothing newer, nothing twice; a pass is audited with counts only; the CLI and the
scheduler job run the same pass."""

from __future__ import annotations

from datetime import timedelta

from campaign_support import NOW
from sqlalchemy import func, select, update

from newsletter import scheduler
from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    Campaign,
    CampaignStatus,
    ConsentEvent,
    ConsentMethod,
    Delivery,
    DeliveryStatus,
    MailingList,
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
    utcnow,
)
from newsletter.privacy import audit, retention
from newsletter.subscribers import suppression

from .people import ANN, ANN_NAME, BOB, find_text

SECOND = timedelta(seconds=1)


def cutoff(app, setting: str, now=NOW):
    return now - timedelta(days=app.config[setting])


def person(session, email: str, **fields) -> Subscriber:
    row = Subscriber(email=email, status=fields.pop("status", SubscriberStatus.active),
                     created_at=NOW - timedelta(days=3000), updated_at=NOW, **fields)
    session.add(row)
    session.flush()
    return row


def mail(session, to: str, status: str, created_at) -> OutboundMail:
    row = OutboundMail(kind="confirm", to_address=to, envelope_from="bounce@example.org",
                       raw=f"To: {to}\r\n\r\nHello".encode(), status=status,
                       created_at=created_at, next_attempt_at=created_at)
    session.add(row)
    return row


def test_sent_mail_bytes_go_after_the_period_and_nothing_newer(app):
    with app.app_context():
        session = db.session
        old = cutoff(app, "NEWSLETTER_RETAIN_SENT_MAIL_DAYS") - SECOND
        new = cutoff(app, "NEWSLETTER_RETAIN_SENT_MAIL_DAYS") + SECOND
        rows = {"old-sent": mail(session, "a@example.org", "sent", old),
                "old-failed": mail(session, "b@example.org", "failed", old),
                "new-sent": mail(session, "c@example.org", "sent", new),
                "old-queued": mail(session, "d@example.org", "queued", old)}
        session.commit()

        assert retention.sent_mail(session, NOW, app.config) == 2
        session.commit()
        session.expire_all()
        kept = {name for name, row in rows.items() if row.raw and row.to_address}
        assert kept == {"new-sent", "old-queued"}
        assert session.scalar(select(func.count()).select_from(OutboundMail)) == 4  # rows stay
        assert retention.sent_mail(session, NOW, app.config) == 0


def test_delivery_details_go_long_after_the_campaign_finished_and_counts_stay(app):
    with app.app_context():
        session = db.session
        news = MailingList(slug="news", name="News")
        session.add(news)
        reader = person(session, "reader@example.org")
        limit = cutoff(app, "NEWSLETTER_RETAIN_DELIVERY_DETAIL_DAYS")
        campaigns = {}
        for name, finished in (("old", limit - SECOND), ("new", limit + SECOND), ("open", None)):
            campaign = Campaign(subject=name, status=CampaignStatus.sent, finished_at=finished)
            session.add(campaign)
            session.flush()
            session.add(Delivery(campaign_id=campaign.id, subscriber_id=reader.id,
                                 status=DeliveryStatus.sent, sent_at=limit - SECOND,
                                 smtp_response="250 <reader@example.org> ok",
                                 message_id=f"<{name}@example.org>"))
            campaigns[name] = campaign.id
        session.commit()

        assert retention.delivery_details(session, NOW, app.config) == 1
        session.commit()
        rows = {c: (status, response, message_id) for c, status, response, message_id in
                session.execute(select(Delivery.campaign_id, Delivery.status,
                                       Delivery.smtp_response, Delivery.message_id))}
        assert rows[campaigns["old"]] == (DeliveryStatus.sent, None, None)
        assert rows[campaigns["new"]][1:] == ("250 <reader@example.org> ok", "<new@example.org>")
        assert rows[campaigns["open"]][1] is not None
        assert retention.delivery_details(session, NOW, app.config) == 0


def test_consent_ips_and_user_agents_go_after_the_period_the_events_stay(app):
    with app.app_context():
        session = db.session
        news = MailingList(slug="news", name="News")
        session.add(news)
        session.flush()
        limit = cutoff(app, "NEWSLETTER_RETAIN_CONSENT_NETWORK_DAYS")
        for name, at in (("old", limit - SECOND), ("new", limit + SECOND)):
            reader = person(session, f"{name}@example.org")
            session.add(ConsentEvent(subscriber_id=reader.id, purpose="newsletter:news",
                                     granted=True, at=at, method=ConsentMethod.form,
                                     ip="203.0.113.7", user_agent=f"Browser {name}",
                                     wording="Yes, send me News"))
            session.add(Subscription(subscriber_id=reader.id, list_id=news.id,
                                     status=SubscriptionStatus.confirmed, created_at=at,
                                     request_ip="203.0.113.7", request_user_agent="Browser"))
        session.commit()

        assert retention.consent_network(session, NOW, app.config) == 2  # an event, a request
        session.commit()
        events = {e.user_agent or e.wording: e.ip for e in session.scalars(select(ConsentEvent))}
        assert events == {"Yes, send me News": None, "Browser new": "203.0.113.7"}
        requests = {s.created_at < limit: (s.request_ip, s.request_user_agent)
                    for s in session.scalars(select(Subscription))}
        assert requests == {True: (None, None), False: ("203.0.113.7", "Browser")}
        assert retention.consent_network(session, NOW, app.config) == 0


def test_closed_requests_go_after_the_period_open_ones_and_audit_rows_stay(app):
    with app.app_context():
        session = db.session
        limit = cutoff(app, "NEWSLETTER_RETAIN_CLOSED_REQUEST_DAYS")
        ids = {}
        for name, status, closed in (
                ("old-completed", PrivacyRequestStatus.completed, limit - SECOND),
                ("old-rejected", PrivacyRequestStatus.rejected, limit - SECOND),
                ("new-completed", PrivacyRequestStatus.completed, limit + SECOND),
                ("old-open", PrivacyRequestStatus.verified, None)):
            request = PrivacyRequest(kind=PrivacyRequestKind.access, status=status,
                                     email_hash=name, source="form",
                                     created_at=limit - timedelta(days=30), due_at=limit,
                                     completed_at=closed, detail={"email": f"{name}@example.org"})
            session.add(request)
            session.flush()
            audit.record(session, actor="cli", action="privacy.access.completed",
                         subject_type="privacy_request", subject_id=request.id, now=limit)
            ids[name] = request.id
        session.commit()

        assert retention.closed_requests(session, NOW, app.config) == 2
        session.commit()
        left = set(session.scalars(select(PrivacyRequest.email_hash)))
        assert left == {"new-completed", "old-open"}
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == 4
        assert retention.closed_requests(session, NOW, app.config) == 0


def _left(session, subscriber_id: int, when) -> None:
    """They unsubscribed from everything at `when` (a frozen clock, not the real one)."""
    session.execute(update(Subscription).where(Subscription.subscriber_id == subscriber_id)
                    .values(status=SubscriptionStatus.unsubscribed, unsubscribed_at=when))
    session.execute(update(Subscriber).where(Subscriber.id == subscriber_id)
                    .values(status=SubscriberStatus.unsubscribed, updated_at=when,
                            last_bounce_at=None))


def test_people_who_left_long_ago_become_tombstones_without_a_last_mail(app, world):
    with app.app_context():
        session = db.session
        pass_at = NOW + timedelta(days=app.config["NEWSLETTER_RETAIN_DEPARTED_DAYS"])
        _left(session, world.ann, NOW - SECOND)
        _left(session, world.bob, NOW + SECOND)  # left later: not yet
        session.commit()
        mails_before = session.scalar(select(func.count()).select_from(OutboundMail))

        assert retention.departed_people(session, pass_at, app.config) == 1
        session.commit()
        assert find_text(session, ANN, ANN_NAME, "quillfeather") == []
        assert "subscriber.email" in find_text(session, BOB)
        tombstone = session.get(Subscriber, world.ann)
        digest = suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], ANN)
        assert (tombstone.status, tombstone.email_hash) == (SubscriberStatus.erased, digest)
        row = session.scalar(select(Suppression).where(Suppression.email_hash == digest))
        assert row.reason is SuppressionReason.erasure
        # Nobody asked, so nobody is told: no last mail.
        assert session.scalar(select(func.count()).select_from(OutboundMail)) == mails_before
        assert retention.departed_people(session, pass_at, app.config) == 0


def test_someone_still_subscribed_to_one_list_is_kept(app, world):
    with app.app_context():
        session = db.session
        pass_at = NOW + timedelta(days=10 * app.config["NEWSLETTER_RETAIN_DEPARTED_DAYS"])
        _left(session, world.ann, NOW)
        other = MailingList(slug="other", name="Other")
        session.add(other)
        session.flush()
        session.add(Subscription(subscriber_id=world.ann, list_id=other.id,
                                 status=SubscriptionStatus.confirmed, created_at=NOW))
        session.commit()
        assert retention.departed_people(session, pass_at, app.config) == 0
        assert session.get(Subscriber, world.ann).email == ANN


OLD, NEW = "old", "new"


# (status, updated_at, last_bounce_at, subscription status, unsubscribed_at): the period runs
# from the last of the dates; a list in force keeps the person whatever the dates.
DEPARTURES = {
    "left everything": (SubscriberStatus.unsubscribed, OLD, None, "unsubscribed", OLD),
    "complained": (SubscriberStatus.complained, OLD, None, "unsubscribed", OLD),
    "bounced, lists as they were": (SubscriberStatus.bounced, OLD, OLD, "confirmed", None),
    "left, status changed lately": (SubscriberStatus.unsubscribed, NEW, None, "unsubscribed", OLD),
    "bounced lately": (SubscriberStatus.bounced, OLD, NEW, "confirmed", None),
    "bounced, then left a list lately": (SubscriberStatus.bounced, OLD, OLD, "unsubscribed", NEW),
    "asked to come back": (SubscriberStatus.unsubscribed, OLD, None, "pending", OLD),
    "left, still confirmed on a list": (SubscriberStatus.unsubscribed, OLD, None, "confirmed", OLD),
    "active": (SubscriberStatus.active, OLD, None, "confirmed", None),
    "a tombstone already": (SubscriberStatus.erased, OLD, None, "unsubscribed", OLD),
}
GONE = {"left everything", "complained", "bounced, lists as they were"}


def test_the_departed_period_runs_from_the_last_sign_of_the_person(app):
    with app.app_context():
        session = db.session
        news = MailingList(slug="news", name="News")
        session.add(news)
        session.flush()
        limit = cutoff(app, "NEWSLETTER_RETAIN_DEPARTED_DAYS")
        when = {OLD: limit - SECOND, NEW: limit + SECOND, None: None}
        ids = {}
        for n, (case, (status, updated, bounced, listed, left)) in enumerate(DEPARTURES.items()):
            row = person(session, f"p{n}@example.org", status=status,
                         last_bounce_at=when[bounced])
            session.add(Subscription(subscriber_id=row.id, list_id=news.id,
                                     status=SubscriptionStatus(listed), created_at=limit,
                                     unsubscribed_at=when[left]))
            session.flush()
            session.execute(update(Subscriber).where(Subscriber.id == row.id)
                            .values(updated_at=when[updated]))
            ids[case] = row.id
        session.commit()

        assert retention.departed_people(session, NOW, app.config) == len(GONE)
        session.commit()
        erased = {case for case, sid in ids.items()
                  if session.get(Subscriber, sid).status is SubscriberStatus.erased}
        assert erased == GONE | {"a tombstone already"}


def _one_of_each(app, session, now) -> None:
    """Something just past each period (sent mail, consent IP, closed request)."""
    mail(session, "a@example.org", "sent", cutoff(app, "NEWSLETTER_RETAIN_SENT_MAIL_DAYS", now)
         - SECOND)
    reader = person(session, "reader@example.org")
    session.add(ConsentEvent(subscriber_id=reader.id, purpose="newsletter:news", granted=True,
                             at=cutoff(app, "NEWSLETTER_RETAIN_CONSENT_NETWORK_DAYS", now) - SECOND,
                             method=ConsentMethod.form, ip="203.0.113.7", user_agent="Browser"))
    closed = cutoff(app, "NEWSLETTER_RETAIN_CLOSED_REQUEST_DAYS", now) - SECOND
    session.add(PrivacyRequest(kind=PrivacyRequestKind.erasure,
                               status=PrivacyRequestStatus.completed, email_hash="x" * 64,
                               source="form", created_at=closed, due_at=closed,
                               completed_at=closed))
    session.commit()


EXPECTED = {"unconfirmed_signups": 0, "inbound_raw": 0, "sent_mail": 1, "delivery_details": 0,
            "departed_people": 0, "consent_network": 1, "closed_requests": 1}


def test_a_pass_is_audited_with_counts_and_a_second_pass_removes_nothing(app):
    with app.app_context():
        session = db.session
        _one_of_each(app, session, NOW)
        assert retention.run(session, NOW, app.config) == EXPECTED
        session.commit()
        [row] = session.scalars(select(AuditEvent).where(AuditEvent.action == retention.ACTION))
        assert (row.actor, row.at, row.detail) == ("system", NOW, {"removed": EXPECTED})
        assert row.subject_id is None and row.note in (None, "")

        assert set(retention.run(session, NOW, app.config).values()) == {0}
        session.commit()
        # Nothing removed, nothing to account for: no second row.
        assert session.scalar(select(func.count()).select_from(AuditEvent).where(
            AuditEvent.action == retention.ACTION)) == 1


def test_the_cli_runs_one_pass_and_prints_what_it_removed(app, runner):
    with app.app_context():
        _one_of_each(app, db.session, utcnow())
    result = runner.invoke(args=["newsletter", "retention", "run"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [f"{name} {n}" for name, n in EXPECTED.items()]
    again = runner.invoke(args=["newsletter", "retention", "run"])
    assert set(line.split()[1] for line in again.output.splitlines()) == {"0"}


def test_the_scheduler_runs_the_pass_hourly(app):
    job = next(j for j in scheduler.jobs(app) if j.id == "retention")
    assert job.seconds == 3600
    with app.app_context():
        _one_of_each(app, db.session, utcnow())
        job.func(app)
        db.session.remove()
        assert db.session.scalar(select(func.count()).select_from(PrivacyRequest)) == 0
        assert db.session.scalar(select(AuditEvent.detail).where(
            AuditEvent.action == retention.ACTION)) == {"removed": EXPECTED}
