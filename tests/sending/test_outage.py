"""A mail-server outage is nobody's bounce: nothing fails, nothing is suppressed, every message
goes out once the server answers again, and the campaign says what it is waiting for.

Also: cancel during a send leaves no row behind, progress figures come from the campaign's own
sending time, and a copy sent again keeps its Message-ID.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import timedelta

import pytest
from campaign_support import NOW, drain, new_campaign, start_campaign
from sqlalchemy import func, select, update

from newsletter.extensions import db
from newsletter.models import (
    BounceEvent,
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Suppression,
)
from newsletter.sending import campaigns
from newsletter.sending.store import PortableStore, claim_batch

import servers
from conftest import AuthActions, make_app


def statuses(app, campaign_id: int) -> dict:
    with app.app_context():
        rows = db.session.execute(select(Delivery.status, func.count()).where(
            Delivery.campaign_id == campaign_id).group_by(Delivery.status)).all()
        db.session.remove()
    return dict(rows)


def nobody_blamed(app) -> None:
    """No delivery failed, no address suppressed or marked, no bounce counted."""
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Suppression)) == 0
        assert set(db.session.scalars(select(Subscriber.status))) == {SubscriberStatus.active}
        assert db.session.scalar(select(func.count()).select_from(BounceEvent)
                                 .where(BounceEvent.counted.is_(True))) == 0
        assert db.session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.status.in_([DeliveryStatus.failed, DeliveryStatus.bounced]))) == 0
        db.session.remove()


@pytest.fixture
def admin_client_for():
    """A logged-in admin test client for any app (the `admin_client` fixture knows one app)."""

    def client_for(app):
        client = app.test_client()
        auth = AuthActions(app, client)
        auth.create()
        assert auth.login().status_code == 302
        return client

    return client_for


@pytest.fixture
def outage_app(database_url, tmp_path, smtp):
    """An app whose relay port has nothing listening yet; retries and back-offs are short."""
    port = servers.free_port()
    app = make_app(database_url, tmp_path, port, NEWSLETTER_RETRY_BASE_SECONDS=0,
                   MAIL_TIMEOUT=2.0, NEWSLETTER_BATCH_SIZE=5, NEWSLETTER_OUTAGE_BACKOFF_SECONDS=0.2)
    app.relay_port = port
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_an_outage_then_421s_reach_everyone_once_and_fail_nothing(outage_app, admin_client_for):
    app = outage_app
    campaign_id = start_campaign(app, 20)
    stop = threading.Event()
    worker = threading.Thread(target=drain, args=(app,), kwargs={"stop": stop, "rounds": 100_000})
    worker.start()
    relay = None
    try:
        time.sleep(15)  # 15 seconds of connection refused: the reproduction
        nobody_blamed(app)
        assert statuses(app, campaign_id).get(DeliveryStatus.sent) is None
        client = admin_client_for(app)
        page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
        assert "Waiting for the mail server since" in page and "Connection refused" in page
        assert "need attention" in client.get("/admin/").get_data(as_text=True)
        # Then the relay comes back, but answers 421 to everything for 10 seconds.
        relay, controller = servers.start_smtp(port=app.relay_port)
        relay.every_rcpt_reply = "421 4.3.2 System shutting down"
        time.sleep(10)
        assert not relay.messages
        nobody_blamed(app)
        relay.every_rcpt_reply = None
        deadline = time.monotonic() + 60
        while len(relay.messages) < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        stop.set()
        worker.join(timeout=30)
        if relay is not None:
            controller.stop()
    per_address = Counter(r for m in relay.messages for r in m.rcpt_tos)
    assert len(per_address) == 20 and set(per_address.values()) == {1}
    assert statuses(app, campaign_id) == {DeliveryStatus.sent: 20}
    nobody_blamed(app)
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        assert campaign.waiting_since is None and campaign.paused_reason is None


@pytest.mark.parametrize("server", ["greeting-554", "auth-535"])
def test_a_relay_that_refuses_us_fails_nothing_and_pauses_the_campaign_after_a_while(
        database_url, tmp_path, smtp, server, admin_client_for):
    if server == "greeting-554":
        relay, extra = servers.ScriptedRelay("554 5.3.2 no service for you"), {}
    else:
        relay = servers.ScriptedRelay(auth_reply="535 5.7.8 Authentication credentials invalid")
        extra = {"MAIL_USERNAME": "news", "MAIL_PASSWORD": "wrong"}
    stop_relay = relay.stop
    app = make_app(database_url, tmp_path, relay.port, NEWSLETTER_RETRY_BASE_SECONDS=0,
                   NEWSLETTER_BATCH_SIZE=20, NEWSLETTER_OUTAGE_BACKOFF_SECONDS=0,
                   NEWSLETTER_OUTAGE_PAUSE_MINUTES=60, **extra)
    try:
        campaign_id = start_campaign(app, 20)
        for minutes in (0, 30):  # half an hour of refusals: still trying
            drain(app, clock=lambda m=minutes: NOW + timedelta(minutes=m), rounds=3)
        nobody_blamed(app)
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign.waiting_since == NOW
            assert ("554" if server == "greeting-554" else "535") in campaign.waiting_reply
            assert campaign.status is CampaignStatus.sending
            db.session.remove()
        # An hour of nothing else: the campaign pauses itself and the dashboard says why.
        drain(app, clock=lambda: NOW + timedelta(minutes=61), rounds=3)
        nobody_blamed(app)
        with app.app_context():
            campaign = db.session.get(Campaign, campaign_id)
            assert campaign.status is CampaignStatus.paused
            assert "mail server has failed every try since" in campaign.paused_reason
            assert db.session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.status == DeliveryStatus.queued)) == 20
            db.session.remove()
        page = admin_client_for(app).get("/admin/").get_data(as_text=True)
        assert "paused by itself" in page
    finally:
        stop_relay()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def test_one_recipients_refusal_still_fails_only_that_one(app, smtp):
    campaign_id = start_campaign(app, 3)
    smtp.rcpt_replies["reader1@example.net"] = "550 5.7.1 refused by policy"
    drain(app)
    assert statuses(app, campaign_id) == {DeliveryStatus.sent: 2, DeliveryStatus.failed: 1}
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).waiting_since is None


def test_cancel_during_a_send_skips_every_unsent_row(app, smtp):
    campaign_id = start_campaign(app, 60)
    with app.app_context():
        held = claim_batch(db.session, "dead-worker", NOW, 600, 30)  # a worker mid-batch
        assert len(held) == 30
        campaign = db.session.get(Campaign, campaign_id)
        campaigns.cancel(db.session, campaign, NOW)
        db.session.commit()
        # What the worker holding them does next changes nothing: no row goes back to the queue.
        store = PortableStore(db.session)
        store.release("dead-worker", [c.id for c in held])
        store.retry(held[0].id, NOW, "451 try later")
        db.session.remove()
    drain(app)
    counts = statuses(app, campaign_id)
    assert counts == {DeliveryStatus.skipped: 60}
    assert not smtp.messages
    with app.app_context():
        figures = campaigns.stats(db.session, campaign_id, NOW)
    assert figures.sent + figures.failed + figures.bounced + figures.skipped == figures.total == 60


def test_progress_comes_from_the_campaigns_own_sending_time(app, admin_client_for):
    campaign_id = start_campaign(app, 100)
    started = NOW
    with app.app_context():
        db.session.execute(update(Campaign).values(started_at=started))
        first_half = select(Delivery.id).order_by(Delivery.id).limit(50).scalar_subquery()
        db.session.execute(update(Delivery).where(Delivery.id.in_(first_half)).values(
            status=DeliveryStatus.sent, sent_at=started + timedelta(seconds=99)))
        db.session.commit()
        figures = campaigns.stats(db.session, campaign_id, started + timedelta(seconds=100))
        assert figures.rate_per_minute == pytest.approx(30.0)  # 50 in 100 s
        assert figures.eta_seconds == pytest.approx(100.0)
        assert not figures.finished
        db.session.execute(update(Delivery).values(status=DeliveryStatus.sent))
        db.session.execute(update(Campaign).values(status=CampaignStatus.sent,
                                                   finished_at=started + timedelta(seconds=150)))
        db.session.commit()
        done = campaigns.stats(db.session, campaign_id, started + timedelta(days=3))
        assert done.finished and done.elapsed_seconds == 150 and done.eta_seconds is None
        assert done.rate_per_minute == pytest.approx(40.0)  # 100 in 150 s, however late we look
        draft = new_campaign(db.session, db.session.scalar(select(MailingList)))
        db.session.commit()
        draft_id = draft.id
    client = admin_client_for(app)
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    assert "2 min 30 s" in page and "took" in page
    draft_page = client.get(f"/admin/campaigns/{draft_id}").get_data(as_text=True)
    assert "of 0" not in draft_page and "Not sent yet" in draft_page


def test_a_copy_sent_again_after_a_crash_keeps_its_message_id(app, smtp):
    campaign_id = start_campaign(app, 2)
    drain(app)
    first = {m.rcpt_tos[0]: m.message["Message-ID"] for m in smtp.messages}
    with app.app_context():  # as if the worker died between the server's 250 and the mark
        db.session.execute(update(Delivery).values(status=DeliveryStatus.queued))
        db.session.commit()
        db.session.remove()
    drain(app)
    again = {m.rcpt_tos[0]: m.message["Message-ID"] for m in smtp.messages[2:]}
    assert again == first and len(set(first.values())) == 2
    assert statuses(app, campaign_id) == {DeliveryStatus.sent: 2}
