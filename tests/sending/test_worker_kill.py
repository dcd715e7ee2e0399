"""A worker killed with SIGKILL mid-campaign: another worker finishes it; every recipient gets
the newsletter, and duplicates are at most the messages in flight on the killed connections: one
per connection, with one connection per worker process and with several (sending/process.py)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from campaign_support import NOW, add_subscribers, make_list, new_campaign
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber
from newsletter.sending import campaigns

from conftest import TEST_SECRET

REPO = Path(__file__).resolve().parents[2]
COUNT = 200
# One message at a time on each SMTP connection: at most one in flight per connection.
IN_FLIGHT_PER_CONNECTION = 1


def worker_env(app, smtp_port: int, connections: int = 1) -> dict:
    """The environment make_app builds, for a real `flask newsletter worker` process."""
    env = dict(os.environ)
    env.update({
        "NEWSLETTER_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "NEWSLETTER_INSTANCE_PATH": app.instance_path,
        "NEWSLETTER_BASE_URL": "http://newsletter.test",
        "NEWSLETTER_MAIL_DOMAIN": "news.example.org",
        "NEWSLETTER_RUN_SCHEDULER": "false",
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": str(smtp_port),
        "NEWSLETTER_LEASE_SECONDS": "3",
        "NEWSLETTER_BATCH_SIZE": "25",
        "NEWSLETTER_WORKER_CONNECTIONS": str(connections),
        "PYTHONUNBUFFERED": "1",
    })
    return env


@pytest.fixture
def workers(app, smtp):
    """Start real worker processes; every one still alive is killed at the end."""
    started: list[subprocess.Popen] = []

    def start(connections: int = 1) -> subprocess.Popen:
        process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "wsgi", "newsletter", "worker"],
            cwd=REPO, env=worker_env(app, smtp.port, connections),
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stderr:
            process.stderr.close()


def wait_until(condition, timeout: float = 90.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def unsettled(app, campaign_id: int) -> int:
    """How many of the campaign's deliveries are still queued or being sent."""
    with app.app_context():
        count = len(db.session.scalars(select(Delivery.id).where(
            Delivery.campaign_id == campaign_id,
            Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.sending]))).all())
        db.session.remove()
    return count


@pytest.mark.parametrize("connections", [1, 3])
def test_killed_worker_is_finished_by_another_without_loss(app, smtp, workers, connections):
    with app.app_context():
        news = make_list(db.session)
        add_subscribers(db.session, news, COUNT)
        campaign = new_campaign(db.session, news)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaign_id = campaign.id
        assert campaigns.dispatch_due_campaigns(
            db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW) == COUNT
        db.session.remove()
    smtp.delay_seconds = 0.01  # slow enough to kill the worker halfway

    first = workers(connections)
    wait_until(lambda: len(smtp.messages) >= COUNT // 3, what="the first worker to send a third")
    os.kill(first.pid, signal.SIGKILL)
    first.wait(timeout=10)
    # Once the server has closed the killed worker's connections it records nothing more from
    # them (aiosmtpd drops a DATA it was handling when the connection goes).
    killed = {m.peer for m in smtp.messages}
    wait_until(lambda: not killed & smtp.open_peers, timeout=10,
               what="the server to close the killed worker's connection")
    received_at_kill = {r for m in smtp.messages for r in m.rcpt_tos}
    with app.app_context():
        claimed_by_dead = set(db.session.scalars(
            select(Subscriber.email).join(Delivery, Delivery.subscriber_id == Subscriber.id)
            .where(Delivery.campaign_id == campaign_id,
                   Delivery.status == DeliveryStatus.sending)))
        db.session.remove()
    assert claimed_by_dead, "the kill should land mid-batch"
    assert len(received_at_kill) < COUNT
    # The killed process really sent on that many connections at once.
    assert len(killed) == connections
    # In flight on a killed connection: the server has the message, the row is not marked sent.
    in_flight = received_at_kill & claimed_by_dead
    per_connection = Counter(m.peer for m in smtp.messages for r in m.rcpt_tos if r in in_flight)
    assert all(n <= IN_FLIGHT_PER_CONNECTION for n in per_connection.values()), per_connection
    assert len(in_flight) <= IN_FLIGHT_PER_CONNECTION * connections

    second = workers()
    wait_until(lambda: len({r for m in smtp.messages for r in m.rcpt_tos}) >= COUNT,
               what="every recipient to be reached")
    # The killed worker's in-flight copies reached their recipients already; the second worker
    # must still reclaim those rows (after their lease) and settle them before it is stopped.
    wait_until(lambda: not unsettled(app, campaign_id), what="every delivery to be settled")
    second.send_signal(signal.SIGTERM)
    second.wait(timeout=30)

    per_address = Counter(r for m in smtp.messages for r in m.rcpt_tos)
    assert len(per_address) == COUNT
    duplicates = {address for address, n in per_address.items() if n > 1}
    assert duplicates <= in_flight  # only what was in flight was sent twice
    assert len(duplicates) <= IN_FLIGHT_PER_CONNECTION * connections
    assert all(per_address[a] == 2 for a in duplicates)
    with app.app_context():
        campaigns.finish_sent(db.session, NOW)
        statuses = Counter(db.session.scalars(
            select(Delivery.status).where(Delivery.campaign_id == campaign_id)))
        assert statuses == {DeliveryStatus.sent: COUNT}
        assert db.session.get(Campaign, campaign_id).status is CampaignStatus.sent
