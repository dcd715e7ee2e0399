"""The policy notice across a real crash and a second scheduler: a worker process killed with
SIGKILL between the SMTP reply and the "sent" mark leaves at most one repeated notice and never
a missing one; two deadline sweeps at once mail each person once."""

from __future__ import annotations

import os
import signal
import threading
from collections import Counter
from datetime import timedelta
from email import policy as email_policy
from email.parser import BytesParser

import pytest
from campaign_support import NOW, add_subscribers, make_list, new_campaign
from sending.test_worker_kill import wait_until, workers  # noqa: F401 - the fixture
from sqlalchemy import func, select, text

from newsletter.extensions import db
from newsletter.models import (
    Delivery,
    DeliveryStatus,
    OutboundMail,
    PolicyNotice,
    Subscriber,
    utcnow,
)
from newsletter.privacy import policy
from newsletter.sending import campaigns, mailer

from conftest import deliver_queued

COUNT = 60
NOTICE = "Our privacy policy has changed"
IN_FLIGHT_PER_CONNECTION = 1


def carries_notice(raw: bytes) -> bool:
    parsed = BytesParser(policy=email_policy.default).parsebytes(raw)
    return any(NOTICE in part.get_content() for part in parsed.walk()
               if part.get_content_maintype() == "text")


def publish_material(app) -> int:
    version = policy.publish(db.session, body="# Policy\n\nNew.", summary="We changed it.",
                             material=True, now=NOW, config=app.config, actor="test")
    db.session.commit()
    return version.id


def test_worker_killed_between_reply_and_mark_repeats_at_most_one_notice_and_loses_none(
        app, smtp, workers):  # noqa: F811 - the fixture imported above
    with app.app_context():
        news = make_list(db.session)
        add_subscribers(db.session, news, COUNT)
        version_id = publish_material(app)
        campaign = new_campaign(db.session, news)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaign_id = campaign.id
        assert campaigns.dispatch_due_campaigns(
            db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW) == COUNT
        db.session.remove()
    smtp.delay_seconds = 0.02  # slow enough to kill the worker halfway

    first = workers()
    wait_until(lambda: len(smtp.messages) >= COUNT // 3, what="a third of the newsletter")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    killed = {m.peer for m in smtp.messages}
    wait_until(lambda: not killed & smtp.open_peers, timeout=10,
               what="the server to close the killed worker's connection")
    received_at_kill = {r for m in smtp.messages for r in m.rcpt_tos}
    with app.app_context():
        told = set(db.session.scalars(
            select(Subscriber.email).join(PolicyNotice, PolicyNotice.subscriber_id == Subscriber.id)
            .where(PolicyNotice.delivered_at.is_not(None))))
        db.session.remove()
    assert len(received_at_kill) < COUNT, "the kill should land mid-campaign"
    # A notice is never recorded without its message having reached the server...
    assert told <= received_at_kill
    # ...and what reached the server unrecorded is only what was in flight.
    in_flight = received_at_kill - told
    assert len(in_flight) <= IN_FLIGHT_PER_CONNECTION

    second = workers()
    wait_until(lambda: len({r for m in smtp.messages for r in m.rcpt_tos}) >= COUNT,
               what="every recipient to be reached")
    wait_until(lambda: sum(1 for _ in _sent(app, campaign_id)) == COUNT, timeout=30,
               what="every delivery to be marked")
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=30)

    per_address = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(per_address) == COUNT
    # Every copy carried the notice: nobody missed it, and a repeat is the in-flight one only.
    assert all(carries_notice(m.raw) for m in smtp.messages)
    repeated = {a for a, n in per_address.items() if n > 1}
    assert repeated <= in_flight and all(per_address[a] == 2 for a in repeated)
    with app.app_context():
        rows = db.session.execute(select(PolicyNotice.how, PolicyNotice.campaign_id).where(
            PolicyNotice.policy_version_id == version_id)).all()
        assert Counter(rows) == {("newsletter", campaign_id): COUNT}


def _sent(app, campaign_id: int):
    with app.app_context():
        rows = db.session.scalars(select(Delivery.id).where(
            Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.sent)).all()
        db.session.remove()
    return rows


@pytest.mark.postgresql_only
def test_two_sweeps_at_once_mail_each_person_once(app, smtp, monkeypatch):
    """Sweep A holds its completed rows uncommitted; sweep B starts, is seen waiting on A's row
    locks in pg_stat_activity, and queues nothing once A commits."""
    with app.app_context():
        add_subscribers(db.session, make_list(db.session), 3)
        publish_material(app)
    deadline = NOW + timedelta(days=app.config["NEWSLETTER_POLICY_NOTICE_DAYS"])
    holding, results = threading.Event(), {}
    queue = mailer.queue

    def queue_then_hold(session, **kwargs):
        if threading.current_thread().name == "A" and not holding.is_set():
            holding.set()
            with app.app_context():
                waited = text("SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = "
                              "'Lock' AND query ILIKE '%policy_notice%'")
                stop = utcnow() + timedelta(seconds=20)
                while not db.session.scalar(waited):
                    assert utcnow() < stop, "sweep B never waited on sweep A's rows"
                    db.session.rollback()
                db.session.remove()
        return queue(session, **kwargs)

    monkeypatch.setattr(mailer, "queue", queue_then_hold)

    def run(name: str) -> None:
        with app.app_context():
            results[name] = policy.sweep(db.session, app.config, deadline)
            db.session.remove()

    a = threading.Thread(target=run, args=("A",), name="A")
    a.start()
    assert holding.wait(20)
    b = threading.Thread(target=run, args=("B",), name="B")
    b.start()
    a.join(30)
    b.join(30)
    assert results == {"A": 3, "B": 0}
    with app.app_context():
        assert db.session.scalar(select(func.count(OutboundMail.id))) == 3
    assert deliver_queued(app) == 3
    assert sorted(m.rcpt_tos[0] for m in smtp.wait_for(3)) == [
        "reader0@example.net", "reader1@example.net", "reader2@example.net"]
