"""Helpers shared by the campaign and delivery tests: a DKIM key, lists full of subscribers,
and a worker that drains the outbox."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path

import dkim
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import insert, select

from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    MailingList,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.sending import campaigns
from newsletter.sending.pipelining import campaign_transport
from newsletter.sending.worker import DeliveryWorker
from newsletter.subscribers import suppression

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
SELECTOR = "test"


def write_dkim_key(directory: Path) -> tuple[Path, str]:
    """A fresh 2048-bit RSA key as PEM; returns (path, DNS TXT record)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = directory / "dkim.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                       serialization.PrivateFormat.TraditionalOpenSSL,
                                       serialization.NoEncryption()))
    public = key.public_key().public_bytes(serialization.Encoding.DER,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    import base64

    return path, f"v=DKIM1; k=rsa; p={base64.b64encode(public).decode()}"


def dkim_valid(raw: bytes, txt_record: str) -> bool:
    """Verify with dkimpy against the test key (no DNS)."""

    def dnsfunc(name, timeout=5):
        return txt_record.encode() if name.startswith(f"{SELECTOR}._domainkey.".encode()) else None

    return dkim.verify(raw, dnsfunc=dnsfunc)


def make_list(session, slug: str = "news", **fields) -> MailingList:
    """A mailing list with a sender."""
    mailing_list = MailingList(slug=slug, name=fields.pop("name", "Weekly News"),
                               sender_name="The News", sender_address="news@example.org", **fields)
    session.add(mailing_list)
    session.commit()
    return mailing_list


def add_subscribers(session, mailing_list: MailingList, count: int, start: int = 0,
                    prefix: str = "reader") -> list[int]:
    """`count` active subscribers confirmed on the list (bulk inserts); returns their ids."""
    rows = [{"email": f"{prefix}{i}@example.net", "name": f"Reader {i}",
             "status": SubscriberStatus.active, "attributes": {"n": i}, "token_version": 1,
             "created_at": NOW, "updated_at": NOW} for i in range(start, start + count)]
    session.execute(insert(Subscriber), rows)
    ids = list(session.scalars(select(Subscriber.id).where(
        Subscriber.email.in_([r["email"] for r in rows])).order_by(Subscriber.id)))
    session.execute(insert(Subscription), [
        {"subscriber_id": sid, "list_id": mailing_list.id, "status": SubscriptionStatus.confirmed,
         "source": "import", "created_at": NOW, "confirmed_at": NOW} for sid in ids])
    session.commit()
    return ids


def new_campaign(session, mailing_list: MailingList, **fields) -> Campaign:
    """A draft to one list."""
    fields.setdefault("subject", "Hello {{ subscriber.name }}")
    fields.setdefault("body", "# News\n\nHi {{ subscriber.name }}, here is the news.\n\n"
                              "[Read more](https://example.org/more)")
    campaign = campaigns.create(session, list_ids=[mailing_list.id], now=NOW, **fields)
    session.commit()
    return campaign


def suppress(app, session, email: str) -> None:
    """Put an address on the suppression list."""
    from newsletter.models import SuppressionReason

    suppression.suppress(session, app.config["NEWSLETTER_SUPPRESSION_KEY"], email,
                         SuppressionReason.manual, NOW)
    session.commit()


def drain(app, clock=None, stop: threading.Event | None = None, rounds: int = 10_000) -> int:
    """Run one in-process worker until nothing is claimable; returns messages sent."""
    with app.app_context():
        transport = campaign_transport(app.config)
        # aiosmtpd does not advertise PIPELINING but handles it: test the pipelined path.
        transport.force_pipelining = True
        worker = DeliveryWorker(app.config, transport, clock=clock or (lambda: datetime.now(UTC)))
        sent = 0
        try:
            for _ in range(rounds):
                sent += worker.run_once(db.session, stop)
                if not worker.last_claimed:
                    break
        finally:
            worker.close()
            transport.close()
            db.session.remove()
    return sent


def start_campaign(app, count: int, **list_fields) -> int:
    """A campaign to `count` subscribers, dispatched; returns its id."""
    with app.app_context():
        news = make_list(db.session, **list_fields)
        add_subscribers(db.session, news, count)
        campaign = new_campaign(db.session, news)
        campaigns.send_now(campaign, NOW)
        db.session.commit()
        campaign_id = campaign.id
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        db.session.remove()
    return campaign_id
