"""The outbox under faults: 4xx, 421, a server that goes away or times out, hard and policy
bounces, suppression at send time, pause/resume, expired leases, the rate limit, welcome mail."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from aiosmtpd.controller import Controller
from campaign_support import (
    NOW,
    add_subscribers,
    drain,
    make_list,
    new_campaign,
    start_campaign,
    suppress,
)
from sqlalchemy import func, select, update

from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    SendWindow,
    Subscriber,
    SubscriberStatus,
)
from newsletter.sending import campaigns
from newsletter.sending.pipelining import PipeliningSMTPTransport, campaign_transport
from newsletter.sending.store import claim_batch
from newsletter.sending.worker import DeliveryWorker
from newsletter.subscribers import suppression

import servers
from conftest import make_app


def wait_until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    """Poll `condition` until it holds; fail naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)


def _retries_recorded(app, campaign_id: int) -> bool:
    with app.app_context():
        failed = db.session.scalar(select(func.count(Delivery.id)).where(
            Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.queued,
            Delivery.smtp_response.is_not(None)))
        db.session.remove()
    return bool(failed)


def statuses(app, campaign_id: int) -> Counter:
    with app.app_context():
        result = Counter(db.session.scalars(
            select(Delivery.status).where(Delivery.campaign_id == campaign_id)))
        db.session.remove()
    return result


@pytest.fixture
def fast_retry_app(database_url, tmp_path, smtp):
    """Retries due at once, a short SMTP timeout."""
    app = make_app(database_url, tmp_path, smtp.port, NEWSLETTER_RETRY_BASE_SECONDS=0,
                   MAIL_TIMEOUT=1.0, NEWSLETTER_BATCH_SIZE=10)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


# A fault of the server's own (X.3 system, 421) uses up none of the recipient's attempts; a
# full mailbox (4.2.2) is the recipient's and does.
@pytest.mark.parametrize("reply, tries", [("451 4.3.0 try again later", 1),
                                          ("421 4.7.0 closing connection", 1),
                                          ("452 4.2.2 mailbox full", 2)])
def test_temporary_failures_are_retried_without_loss(fast_retry_app, smtp, reply, tries):
    app = fast_retry_app
    campaign_id = start_campaign(app, 20)
    smtp.planned_replies.extend([reply] * 3)
    drain(app)
    per_address = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(per_address) == 20 and max(per_address.values()) == 1
    assert statuses(app, campaign_id) == {DeliveryStatus.sent: 20}
    with app.app_context():
        attempts = sorted(db.session.scalars(select(Delivery.attempts)), reverse=True)
    assert attempts[:3] == [tries] * 3 and attempts[3:] == [1] * 17


def test_server_going_away_mid_batch_loses_nothing(database_url, tmp_path):
    sink = servers.SMTPSink()
    port = servers.free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    app = make_app(database_url, tmp_path, port, NEWSLETTER_RETRY_BASE_SECONDS=0,
                   NEWSLETTER_BATCH_SIZE=10)
    try:
        campaign_id = start_campaign(app, 30)
        done = threading.Event()
        thread = threading.Thread(target=lambda: (drain(app), done.set()))
        sink.delay_seconds = 0.02
        thread.start()
        assert len(sink.wait_for(10, timeout=30)) >= 10, "the worker never got going"
        controller.stop()  # the server disappears in the middle of the campaign
        wait_until(lambda: _retries_recorded(app, campaign_id),
                   what="the worker to record a failed attempt while the server is gone")
        controller = Controller(sink, hostname="127.0.0.1", port=port)
        controller.start()
        sink.delay_seconds = 0
        thread.join(timeout=120)
        assert done.is_set()
        drain(app)  # anything whose retry came due after the first drain stopped
        per_address = Counter(r for m in sink.messages for r in m.rcpt_tos)
        assert len(per_address) == 30
        assert sum(n - 1 for n in per_address.values()) <= 1  # the one in flight at the cut
        assert statuses(app, campaign_id) == {DeliveryStatus.sent: 30}
    finally:
        controller.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_timeout_is_retried(fast_retry_app, smtp):
    app = fast_retry_app
    campaign_id = start_campaign(app, 5)
    smtp.delay_seconds = 2.0  # longer than MAIL_TIMEOUT: the first message times out
    worker_done = threading.Event()
    thread = threading.Thread(target=lambda: (drain(app, rounds=1), worker_done.set()))
    thread.start()
    thread.join(timeout=30)
    smtp.delay_seconds = 0
    drain(app)
    per_address = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(per_address) == 5
    assert sum(n - 1 for n in per_address.values()) <= 1  # the timed-out one may have landed
    assert statuses(app, campaign_id) == {DeliveryStatus.sent: 5}


