"""The inbox and privacy pages, the public data-request form, and the API, seen over HTTP."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import (
    InboundMessage,
    InboundStatus,
    PrivacyRequest,
    PrivacyRequestStatus,
    Role,
    Subscription,
    SubscriptionStatus,
)

from . import mails
from .mails import NOW
from conftest import csrf_token, deliver_queued

HTML_REPLY = """--ALT
Content-Type: text/html; charset=utf-8

<p onclick="steal()">When is the <b>next</b> workshop?</p>
<img src="http://tracker.example/pixel.gif"><script>alert(1)</script>
<a href="javascript:alert(1)">x</a><a href="https://example.org/">site</a>
--ALT--"""


@pytest.fixture
def people(app):
    return mails.make_people(app)


def store(app, raw: bytes) -> int:
    with app.app_context():
        process(db.session, app.config, raw, NOW)
        return db.session.scalar(select(InboundMessage.id).order_by(InboundMessage.id.desc()))


def html_question(app, people) -> bytes:
    raw = mails.reply(app.config, people.alice, people.campaign, "x", message_id="<h1@x>")
    head = raw.split(b"\r\n\r\n", 1)[0].replace(b"text/plain; charset=utf-8",
                                                 b'multipart/alternative; boundary="ALT"')
    return head + b"\r\n\r\n" + HTML_REPLY.replace("\n", "\r\n").encode()


def test_inbox_lists_waiting_messages_and_renders_html_safely(app, admin_client, people):
    item = store(app, html_question(app, people))
    page = admin_client.get("/admin/inbox").get_data(as_text=True)
    assert f"/admin/inbox/{item}" in page
    page = admin_client.get(f"/admin/inbox/{item}").get_data(as_text=True)
    assert "<b>next</b> workshop" in page
    assert "tracker.example" not in page and "<script>alert" not in page
    assert "onclick" not in page and "javascript:" not in page
    assert "alice@example.net" in page


def test_inbox_unsubscribe_is_one_click_with_csrf(app, admin_client, people):
    item = store(app, mails.reply(app.config, people.alice, people.campaign,
                                  "Could you take care of my subscription?",
                                  message_id="<w1@x>"))
    url = f"/admin/inbox/{item}"
    assert admin_client.post(f"{url}/unsubscribe").status_code == 400  # no CSRF token
    response = admin_client.post(f"{url}/unsubscribe", data={"csrf_token": csrf_token(admin_client, url)})
    assert response.status_code == 303
    with app.app_context():
        assert {s.status for s in db.session.scalars(select(Subscription).where(
            Subscription.subscriber_id == people.alice))} == {SubscriptionStatus.unsubscribed}
        row = db.session.get(InboundMessage, item)
        assert row.status is InboundStatus.handled and row.human_verdict == "unsubscribe"
        assert row.handled_by == "admin:admin@example.org"


def test_inbox_says_what_was_done_in_words_and_links_the_subscriber(app, admin_client, people):
    item = store(app, mails.reply(app.config, people.alice, people.campaign,
                                  "Could you take care of my subscription?", message_id="<w2@x>"))
    url = f"/admin/inbox/{item}"
    admin_client.post(f"{url}/unsubscribe", data={"csrf_token": csrf_token(admin_client, url)})
    page = admin_client.get("/admin/inbox?status=handled").get_data(as_text=True)
    assert re.search(r'class="action"[^>]*>Unsubscribed from \d+ lists? \(by a person\)<', page)
    assert "-lists-by-admin<" not in page
    assert f'href="/admin/subscribers/{people.alice}"' in page
    page = admin_client.get(url).get_data(as_text=True)
    assert f'href="/admin/subscribers/{people.alice}"><strong id="subscriber">' in page


def test_an_answer_from_the_inbox_is_mailed_threaded_and_recorded(app, admin_client, people, smtp):
    item = store(app, html_question(app, people))
    url = f"/admin/inbox/{item}"
    empty = admin_client.post(f"{url}/answer", data={"csrf_token": csrf_token(admin_client, url),
                                                     "text": "  "}, follow_redirects=True)
    assert "Write the answer first." in empty.get_data(as_text=True) and smtp.messages == []
    response = admin_client.post(f"{url}/answer", data={
        "csrf_token": csrf_token(admin_client, url), "text": "The next one is on 3 March."})
    assert response.status_code == 303
    [sent] = smtp.wait_for(1)
    assert sent.rcpt_tos == ["alice@example.net"]
    assert sent.message["In-Reply-To"] == "<h1@x>" and sent.message["References"] == "<h1@x>"
    assert sent.message["Subject"].startswith("Re: ")
    assert b"\r\nIn-Reply-To: <h1@x>\r\n" in sent.raw
    assert sent.message["Auto-Submitted"] is None  # a person wrote it (RFC 3834)
    assert "The next one is on 3 March." in sent.message.get_body(("plain",)).get_content()
    with app.app_context():
        row = db.session.get(InboundMessage, item)
        assert row.status is InboundStatus.handled and row.action == "answered-by-admin"
        from newsletter.models import AuditEvent

        assert db.session.scalar(select(AuditEvent).where(
            AuditEvent.action == "inbound.answer")).detail["to"] == "alice@example.net"
    page = admin_client.get("/admin/inbox?status=handled").get_data(as_text=True)
    assert "Answered by a person (the answer was mailed)" in page


def test_reclassify_keeps_a_labelled_example_and_acts(app, admin_client, people, api_token):
    item = store(app, mails.reply(app.config, people.bob, people.campaign,
                                  "Enough of this, bye.", message_id="<w2@x>",
                                  sender="bob@example.com"))
    url = f"/admin/inbox/{item}"
    admin_client.post(f"{url}/reclassify", data={"verdict": "unsubscribe",
                                                 "csrf_token": csrf_token(admin_client, url)})
    with app.app_context():
        row = db.session.get(InboundMessage, item)
        assert (row.verdict, row.human_verdict) == ("human", "unsubscribe")
        sub = db.session.scalar(select(Subscription).where(Subscription.subscriber_id == people.bob))
        assert sub.status is SubscriptionStatus.unsubscribed
    labelled = admin_client.get("/api/v1/inbound?labelled=true", headers=api_token).get_json()
    assert [i["id"] for i in labelled] == [item]
    raw = admin_client.get(f"/api/v1/inbound/{item}/raw", headers=api_token)
    assert raw.mimetype == "message/rfc822" and b"Enough of this" in raw.data


def test_mark_handled_takes_it_out_of_the_waiting_list(app, admin_client, people):
    item = store(app, mails.reply(app.config, people.alice, people.campaign, "Hello!",
                                  message_id="<w3@x>"))
    url = f"/admin/inbox/{item}"
    admin_client.post(f"{url}/handled", data={"csrf_token": csrf_token(admin_client, url)})
    assert f"/admin/inbox/{item}" not in admin_client.get("/admin/inbox").get_data(as_text=True)


def test_inbox_needs_the_marketer_role(app, client, auth, people):
    auth.create(email="dpo@example.org", role=Role.privacy)
    auth.login(email="dpo@example.org")
    assert client.get("/admin/inbox").status_code == 403
    assert client.get("/admin/privacy").status_code == 200


def test_public_privacy_request_is_verified_by_a_mailed_link(app, client, smtp, admin_client):
    token = csrf_token(client, "/privacy/request")
    page = client.post("/privacy/request", data={"email": "carol@example.org", "kind": "erasure",
                                                 "csrf_token": token})
    assert page.status_code == 200 and "Check your mail" in page.get_data(as_text=True)
    assert deliver_queued(app) == 1
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["carol@example.org"]
    link = re.search(r"http://newsletter\.test(/privacy/verify/\S+)",
                     mail.message.get_body(("plain",)).get_content()).group(1)
    assert "Confirm the request" in client.get(link).get_data(as_text=True)
    with app.app_context():  # GET (a mail scanner) verifies nothing
        assert db.session.scalar(select(PrivacyRequest)).status is PrivacyRequestStatus.unverified
    done = client.post(link, data={"csrf_token": csrf_token(client, link)})
    # A verified erasure is carried out at once (privacy/erasure.py), known address or not.
    assert "Your data has been deleted" in done.get_data(as_text=True)
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest))
        assert request.status is PrivacyRequestStatus.completed and request.verified_at
        due = request.due_at.strftime("%Y-%m-%d")
    listing = admin_client.get("/admin/privacy?show=all").get_data(as_text=True)
    assert "erasure" in listing and due in listing and "erased 20" in listing


def test_privacy_request_answers_the_same_for_unknown_and_known_addresses(client, people):
    answers = []
    for email in ("alice@example.net", "nobody@example.org"):
        token = csrf_token(client, "/privacy/request")
        answers.append(client.post("/privacy/request", data={
            "email": email, "kind": "access", "csrf_token": token}).get_data(as_text=True)
            .replace(email, "X"))
    assert answers[0] == answers[1]


def test_tampered_verification_link_is_refused(client):
    assert client.get("/privacy/verify/not-a-token").status_code == 400


def test_api_lists_inbound_items_and_privacy_requests(app, client, api_token, people, smtp):
    store(app, mails.dsn(app.config, people.alice, people.campaign, status="5.1.1",
                         diagnostic="550 5.1.1 User unknown", message_id="<api1@mx>"))
    items = client.get("/api/v1/inbound?verdict=bounce_hard", headers=api_token).get_json()
    assert [i["message_key"] for i in items] == ["<api1@mx>"]
    assert items[0]["action"] == "bounce-hard: suppressed"
    created = client.post("/api/v1/privacy-requests", headers=api_token,
                          json={"email": "Alice@Example.net", "kind": "access"})
    assert created.status_code == 202 and created.get_json()["status"] == "unverified"
    assert smtp.wait_for(1)[0].rcpt_tos == ["alice@example.net"]
    listed = client.get("/api/v1/privacy-requests", headers=api_token).get_json()
    assert listed[0]["kind"] == "access" and listed[0]["due_at"]
    assert client.get("/api/v1/inbound").status_code == 401


def test_privacy_officer_opens_a_request_received_by_phone(app, client, auth, smtp):
    auth.create(email="dpo@example.org", role=Role.privacy)
    auth.login(email="dpo@example.org")
    response = client.post("/admin/privacy", data={
        "email": "Dora@Example.org", "kind": "access", "note": "phone call",
        "csrf_token": csrf_token(client, "/admin/privacy")})
    assert response.status_code == 303
    assert smtp.wait_for(1)[0].rcpt_tos == ["dora@example.org"]
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest))
        assert (request.source, request.note) == ("admin", "phone call")
