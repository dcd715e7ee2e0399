"""Campaign analytics after a real send through the SMTP server: one reader refused at RCPT
(hard bounce), one soft-bounced by a DSN, one one-click unsubscribe, one complaint, one reply,
one unsubscribe too late to count. Seen through the API, the admin page and the CLI."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

from campaign_support import NOW, add_subscribers, drain, make_list, new_campaign
from inbound import mails
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import ConsentMethod, Delivery, Subscriber, utcnow
from newsletter.sending import campaigns
from newsletter.subscribers import subscriptions


def _send(app, smtp) -> tuple[int, list[int], int]:
    with app.app_context():
        news = make_list(db.session)
        ids = add_subscribers(db.session, news, 6)
        campaign = new_campaign(db.session, news)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        campaign_id, list_id = campaign.id, news.id
        db.session.remove()
    smtp.rcpt_replies["reader5@example.net"] = "550 5.1.1 <reader5@example.net>: user unknown"
    drain(app)
    return campaign_id, ids, list_id


def test_campaign_figures_after_a_real_send(app, smtp, client, api_token, auth, runner):
    campaign_id, ids, list_id = _send(app, smtp)
    assert len(smtp.messages) == 5
    config = app.config

    # reader0 presses the one-click button of the copy it received (RFC 8058).
    copy = smtp.to("reader0@example.net")[0]
    url = copy.message["List-Unsubscribe"].split(",")[0].strip(" <>")
    assert client.post(urlsplit(url).path,
                       data={"List-Unsubscribe": "One-Click"}).status_code == 200
    # reader2 answers the newsletter; reader3 marks it as spam; reader4's mailbox is full.
    reply_to = smtp.to("reader2@example.net")[0].message["Reply-To"]
    raw_reply = (f"From: Reader 2 <reader2@example.net>\r\nTo: {reply_to}\r\n"
                 "Subject: Re: Hello\r\nMessage-ID: <r2@example.net>\r\n\r\n"
                 "Thank you, the garden tips were lovely.\r\n").encode()
    with app.app_context():
        now = utcnow()
        assert process(db.session, config, raw_reply, now) is not None
        process(db.session, config, mails.arf(config, ids[3], campaign_id,
                                               message_id="<arf@isp.example>"), now)
        process(db.session, config, mails.dsn(
            config, ids[4], campaign_id, status="5.2.2", diagnostic="552 5.2.2 mailbox full",
            recipient="reader4@example.net", message_id="<dsn@mx.example.net>"), now)
        # reader1 leaves eight days after the copy: past the window, not this campaign's.
        sent_at = db.session.scalar(select(Delivery.sent_at).where(
            Delivery.campaign_id == campaign_id, Delivery.subscriber_id == ids[1]))
        subscriptions.unsubscribe(db.session, db.session.get(Subscriber, ids[1]),
                                  list_ids=[list_id], method=ConsentMethod.link,
                                  now=sent_at + timedelta(days=8))
        db.session.commit()

    expected = {"accepted": 5, "delivered": 4, "bounced": {"hard": 1, "soft": 1},
                "complaints": 1, "unsubscribes": 1, "unsubscribes_by_method": {"one-click": 1},
                "replies": 1}
    stats = client.get(f"/api/v1/campaigns/{campaign_id}/stats", headers=api_token).get_json()
    assert {k: stats["analytics"][k] for k in expected} == expected
    assert stats["analytics"]["rates"]["complaint"] == 1 / 5
    assert stats["sent"] == 5  # the delivery figures are still there

    auth.create()
    auth.login()
    page = client.get(f"/admin/campaigns/{campaign_id}").get_data(as_text=True)
    shown = dict(re.findall(r'id="an-([a-z]+)">(\d+)<', page))
    assert shown == {"delivered": "4", "bounced": "2", "hard": "1", "soft": "1",
                     "complaints": "1", "unsubscribes": "1", "replies": "1"}
    assert "at or over the 0.3% Gmail and Yahoo allow" in page  # 1 of 5 is far over

    out = runner.invoke(args=["newsletter", "campaign", "status", str(campaign_id)]).output
    assert ("delivered 4 bounced hard 1 soft 1 complaints 1 unsubscribes 1 replies 1") in out


def test_a_later_copy_from_the_list_takes_the_unsubscribe(app, smtp, client, api_token):
    first, ids, list_id = _send(app, smtp)
    with app.app_context():
        second = new_campaign(db.session, _list(list_id), subject="Second")
        campaigns.send_now(second, NOW)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        second_id = second.id
        db.session.remove()
    drain(app)
    copy = [m for m in smtp.to("reader0@example.net") if m.message["Subject"] == "Second"][0]
    url = copy.message["List-Unsubscribe"].split(",")[0].strip(" <>")
    assert client.post(urlsplit(url).path,
                       data={"List-Unsubscribe": "One-Click"}).status_code == 200

    def unsubscribes(campaign_id: int) -> int:
        return client.get(f"/api/v1/campaigns/{campaign_id}/stats",
                          headers=api_token).get_json()["analytics"]["unsubscribes"]

    assert (unsubscribes(first), unsubscribes(second_id)) == (0, 1)


def _list(list_id: int):
    from newsletter.models import MailingList

    return db.session.get(MailingList, list_id)
