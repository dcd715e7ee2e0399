"""The JSON API for lists, subscribers and the suppression list, seen from a client."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import (
    AuditEvent,
    ConsentEvent,
    ConsentMethod,
    MailingList,
    Subscriber,
    Suppression,
)


@pytest.fixture
def api(app, api_token):
    client = app.test_client()

    class Api:
        def get(self, url, **kw):
            return client.get(f"/api/v1{url}", headers=api_token, **kw)

        def post(self, url, json=None):
            return client.post(f"/api/v1{url}", headers=api_token, json=json)

        def patch(self, url, json=None):
            return client.patch(f"/api/v1{url}", headers=api_token, json=json)

    api = Api()
    assert api.post("/lists", {"slug": "news", "name": "News", "sender_address": "n@example.org"}
                    ).status_code == 201
    return api


def test_api_needs_a_token(client):
    assert client.get("/api/v1/subscribers").status_code == 401
    assert client.get("/api/v1/subscribers", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_openapi_document_is_generated_from_the_code(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert {"/api/v1/lists", "/api/v1/subscribers", "/api/v1/suppressions/lift"} <= set(doc["paths"])
    create = doc["paths"]["/api/v1/subscribers"]["post"]
    assert "422" in create["responses"] and "409" in create["responses"]


def test_lists_create_read_update(api):
    assert api.get("/lists/news").get_json()["double_opt_in"] is True
    assert api.post("/lists", {"slug": "news", "name": "Again"}).status_code == 409
    assert api.post("/lists", {"slug": "Bad Slug!", "name": "X"}).status_code == 422
    assert api.post("/lists", {"slug": "x", "name": "X", "sender_name": "A\r\nBcc: y"}).status_code == 422
    response = api.patch("/lists/news", {"name": "News 2", "public": True})
    assert response.status_code == 200 and response.get_json()["name"] == "News 2"
    assert api.get("/lists/nope").status_code == 404


def test_count_clicks_is_off_by_default_and_set_through_the_list(app, api):
    assert api.get("/lists/news").get_json()["count_clicks"] is False
    response = api.patch("/lists/news", {"count_clicks": True})
    assert response.status_code == 200 and response.get_json()["count_clicks"] is True
    assert api.patch("/lists/news", {"name": "News 2"}).get_json()["count_clicks"] is True
    created = api.post("/lists", {"slug": "counted", "name": "C", "count_clicks": True})
    assert created.status_code == 201 and created.get_json()["count_clicks"] is True
    assert api.patch("/lists/news", {"count_clicks": "maybe"}).status_code == 422
    with app.app_context():
        assert dict(db.session.execute(select(MailingList.slug, MailingList.count_clicks)).all()) == {
            "news": True, "counted": True}
    assert api.patch("/lists/news", {"count_clicks": False}).get_json()["count_clicks"] is False
    with app.app_context():
        assert db.session.scalar(select(MailingList.count_clicks).where(
            MailingList.slug == "news")) is False


def test_create_is_double_opt_in_by_default(app, api, smtp):
    response = api.post("/subscribers", {"email": "Ada@Example.org", "lists": ["news"], "name": "Ada"})
    assert response.status_code == 201
    body = response.get_json()
    assert body["email"] == "ada@example.org" and body["status"] == "pending"
    assert body["subscriptions"][0]["status"] == "pending"
    smtp.wait_for(1)
    assert "confirm" in smtp.to("ada@example.org")[0].message["Subject"]


def test_create_with_existing_consent_is_recorded_as_such(app, api, smtp):
    response = api.post("/subscribers", {"email": "b@example.org", "lists": ["news"],
                                         "consent_basis": "existing",
                                         "wording": "Ticked the box at the fair, 2024"})
    assert response.get_json()["status"] == "active"
    with app.app_context():
        event = db.session.scalar(select(ConsentEvent))
        assert event.method is ConsentMethod.api and event.wording == "Ticked the box at the fair, 2024"


@pytest.mark.parametrize("body,status", [
    ({"email": "x@example.org", "lists": ["nope"]}, 404),
    ({"email": "x@example.org", "lists": []}, 422),
    ({"email": "not-an-address", "lists": ["news"]}, 422),
    ({"email": "x@example.org", "lists": ["news"], "name": "X\nBcc: y@example.org"}, 422),
    ({"email": "x@example.org", "lists": ["news"], "country": "XX"}, 422),
    ({"email": "x@example.org", "lists": ["news"], "consent_basis": "trust-me"}, 422),
    ({"email": "x\x00@example.org", "lists": ["news"]}, 422),
])
def test_bad_input_gets_4xx_not_5xx(app, api, body, status):
    assert api.post("/subscribers", body).status_code == status
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 0


def test_suppressed_address_is_refused_and_gets_no_mail(api, smtp):
    assert api.post("/suppressions", {"email": "gone@example.org", "reason": "complaint"}).status_code == 201
    assert api.post("/subscribers", {"email": "gone@example.org", "lists": ["news"]}).status_code == 409
    assert smtp.to("gone@example.org") == []
    assert api.post("/suppressions/check", {"email": "GONE@example.org"}).get_json()["suppressed"]


def test_lifting_needs_a_reason_and_is_audited(app, api):
    api.post("/suppressions", {"email": "x@example.org"})
    assert api.post("/suppressions/lift", {"email": "x@example.org", "reason": ""}).status_code == 422
    assert api.post("/suppressions/lift", {"email": "x@example.org", "reason": "typo"}).status_code == 200
    assert api.post("/suppressions/lift", {"email": "x@example.org", "reason": "again"}).status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(Suppression.id))) == 0
        assert db.session.scalar(select(AuditEvent.note).where(
            AuditEvent.action == "suppression.lift")) == "typo"


def test_search_edit_and_unsubscribe(app, api):
    for email in ("ada@example.org", "bob@example.org"):
        api.post("/subscribers", {"email": email, "lists": ["news"], "consent_basis": "existing"})
    found = api.get("/subscribers?q=ADA").get_json()
    assert [s["email"] for s in found] == ["ada@example.org"]
    assert len(api.get("/subscribers?list=news&status=confirmed").get_json()) == 2
    assert api.get("/subscribers?status=bogus").status_code == 422
    subscriber_id = found[0]["id"]
    assert api.patch(f"/subscribers/{subscriber_id}", {"country": "DE"}).get_json()["country"] == "DE"
    left = api.post(f"/subscribers/{subscriber_id}/unsubscribe", {"lists": ["news"]}).get_json()
    assert left["subscriptions"][0]["status"] == "unsubscribed"
    assert api.get("/subscribers/99999999999").status_code == 404
    assert api.get("/subscribers?list=news&status=unsubscribed").get_json()[0]["id"] == subscriber_id
    with app.app_context():
        actions = set(db.session.scalars(select(AuditEvent.action).where(
            AuditEvent.subject_id == str(subscriber_id))))
        assert actions == {"subscriber.add", "subscriber.edit", "subscriber.unsubscribe"}


def test_search_is_the_admin_pages_filter_and_bulk_matching_chooses_the_same(app, api):
    for email in ("ada@example.org", "bob@example.org", "cy@example.org"):
        api.post("/subscribers", {"email": email, "lists": ["news"], "consent_basis": "existing"})
    api.post("/suppressions", {"email": "bob@example.org"})
    # A suppressed address is not active (eligibility.active), here as on the admin page.
    active = [s["email"] for s in api.get("/subscribers?status=active").get_json()]
    assert active == ["cy@example.org", "ada@example.org"]
    assert [s["email"] for s in api.get("/subscribers?status=suppressed").get_json()] == [
        "bob@example.org"]
    chosen = api.post("/subscribers/bulk", {"action": "unsubscribe", "list": "news",
                                            "matching": {"status": "active"}}).get_json()
    assert chosen["chosen"] == len(active) == chosen["changed"]
    confirmed = api.get("/subscribers?list=news&status=confirmed").get_json()
    assert [s["email"] for s in confirmed] == ["bob@example.org"]


def test_api_subscribe_is_rate_limited_per_ip(app, api):
    app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"] = "2/minute"
    codes = [api.post("/subscribers", {"email": f"r{i}@example.org", "lists": ["news"]}).status_code
             for i in range(3)]
    assert codes == [201, 201, 429]