def test_no_such_user_suppresses_and_policy_rejection_does_not(app, smtp):
    campaign_id = start_campaign(app, 3)
    smtp.rcpt_replies["reader0@example.net"] = "550 5.1.1 <reader0@example.net>: no such user"
    smtp.rcpt_replies["reader1@example.net"] = "550 5.7.1 message refused by policy"
    drain(app)
    assert [m.rcpt_tos for m in smtp.messages] == [["reader2@example.net"]]
    with app.app_context():
        rows = {email: (status, reply) for email, status, reply in db.session.execute(
            select(Subscriber.email, Delivery.status, Delivery.smtp_response)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id))}
        assert rows["reader0@example.net"][0] is DeliveryStatus.bounced
        assert "5.1.1" in rows["reader0@example.net"][1]
        assert rows["reader1@example.net"][0] is DeliveryStatus.failed
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        assert suppression.is_suppressed(db.session, key, "reader0@example.net")
        assert not suppression.is_suppressed(db.session, key, "reader1@example.net")
        people = dict(db.session.execute(select(Subscriber.email, Subscriber.status)).all())
        assert people["reader0@example.net"] is SubscriberStatus.bounced
        assert people["reader1@example.net"] is SubscriberStatus.active
        figures = campaigns.stats(db.session, campaign_id, datetime.now(UTC))
        assert figures.sent == 1 and figures.failed == 1 and figures.bounced == 1
        assert any("5.7.1" in reply for _, reply in figures.failures)


def test_refusal_after_the_message_body_lands_on_the_right_delivery(app, smtp):
    # Pipelined workers read a message's final reply only after the next envelope went out:
    # the refusal must still be recorded against the message it answers.
    start_campaign(app, 3)
    smtp.data_replies["reader1@example.net"] = "550 5.1.1 <reader1@example.net>: no such user"
    drain(app)
    assert sorted(m.rcpt_tos[0] for m in smtp.messages) == ["reader0@example.net",
                                                             "reader2@example.net"]
    with app.app_context():
        rows = dict(db.session.execute(
            select(Subscriber.email, Delivery.status)
            .join(Delivery, Delivery.subscriber_id == Subscriber.id)).all())
        assert rows == {"reader0@example.net": DeliveryStatus.sent,
                        "reader1@example.net": DeliveryStatus.bounced,
                        "reader2@example.net": DeliveryStatus.sent}
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        assert suppression.is_suppressed(db.session, key, "reader1@example.net")
        assert not suppression.is_suppressed(db.session, key, "reader2@example.net")


def test_recipient_suppressed_or_unsubscribed_after_dispatch_is_skipped(app, smtp):
    campaign_id = start_campaign(app, 4)
    with app.app_context():
        suppress(app, db.session, "reader0@example.net")
        db.session.execute(Subscriber.__table__.update().where(
            Subscriber.email == "reader1@example.net").values(status=SubscriberStatus.unsubscribed))
        db.session.commit()
    drain(app)
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == [
        "reader2@example.net", "reader3@example.net"]
    assert statuses(app, campaign_id) == {DeliveryStatus.sent: 2, DeliveryStatus.skipped: 2}


