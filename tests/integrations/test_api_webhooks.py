"""Outgoing webhooks through the JSON API (newsletter/web/api/webhooks.py), with real tokens on
both databases: register (the secret in that answer only), list, the delivery log with the
receiver's answer, remove with its queue; the same audit rows as the admin page and the CLI
(written by integrations/webhooks.py); admin tokens only; the admin form's refusals as 422."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from test_api_tokens import make_token

from newsletter.extensions import db
from newsletter.integrations import webhooks
from newsletter.models import AuditEvent, MailingList, Role, Webhook, WebhookDelivery, utcnow
from newsletter.subscribers import subscriptions

from .test_webhooks import SECRET, register_in_admin, send_due


@pytest.fixture
def admin(app):
    app.config["NEWSLETTER_WEBHOOK_ALLOW_PRIVATE"] = True  # the receiver is on 127.0.0.1
    return make_token(app, Role.admin)


def _audit(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return rows


def _subscribe(app, email: str) -> None:
    with app.app_context():
        news = MailingList(slug="news", name="News")
        db.session.add(news)
        subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email=email, lists=[news]), now=utcnow(), config=app.config)
        db.session.commit()
        db.session.remove()


def test_register_shows_the_secret_once_and_the_log_shows_each_delivery(app, client, admin,
                                                                       receiver):
    response = client.post("/api/v1/webhooks", headers=admin, json={
        "url": receiver.url + "/hook", "events": ["subscribed", "confirmed"]})
    assert response.status_code == 201, response.get_json()
    created = response.get_json()
    secret = created["secret"]
    assert len(secret) >= 32 and created["events"] == ["confirmed", "subscribed"]
    assert created["created_by"] == "api:admin tests"
    with app.app_context():
        row = db.session.get(Webhook, created["id"])
        assert (row.url, row.secret, row.enabled) == (receiver.url + "/hook", secret, True)
    # Never again: not in the listing.
    listed = client.get("/api/v1/webhooks", headers=admin).get_json()
    assert [item["id"] for item in listed] == [created["id"]]
    assert "secret" not in listed[0] and secret not in str(listed)
    [audited] = _audit(app, "webhook.register")
    assert audited.actor == "api:admin tests" and audited.origin == "127.0.0.1"
    assert audited.detail == {"url": receiver.url + "/hook", "events": ["confirmed", "subscribed"]}

    _subscribe(app, "ada@example.org")
    log = f"/api/v1/webhooks/{created['id']}/deliveries"
    [queued] = client.get(log, headers=admin).get_json()
    assert (queued["event"], queued["status"], queued["attempts"]) == ("subscribed", "queued", 0)
    now = utcnow()
    assert send_due(app, now) == 1
    [sent] = client.get(log, headers=admin).get_json()
    assert (sent["status"], sent["attempts"], sent["last_status"]) == ("sent", 1, 200)
    assert sent["sent_at"] is not None and "payload" not in sent  # no address in the log
    # The secret from the answer is the one the requests are signed with.
    [(headers, body)] = receiver.posts()
    assert webhooks.verify_signature(secret, headers[webhooks.SIGNATURE_HEADER], body, now)
    assert client.get(f"{log}?limit=0", headers=admin).status_code == 422


def test_remove_takes_the_queue_with_it_and_is_audited(app, client, admin, receiver):
    created = client.post("/api/v1/webhooks", headers=admin, json={
        "url": receiver.url + "/hook", "events": ["subscribed"], "secret": SECRET}).get_json()
    assert created["secret"] == SECRET
    _subscribe(app, "ada@example.org")
    response = client.delete(f"/api/v1/webhooks/{created['id']}", headers=admin)
    assert response.status_code == 204
    with app.app_context():
        assert db.session.scalars(select(Webhook)).all() == []
        assert db.session.scalars(select(WebhookDelivery)).all() == []
    [audited] = _audit(app, "webhook.remove")
    assert (audited.actor, audited.subject_id) == ("api:admin tests", str(created["id"]))
    assert client.delete(f"/api/v1/webhooks/{created['id']}", headers=admin).status_code == 404
    assert client.get(f"/api/v1/webhooks/{created['id']}/deliveries",
                      headers=admin).status_code == 404
    assert len(_audit(app, "webhook.remove")) == 1


def test_the_admin_page_and_the_api_write_the_same_audit_row(app, admin_client, client, admin,
                                                             receiver):
    assert register_in_admin(admin_client, receiver.url + "/a", ["subscribed"]).status_code == 200
    client.post("/api/v1/webhooks", headers=admin, json={
        "url": receiver.url + "/b", "events": ["subscribed"], "secret": SECRET})
    page, api = _audit(app, "webhook.register")
    assert (page.actor, api.actor) == ("admin:admin@example.org", "api:admin tests")
    assert (page.subject_type, page.detail.keys()) == (api.subject_type, api.detail.keys())


@pytest.mark.parametrize("body, error", [
    ({"url": "http://127.0.0.1:8080/hook", "events": ["subscribed"]}, "not a public address"),
    ({"url": "ftp://example.com/hook", "events": ["subscribed"]}, "http:// or https://"),
    ({"url": "http://1.1.1.1/hook\x00", "events": ["subscribed"]}, "control characters"),
    ({"url": "http://1.1.1.1/hook", "events": []}, "choose at least one event"),
    ({"url": "http://1.1.1.1/hook", "events": ["subscribed"], "secret": "short"}, "16 to 200"),
    ({"url": "http://1.1.1.1/hook", "events": ["subscribed"], "secret": "x" * 20 + "\x00"},
     "control characters"),
])
def test_the_admin_forms_refusals_are_422(app, client, body, error):
    headers = make_token(app, Role.admin)  # NEWSLETTER_WEBHOOK_ALLOW_PRIVATE off
    response = client.post("/api/v1/webhooks", headers=headers, json=body)
    assert response.status_code == 422, response.get_json()
    assert error in response.get_json()["message"]
    with app.app_context():
        assert db.session.scalars(select(Webhook)).all() == []
    assert _audit(app, "webhook.register") == []


def test_only_admin_tokens(app, client, admin, receiver):
    body = {"url": receiver.url + "/hook", "events": ["subscribed"]}
    assert client.get("/api/v1/webhooks").status_code == 401
    assert client.post("/api/v1/webhooks", json=body).status_code == 401
    assert client.post("/api/v1/webhooks", headers={"Authorization": "Bearer nope"},
                       json=body).status_code == 401
    for role in (Role.marketer, Role.privacy, Role.read_only):
        headers = make_token(app, role)
        assert client.get("/api/v1/webhooks", headers=headers).status_code == 403
        assert client.post("/api/v1/webhooks", headers=headers, json=body).status_code == 403
        assert client.get("/api/v1/webhooks/1/deliveries", headers=headers).status_code == 403
        assert client.delete("/api/v1/webhooks/1", headers=headers).status_code == 403
    with app.app_context():
        assert db.session.scalars(select(Webhook)).all() == []
    assert client.post("/api/v1/webhooks", headers=admin, json={
        "url": receiver.url, "events": ["no-such-event"]}).status_code == 422
