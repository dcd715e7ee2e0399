"""Proofs for a chosen subscriber over HTTP: the preview page shows their subject and mail and
writes one audit row; a test copy rendered with their data reaches the staff address given
(SMTP bytes), audited; roles hold (newsletter/sending/proofs.py)."""

from __future__ import annotations

import re

import pytest
from campaign_support import NOW, make_list, new_campaign
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter.sending import layouts

from conftest import csrf_token, deliver_queued

BODY = "Hi {{ subscriber.name }}, your plan is {{ subscriber.attributes.plan }}."


def _world(app) -> tuple[int, int]:
    """A list in a brand layout, Ada on it, a campaign to it; (campaign id, Ada's id)."""
    with app.app_context():
        news = make_list(db.session, "news", name="Weekly News")
        layouts.save(db.session, mailing_list=news, name="Brand", source_format="html",
                     source='<div class="masthead">{{ list.name }}</div>{{ content }}',
                     now=NOW, actor="test")
        ada = Subscriber(email="ada@example.net", name="Ada Lovelace", attributes={"plan": "pro"},
                         status=SubscriberStatus.active, created_at=NOW, updated_at=NOW)
        stranger = Subscriber(email="bob@example.net", name="Bob", status=SubscriberStatus.active,
                              created_at=NOW, updated_at=NOW)
        db.session.add_all([ada, stranger])
        db.session.flush()
        db.session.add(Subscription(subscriber_id=ada.id, list_id=news.id,
                                    status=SubscriptionStatus.confirmed, source="import",
                                    created_at=NOW, confirmed_at=NOW))
        db.session.commit()
        campaign = new_campaign(db.session, news, subject="News for {{ subscriber.name }}",
                                body=BODY)
        return campaign.id, ada.id


def _audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        return db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)).all()


def test_a_test_copy_as_a_subscriber_reaches_the_staff_address_with_their_data(
        app, admin_client, smtp):
    campaign_id, ada_id = _world(app)
    token = csrf_token(admin_client, f"/admin/campaigns/{campaign_id}")
    response = admin_client.post(f"/admin/campaigns/{campaign_id}/test", data={
        "csrf_token": token, "addresses": "editor@example.org",
        "as_subscriber": "ADA@example.net"})
    assert response.status_code == 303
    deliver_queued(app)
    received = smtp.wait_for(1)
    assert len(received) == 1 and received[0].rcpt_tos == ["editor@example.org"]
    raw = received[0].raw
    assert b"\r\nTo: editor@example.org\r\n" in raw and b"ada@example.net" not in raw.split(
        b"\r\n\r\n")[0]
    message = received[0].message
    assert message["Subject"] == "[Test] News for Ada Lovelace"
    html = message.get_body(("html",)).get_content()
    text = message.get_body(("plain",)).get_content()
    assert "Hi Ada Lovelace, your plan is pro." in html and "Weekly News" in html
    assert "Hi Ada Lovelace, your plan is pro." in text
    # Her own links are not in it: staff cannot act for her from a test copy.
    path = re.search(r"https?://[^/\s]+(/preferences/\S+)", text).group(1)
    page = admin_client.get(path)
    assert page.status_code == 400
    assert "This is a test copy of a newsletter" in page.get_data(as_text=True)
    rows = _audit(app, "subscriber.mail_test")
    assert [(r.subject_id, r.actor, r.detail) for r in rows] == [
        (str(ada_id), "admin:admin@example.org",
         {"campaign": campaign_id, "to": ["editor@example.org"]})]


def test_a_test_copy_for_someone_not_on_the_lists_is_refused(app, admin_client, smtp):
    campaign_id, _ = _world(app)
    token = csrf_token(admin_client, f"/admin/campaigns/{campaign_id}")
    response = admin_client.post(f"/admin/campaigns/{campaign_id}/test", data={
        "csrf_token": token, "addresses": "editor@example.org",
        "as_subscriber": "bob@example.net"}, follow_redirects=True)
    assert "is not a subscriber of this campaign&#39;s lists" in response.get_data(as_text=True)
    assert deliver_queued(app) == 0 and not _audit(app, "subscriber.mail_test")