def test_suppressed_address_is_not_even_queued(app, smtp):
    with app.app_context():
        news = make_list(db.session)
        add_subscribers(db.session, news, 3)
        suppress(app, db.session, "reader1@example.net")
        campaign = new_campaign(db.session, news)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        assert campaigns.dispatch_due_campaigns(db.session, key, NOW) == 2


def test_pause_stops_sending_and_resume_finishes_without_duplicates(app, smtp):
    campaign_id = start_campaign(app, 60)
    smtp.delay_seconds = 0.02
    thread = threading.Thread(target=drain, args=(app,))
    thread.start()
    assert len(smtp.wait_for(10, timeout=30)) >= 10, "the worker never got going"
    with app.app_context():
        campaigns.pause(db.session, db.session.get(Campaign, campaign_id), NOW)
        db.session.commit()
        db.session.remove()
    thread.join(timeout=30)  # the worker notices within a second and gives its batch back
    assert not thread.is_alive()
    stopped_at = len(smtp.messages)
    assert stopped_at < 60
    assert statuses(app, campaign_id)[DeliveryStatus.sending] == 0
    assert drain(app) == 0  # nothing is claimable while paused
    assert len(smtp.messages) == stopped_at
    smtp.delay_seconds = 0
    with app.app_context():
        campaigns.resume(db.session, db.session.get(Campaign, campaign_id), NOW)
        db.session.commit()
    drain(app)
    per_address = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(per_address) == 60 and max(per_address.values()) == 1


def test_sent_campaign_cannot_be_paused_or_edited(app, smtp):
    campaign_id = start_campaign(app, 2)
    drain(app)
    with app.app_context():
        campaigns.finish_sent(db.session, NOW)
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.status is CampaignStatus.sent
        with pytest.raises(campaigns.CampaignError):
            campaigns.pause(db.session, campaign, NOW)
        with pytest.raises(campaigns.CampaignError):
            campaigns.edit(db.session, campaign, subject="New", body="x", body_format="markdown",
                           list_ids=[campaign.lists[0].id])


def test_expired_lease_is_reclaimed_by_another_worker(app, smtp):
    campaign_id = start_campaign(app, 5)
    with app.app_context():
        # A worker claims the batch and dies without sending anything.
        claimed_at = datetime.now(UTC)
        claimed = claim_batch(db.session, "dead-worker", claimed_at, 1, 100)
        assert len(claimed) == 5
        db.session.remove()
    # The worker's clock, not the wall clock, decides when the one-second lease runs out.
    assert drain(app, clock=lambda: claimed_at + timedelta(seconds=0.5)) == 0  # still leased
    assert drain(app, clock=lambda: claimed_at + timedelta(seconds=1.5)) == 5
    assert statuses(app, campaign_id) == {DeliveryStatus.sent: 5}


