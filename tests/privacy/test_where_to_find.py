"""Where people find their data rights: every mail (campaign and transactional, as the SMTP server
received it) and the public pages link to /privacy/request."""

from __future__ import annotations

import re

from campaign_support import NOW, drain
from sqlalchemy import select

from newsletter import links
from newsletter.extensions import db
from newsletter.models import Campaign, MailingList, Subscriber
from newsletter.sending import campaigns, layouts

from .people import ANN
from conftest import deliver_queued

LAYOUT_WITHOUT_IT = ("<html><body><div>{{ content }}</div>"
                     '<p><a href="{{ unsubscribe_url }}">Leave</a></p></body></html>')


def _parts(received) -> dict[str, str]:
    """The decoded text and HTML parts of one received message."""
    return {part.get_content_type(): part.get_content()
            for part in received.message.walk() if part.get_content_maintype() == "text"}


def test_every_mail_the_server_received_links_the_request_page(app, client, smtp, world):
    # The world sent confirmations, "you're subscribed" mails, a campaign and verification links;
    # add a campaign whose own layout forgot the link, and an erasure's last mail.
    with app.app_context():
        layouts.save(db.session, mailing_list=db.session.get(MailingList, world.list_id),
                     name="Without it", source_format="html", source=LAYOUT_WITHOUT_IT, now=NOW,
                     actor="test", make_default=True)
        custom = campaigns.create(db.session, subject="Custom", body="Hello",
                                  list_ids=[world.list_id], now=NOW)
        campaigns.send_now(custom, NOW)
        db.session.commit()
        campaigns.dispatch_due_campaigns(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], NOW)
        db.session.commit()
    drain(app)
    assert app.test_cli_runner().invoke(args=["newsletter", "privacy", "erase", ANN, "--yes"]) \
        .exit_code == 0
    deliver_queued(app)
    url = links.privacy_request_url(app.config)
    subjects = [m.message["Subject"] for m in smtp.messages]
    for wanted in ("Please confirm your subscription to Weekly", "Weekly #1", "Custom",
                   "Please confirm your request to delete your data"):
        assert wanted in subjects
    assert any("deleted" in s for s in subjects)  # the erasure's last mail
    for received in smtp.messages:
        parts = _parts(received)
        assert parts, received.message["Subject"]
        for kind, content in parts.items():
            assert url in content, (received.message["Subject"], kind)
        if "text/html" in parts:
            assert re.search(rf'href="{re.escape(url)}"', parts["text/html"])


def test_the_public_pages_link_the_request_page(app, client, world):
    with app.app_context():
        subscriber = db.session.get(Subscriber, world.bob)
        preferences = links.preferences_url(app.config, subscriber.id, subscriber.token_version)
        assert db.session.scalar(select(Campaign.id))  # the world is there
        db.session.get(MailingList, world.list_id).public = True  # its form is shown
        db.session.commit()
    for path in ("/privacy", "/subscribe/weekly",
                 preferences.removeprefix(app.config["NEWSLETTER_BASE_URL"])):
        page = client.get(path)
        assert page.status_code == 200, path
        assert 'href="/privacy/request"' in page.get_data(as_text=True), path
