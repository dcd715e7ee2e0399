"""End to end: a scheduled campaign to 1,000 subscribers reaches each exactly once, signed, with
working unsubscribe headers; a subscriber who unsubscribes while it sends gets nothing after."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from campaign_support import (
    NOW,
    SELECTOR,
    add_subscribers,
    dkim_valid,
    make_list,
    new_campaign,
    write_dkim_key,
)
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Campaign, CampaignStatus, Delivery, DeliveryStatus, Subscriber
from newsletter.sending import campaigns
from newsletter.sending.pipelining import campaign_transport
from newsletter.sending.worker import DeliveryWorker

from conftest import make_app

COUNT = 1000


@pytest.fixture
def signed_app(database_url, tmp_path, smtp):
    key_file, txt = write_dkim_key(tmp_path)
    app = make_app(database_url, tmp_path, smtp.port, NEWSLETTER_DKIM_KEY_FILE=str(key_file),
                   NEWSLETTER_DKIM_SELECTOR=SELECTOR, NEWSLETTER_BATCH_SIZE=50)
    app.config["TEST_DKIM_TXT"] = txt
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_scheduled_campaign_reaches_everyone_once_signed_and_unsubscribable(signed_app, smtp):
    app = signed_app
    with app.app_context():
        news = make_list(db.session)
        ids = add_subscribers(db.session, news, COUNT)
        campaign = new_campaign(db.session, news)
        campaigns.schedule(campaign, NOW + timedelta(hours=1), NOW)
        db.session.commit()
        campaign_id = campaign.id
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        # Not due yet: nothing is queued.
        assert campaigns.dispatch_due_campaigns(db.session, key, NOW) == 0
        assert campaigns.dispatch_due_campaigns(db.session, key, NOW + timedelta(hours=1)) == COUNT
        # A second dispatch adds nothing.
        assert campaigns.dispatch_due_campaigns(db.session, key, NOW + timedelta(hours=2)) == 0
        leaver = db.session.get(Subscriber, ids[-1]).email
        list_id = news.id
        db.session.remove()

    # Send in a background worker; unsubscribe the last reader through the link of a message
    # that already arrived, while the campaign is still going out.
    stop = threading.Event()
    sent = []

    def work():
        with app.app_context():
            transport = campaign_transport(app.config)
            transport.force_pipelining = True
            worker = DeliveryWorker(app.config, transport)
            while not stop.is_set():
                sent.append(worker.run_once(db.session, stop))
                if not worker.last_claimed:
                    break
            worker.close()
            worker.transport.close()
            db.session.remove()

    thread = threading.Thread(target=work)
    thread.start()
    try:
        first = smtp.wait_for(100, timeout=60)[0]
        url = first.message["List-Unsubscribe"].split(",")[0].strip(" <>")
        # The one-click URL of the first message unsubscribes that reader; for the leaver we
        # build theirs the same way the worker does.
        from newsletter import links

        with app.app_context():
            leaver_url = links.unsubscribe_url(app.config, ids[-1], list_id)
        client = app.test_client()
        response = client.post(urlsplit(leaver_url).path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code in (200, 204, 302), response.get_data(as_text=True)
        unsubscribed_at = len(smtp.messages)
        response = client.post(urlsplit(url).path, data={"List-Unsubscribe": "One-Click"})
        assert response.status_code in (200, 204, 302)
    finally:
        thread.join(timeout=120)
        stop.set()
    assert not thread.is_alive()

    messages = list(smtp.messages)
    per_address = Counter(r for m in messages for r in m.rcpt_tos)
    assert max(per_address.values()) == 1, "somebody got the newsletter twice"
    # Everyone but the leaver got it (the leaver only if it went out before the unsubscribe).
    leaver_index = next((i for i, m in enumerate(messages) if leaver in m.rcpt_tos), None)
    assert leaver_index is None or leaver_index < unsubscribed_at
    assert len(per_address) >= COUNT - 1
    for received in messages:
        msg = received.message
        assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        assert "<mailto:unsubscribe+" in msg["List-Unsubscribe"]
        assert msg["List-Id"].endswith("<news.news.example.org>")
        assert msg["Reply-To"].startswith("reply+")
        assert received.mail_from.startswith("bounce+")
        assert msg["Message-ID"].endswith("@news.example.org>")
        assert dkim_valid(received.raw, app.config["TEST_DKIM_TXT"])
        assert "\n" not in received.raw.replace(b"\r\n", b"").decode("ascii", "replace")
    sample = messages[0].message
    assert sample["Subject"].startswith("Hello Reader ")
    html = sample.get_body(("html",)).get_content()
    text = sample.get_body(("plain",)).get_content()
    assert "Unsubscribe" in html and "/u/" in text

    with app.app_context():
        campaigns.finish_sent(db.session, datetime.now(UTC))
        statuses = Counter(db.session.scalars(
            select(Delivery.status).where(Delivery.campaign_id == campaign_id)))
        assert statuses[DeliveryStatus.sent] == len(messages)
        assert statuses[DeliveryStatus.sent] + statuses[DeliveryStatus.skipped] == COUNT
        assert db.session.get(Campaign, campaign_id).status is CampaignStatus.sent
        # The first reader's one-click link worked too.
        assert db.session.scalar(select(Subscriber.status).where(
            Subscriber.email == first.rcpt_tos[0])).value == "unsubscribed"