def test_rate_limit_is_shared_and_never_exceeded(database_url, tmp_path, smtp):
    app = make_app(database_url, tmp_path, smtp.port, NEWSLETTER_SEND_RATE_PER_SECOND=10)
    try:
        campaign_id = start_campaign(app, 25)
        threads = [threading.Thread(target=drain, args=(app,)) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert statuses(app, campaign_id) == {DeliveryStatus.sent: 25}
        with app.app_context():
            used = dict(db.session.execute(select(SendWindow.key, SendWindow.used)).all())
        assert used and max(used.values()) <= 10
        assert sum(used.values()) >= 25
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_welcome_message_goes_once_to_each_confirmed_subscriber(app, smtp):
    with app.app_context():
        news = make_list(db.session)
        welcome = new_campaign(db.session, news, subject="Welcome, {{ subscriber.name }}",
                               body="Glad you are here.")
        campaigns.set_welcome(db.session, news, welcome)
        db.session.commit()
        ids = add_subscribers(db.session, news, 2)
        for sid in ids + ids:  # confirming twice still sends one welcome
            campaigns.queue_welcome(db.session, db.session.get(Subscriber, sid), news, NOW)
        db.session.commit()
        db.session.remove()
    drain(app)
    assert sorted(r for m in smtp.messages for r in m.rcpt_tos) == [
        "reader0@example.net", "reader1@example.net"]
    assert smtp.messages[0].message["Subject"] == "Welcome, Reader 0"


def test_transactional_queue_still_flows_through_the_worker(app, smtp):
    from newsletter.sending import mailer, process

    with app.app_context():
        mail = mailer.build_message(app.config, to="x@example.net", subject="Hi", text="hello",
                                    now=NOW)
        mailer.queue(db.session, kind="test", mail=mail, now=NOW)
        db.session.commit()
        db.session.remove()
    assert process.run_worker(app, threading.Event(), once=True) == 1
    assert smtp.to("x@example.net")


def test_claims_of_two_workers_are_disjoint(app, smtp):
    start_campaign(app, 40)
    with app.app_context():
        now = datetime.now(UTC)
        first = claim_batch(db.session, "a", now, 60, 25)
        second = claim_batch(db.session, "b", now, 60, 25)
        assert len(first) == 25 and len(second) == 15
        assert not {c.id for c in first} & {c.id for c in second}
        owners = Counter(db.session.scalars(select(Delivery.claimed_by)))
        assert owners == {"a": 25, "b": 15}
        assert db.session.scalar(select(func.count()).where(
            Delivery.status == DeliveryStatus.queued)) == 0


@pytest.mark.parametrize("pipelined", [True, False], ids=["pipelining", "plain-fallback"])
def test_worker_uses_one_connection_for_many_messages(app, smtp, pipelined):
    """With the transport campaigns use (what `run_worker` builds), counted at the server.

    aiosmtpd does not advertise PIPELINING: forcing it tests the pipelined path, leaving it
    tests the fallback a server without PIPELINING gets.
    """
    start_campaign(app, 10)
    with app.app_context():
        transport = campaign_transport(app.config)
        assert isinstance(transport, PipeliningSMTPTransport)
        transport.force_pipelining = pipelined
        worker = DeliveryWorker(app.config, transport)
        try:
            worker.run_once(db.session)
        finally:
            worker.close()
            transport.close()
    assert len(smtp.messages) == 10
    assert len({m.peer for m in smtp.messages}) == 1, [m.peer for m in smtp.messages]


def test_email_hash_follows_the_address_on_orm_writes(app):
    with app.app_context():
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        person = Subscriber(email="a@example.net", status=SubscriberStatus.active)
        db.session.add(person)
        db.session.commit()
        assert person.email_hash == suppression.email_hash(key, "a@example.net")
        person.email = "b@example.net"
        db.session.commit()
        assert person.email_hash == suppression.email_hash(key, "b@example.net")


@pytest.mark.postgresql_only  # terminating server connections is a PostgreSQL test
def test_worker_survives_the_database_dropping_its_connections(database_url, tmp_path, smtp):
    from sqlalchemy import text

    from newsletter.sending import process

    app = make_app(database_url, tmp_path, smtp.port, NEWSLETTER_LEASE_SECONDS=2,
                   NEWSLETTER_BATCH_SIZE=10, NEWSLETTER_RETRY_BASE_SECONDS=0)
    stop = threading.Event()
    thread = threading.Thread(target=process.run_worker, args=(app, stop))
    try:
        campaign_id = start_campaign(app, 40)
        smtp.delay_seconds = 0.02
        thread.start()
        assert len(smtp.wait_for(10, timeout=30)) >= 10, "the worker never got going"
        with app.app_context():
            db.session.execute(text(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
            db.session.commit()
            db.session.remove()
        smtp.delay_seconds = 0
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and statuses(app, campaign_id) != {
                DeliveryStatus.sent: 40}:
            time.sleep(0.2)
        assert statuses(app, campaign_id) == {DeliveryStatus.sent: 40}
        per_address = Counter(r for m in smtp.messages for r in m.rcpt_tos)
        assert len(per_address) == 40
        # The pending mark each lane lost with its database connection: one per SMTP connection.
        assert sum(n - 1 for n in per_address.values()) <= process.connections_for(app)
    finally:
        stop.set()
        thread.join(timeout=30)
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_welcome_messages_do_not_wait_behind_a_big_campaign(app, smtp):
    start_campaign(app, 30)
    with app.app_context():
        from newsletter.models import MailingList

        news = db.session.scalar(select(MailingList))
        welcome = new_campaign(db.session, news, subject="Welcome")
        campaigns.set_welcome(db.session, news, welcome)
        newcomer = add_subscribers(db.session, news, 1, start=100, prefix="new")[0]
        campaigns.queue_welcome(db.session, db.session.get(Subscriber, newcomer), news,
                                NOW + timedelta(minutes=10))
        db.session.commit()
        claimed = claim_batch(db.session, "w", datetime.now(UTC), 60, 5)
        assert [c.campaign_id for c in claimed][0] == welcome.id
        assert len(claimed) == 5


def test_pausing_parks_queued_rows_and_resuming_makes_them_due(app, smtp):
    campaign_id = start_campaign(app, 5)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        campaigns.pause(db.session, campaign, NOW)
        db.session.commit()
        assert claim_batch(db.session, "w", datetime.now(UTC), 60, 10) == []
        campaigns.resume(db.session, campaign, NOW)
        db.session.commit()
        assert len(claim_batch(db.session, "w", datetime.now(UTC), 60, 10)) == 5


def test_refusal_of_our_sender_is_retried_past_max_attempts_and_blames_nobody(fast_retry_app,
                                                                             smtp):
    from newsletter.models import BounceEvent
    from newsletter.sending.worker import MAX_ATTEMPTS

    app = fast_retry_app
    start_campaign(app, 1)
    with app.app_context():
        db.session.execute(update(Delivery).values(attempts=MAX_ATTEMPTS + 2))
        db.session.commit()
    smtp.rcpt_replies["reader0@example.net"] = "553 5.1.8 Bad sender's system address"
    drain(app, rounds=1)
    with app.app_context():
        assert db.session.scalar(select(Delivery.status)) is DeliveryStatus.queued
        assert db.session.scalar(select(Subscriber.status)) is SubscriberStatus.active
        event = db.session.scalar(select(BounceEvent))
        assert event.decision.value == "not_recipient" and not event.counted
        assert not suppression.is_suppressed(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                             "reader0@example.net")


def test_a_template_runaway_for_one_recipient_fails_only_that_delivery(app, smtp):
    # Cheap for every reader at save time; runaway for the subscriber who joined afterwards.
    runaway = ("{% if subscriber.attributes.n == 2 %}{% for a in 'y' * 99999 %}"
               "{% for b in 'y' * 99999 %}{% endfor %}{% endfor %}{% endif %}Hi {{ subscriber.name }}")
    with app.app_context():
        news = make_list(db.session)
        add_subscribers(db.session, news, 2)
        campaign = new_campaign(db.session, news, body=runaway)
        add_subscribers(db.session, news, 2, start=2)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaign_id = campaign.id
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        db.session.remove()
    started = time.monotonic()
    assert drain(app) == 3
    assert time.monotonic() - started < 10
    assert statuses(app, campaign_id) == Counter({DeliveryStatus.sent: 3, DeliveryStatus.failed: 1})
    with app.app_context():
        failed = db.session.execute(select(Subscriber.email, Delivery.smtp_response).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id).where(
            Delivery.status == DeliveryStatus.failed)).one()
    assert failed.email == "reader2@example.net"
    assert "NEWSLETTER_TEMPLATE_MAX_LOOP" in failed.smtp_response
    received = sorted(r for m in smtp.messages for r in m.rcpt_tos)
    assert received == ["reader0@example.net", "reader1@example.net", "reader3@example.net"]