def test_the_preview_as_a_subscriber_shows_their_subject_and_is_audited_once(app, admin_client):
    campaign_id, ada_id = _world(app)
    token = csrf_token(admin_client, f"/admin/campaigns/{campaign_id}")
    page = admin_client.post(f"/admin/campaigns/{campaign_id}/preview-as",
                             data={"csrf_token": token, "email": "ada@example.net"})
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert re.search(r'id="proof-subject">News for Ada Lovelace<', body)
    frames = re.findall(r'<iframe class="proof-frame[^"]*"[^>]*src="([^"]+)"', body)
    assert len(frames) == 2
    rows = _audit(app, "subscriber.mail_preview")
    assert [(r.subject_id, r.detail) for r in rows] == [(str(ada_id), {"campaign": campaign_id})]
    # The page's two frames cite its row: no more rows for the same look.
    for src in frames:
        frame = admin_client.get(src.replace("&amp;", "&"))
        assert "Hi Ada Lovelace, your plan is pro." in frame.get_data(as_text=True)
        assert frame.headers["Content-Security-Policy"].startswith("sandbox allow-same-origin;")
    assert len(_audit(app, "subscriber.mail_preview")) == 1
    # A frame asked for on its own is a look of its own.
    admin_client.get(f"/admin/campaigns/{campaign_id}/preview?subscriber={ada_id}")
    assert len(_audit(app, "subscriber.mail_preview")) == 2


def test_the_preview_is_only_for_subscribers_of_the_campaigns_lists(app, admin_client):
    campaign_id, _ = _world(app)
    with app.app_context():
        bob = db.session.scalar(select(Subscriber.id).where(Subscriber.email == "bob@example.net"))
    token = csrf_token(admin_client, f"/admin/campaigns/{campaign_id}")
    refused = admin_client.post(f"/admin/campaigns/{campaign_id}/preview-as",
                                data={"csrf_token": token, "email": "bob@example.net"})
    assert refused.status_code == 303
    assert admin_client.get(f"/admin/campaigns/{campaign_id}/preview?subscriber={bob}") \
        .status_code == 404
    assert not _audit(app, "subscriber.mail_preview")


@pytest.mark.parametrize("role, allowed", [(Role.marketer, True), (Role.privacy, False)])
def test_only_marketers_and_admins_see_or_send_proofs(app, auth, client, smtp, role, allowed):
    campaign_id, ada_id = _world(app)
    auth.create(email="u@example.org", role=role)
    auth.login(email="u@example.org")
    token = csrf_token(client, "/admin/account")
    page = client.post(f"/admin/campaigns/{campaign_id}/preview-as",
                       data={"csrf_token": token, "email": "ada@example.net"})
    frame = client.get(f"/admin/campaigns/{campaign_id}/preview?subscriber={ada_id}")
    sent = client.post(f"/admin/campaigns/{campaign_id}/test", data={
        "csrf_token": token, "addresses": "u@example.org", "as_subscriber": "ada@example.net"})
    assert (page.status_code, frame.status_code, sent.status_code) == \
        ((200, 200, 303) if allowed else (403, 403, 403))
    deliver_queued(app)
    assert len(smtp.to("u@example.org")) == (1 if allowed else 0)
    assert len(_audit(app, "subscriber.mail_preview")) == (2 if allowed else 0)


def test_the_cli_sends_a_test_copy_as_a_subscriber(app, runner, smtp):
    campaign_id, ada_id = _world(app)
    result = runner.invoke(args=["newsletter", "campaign", "test", str(campaign_id),
                                 "--to", "editor@example.org", "--as", "ada@example.net"])
    assert result.exit_code == 0, result.output
    deliver_queued(app)
    received = smtp.wait_for(1)[0]
    assert received.rcpt_tos == ["editor@example.org"]
    assert "Hi Ada Lovelace, your plan is pro." in received.message.get_body(("plain",)).get_content()
    assert [(r.subject_id, r.actor) for r in _audit(app, "subscriber.mail_test")] == \
        [(str(ada_id), "cli")]
    stranger = runner.invoke(args=["newsletter", "campaign", "test", str(campaign_id),
                                   "--to", "editor@example.org", "--as", "bob@example.net"])
    assert stranger.exit_code != 0 and "is not a subscriber of this campaign's lists" in \
        stranger.output


def test_a_test_copy_as_a_subscriber_carries_our_words_in_their_language(app, admin_client, smtp):
    campaign_id, ada_id = _world(app)
    with app.app_context():
        db.session.get(Subscriber, ada_id).language = "de"
        db.session.commit()
    token = csrf_token(admin_client, f"/admin/campaigns/{campaign_id}")
    admin_client.post(f"/admin/campaigns/{campaign_id}/test", data={
        "csrf_token": token, "addresses": "editor@example.org", "as_subscriber": "ada@example.net"})
    deliver_queued(app)
    text = smtp.wait_for(1)[0].message.get_body(("plain",)).get_content()
    assert "\nAbmelden: http" in text and "Ihre Daten: einsehen oder löschen lassen: http" in text
    assert "Hi Ada Lovelace, your plan is pro." in text  # the marketer's words stay as written
