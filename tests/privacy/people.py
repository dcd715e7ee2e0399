"""The two people of the privacy tests: Ann (whose data is exported or erased) and Bob, who
shares her list, her campaign and her inbox thread, and whose data must stay out of her export
and survive her erasure. Their data is made by the real flows (form subscribe + confirm, a
campaign sent through the test SMTP server, replies, a DSN and a data request read from the reply
mailbox, an officer's note)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta

from campaign_support import NOW, drain
from inbound import mails
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import BounceEvent, Delivery, MailingList, PolicyVersion
from newsletter.privacy import audit
from newsletter.sending import campaigns, mailer
from newsletter.subscribers import confirmation, subscriptions

ANN, ANN_NAME = "ann.quill@example.org", "Annabel Quillfeather"
BOB, BOB_NAME = "bob.stone@example.com", "Robert Stone"


@dataclass
class World:
    list_id: int
    campaign_id: int
    ann: int
    bob: int


def _subscribe(session, config, email, name, mailing_list) -> int:
    outcome = subscriptions.subscribe(session, subscriptions.SubscribeRequest(
        email=email, lists=[mailing_list], name=name, ip="203.0.113.7",
        user_agent=f"Browser for {email}", wording="Yes, send me Weekly"), now=NOW, config=config)
    session.flush()
    confirmation.confirm(session, outcome.subscriber.id, [mailing_list.id], now=NOW,
                         config=config, ip="203.0.113.8", user_agent=f"Browser for {email}")
    session.commit()
    return outcome.subscriber.id


def make_world(app) -> World:
    """Ann and Bob on one list, one campaign sent to both, a thread of replies to it in the
    inbox (Bob also answers with Ann's forwarded newsletter), a bounce, a data request and an
    officer's note each."""
    config = app.config
    with app.app_context():
        session = db.session
        session.add(PolicyVersion(version="2026-01", effective_at=NOW - timedelta(days=30),
                                  summary="First policy"))
        weekly = MailingList(slug="weekly", name="Weekly", sender_name="Weekly",
                             sender_address="news@news.example.org")
        session.add(weekly)
        session.commit()
        ann = _subscribe(session, config, ANN, ANN_NAME, weekly)
        bob = _subscribe(session, config, BOB, BOB_NAME, weekly)
        campaign = campaigns.create(session, subject="Weekly #1", body="Hi {{ subscriber.name }}",
                                    list_ids=[weekly.id], now=NOW)
        campaigns.send_now(campaign, NOW)
        session.commit()
        campaigns.dispatch_due_campaigns(session, config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        session.commit()
        world = World(weekly.id, campaign.id, ann, bob)
    drain(app)
    with app.app_context():
        session = db.session
        # A server reply that quotes the address (some do), in another case.
        for delivery in session.scalars(select(Delivery)):
            who = ANN.upper() if delivery.subscriber_id == ann else BOB
            delivery.smtp_response = f"250 2.0.0 <{who}> queued as 4XyZ"
        # A soft bounce quoting the address, and an erasure request by bare From.
        for person, email in ((ann, ANN), (bob, BOB)):
            process(session, config, mails.dsn(config, person, campaign.id, status="5.2.2",
                                               diagnostic=f"552 5.2.2 <{email}> mailbox full",
                                               message_id=f"<dsn-{person}@mx>", recipient=email),
                    NOW)
            process(session, config, mails.plain(
                f"{ANN_NAME if person == ann else BOB_NAME} <{email}>", "privacy@news.example.org",
                f"Delete my data ({email})", "Please delete all my data.",
                message_id=f"<erase-{person}@example.org>"), NOW)
        # A thread under the campaign: each replies, and Bob answers a newsletter Ann forwarded
        # him (it carries Ann's reply token).
        for person, sender, text, key in (
                (ann, f"{ANN_NAME} <{ANN}>", "Thanks, lovely tips!", "<reply-ann@example.org>"),
                (bob, f"{BOB_NAME} <{BOB}>", "Thanks from me too.", "<reply-bob@example.com>"),
                (ann, f"{BOB_NAME} <{BOB}>", "Ann sent me this, nice.", "<fwd-bob@example.com>")):
            process(session, config, mails.reply(config, person, campaign.id, text,
                                                 message_id=key, sender=sender), NOW)
        # A third person's mail that quotes the address (in capitals) in its body.
        process(session, config, mails.plain(
            "Carol <carol@example.net>", "privacy@news.example.org", "A question",
            f"My friend {ANN.upper()} asked me to write to you.", message_id="<carol@example.net>"),
            NOW)
        # The worker keeps the SMTP reply of a refusal, which often quotes the address.
        bounces = session.scalars(select(BounceEvent)).all()
        assert {b.subscriber_id for b in bounces} == {ann, bob}
        for bounce in bounces:
            who = ANN.title() if bounce.subscriber_id == ann else BOB
            bounce.detail = f"552 5.2.2 <{who}>: mailbox full; {bounce.detail}"
        # An officer's note quoting each address.
        for email, name in ((ANN, ANN_NAME), (BOB, BOB_NAME)):
            audit.record(session, actor="admin:officer@example.org", action="note",
                         subject_type="list", subject_id=world.list_id, now=NOW,
                         detail={"caller": email}, note=f"{name} phoned about {email}")
        session.commit()
        mailer.send_committed(session, config, None, NOW)
    return world


def find_text(session, *needles: str) -> list[str]:
    """Every (table.column) whose value contains a needle, case-insensitively, in any type."""
    found = []
    for table in db.metadata.sorted_tables:
        for row in session.execute(select(table)).mappings():
            for column, value in row.items():
                if isinstance(value, bytes):
                    text = value.decode("latin-1")
                elif isinstance(value, (dict, list)):
                    text = json.dumps(value, ensure_ascii=False)
                else:
                    text = str(value)
                found += [f"{table.name}.{column}" for n in needles if n.lower() in text.lower()]
    return sorted(set(found))


