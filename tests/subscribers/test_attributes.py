"""Custom attributes set on a subscriber's admin page and through the API (audited, names and
values checked), and listed in the campaign form's template help."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import AuditEvent, Subscriber, SubscriberStatus

from conftest import csrf_token


@pytest.fixture
def ada(app):
    with app.app_context():
        row = Subscriber(email="ada@example.org", name="Ada", status=SubscriberStatus.active,
                         attributes={"plan": "free", "seats": 3})
        db.session.add(row)
        db.session.commit()
        return row.id


def stored(app, subscriber_id: int) -> dict:
    with app.app_context():
        return db.session.get(Subscriber, subscriber_id).attributes


def audit_rows(app, subscriber_id: int) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "subscriber.attributes",
            AuditEvent.subject_id == str(subscriber_id))).all()
        return [(row.actor, row.detail) for row in rows]


def test_admin_sets_changes_and_removes_attributes_audited(app, admin_client, ada):
    page = f"/admin/subscribers/{ada}"
    assert 'name="attr:plan"' in admin_client.get(page).get_data(as_text=True)
    response = admin_client.post(f"{page}/attributes", data={
        "csrf_token": csrf_token(admin_client, page), "attr:plan": "pro", "attr:seats": "3",
        "new_name": "city", "new_value": "London"})
    assert response.status_code == 302
    # seats was shown as "3" and sent back unchanged: it stays a number.
    assert stored(app, ada) == {"plan": "pro", "seats": 3, "city": "London"}
    admin_client.post(f"{page}/attributes", data={
        "csrf_token": csrf_token(admin_client, page), "attr:plan": "", "attr:seats": "3",
        "attr:city": "London"})
    assert stored(app, ada) == {"seats": 3, "city": "London"}
    # The audit row names what changed, never the values.
    assert audit_rows(app, ada) == [("admin:admin@example.org", {"names": ["city", "plan"]}),
                                    ("admin:admin@example.org", {"names": ["plan"]})]


def test_admin_refuses_a_bad_name_and_keeps_everything(app, admin_client, ada):
    page = f"/admin/subscribers/{ada}"
    response = admin_client.post(f"{page}/attributes", data={
        "csrf_token": csrf_token(admin_client, page), "attr:plan": "pro",
        "new_name": "Not A Name", "new_value": "x"}, follow_redirects=True)
    assert "An attribute name must be" in response.get_data(as_text=True)
    assert stored(app, ada) == {"plan": "free", "seats": 3}
    # Without the CSRF token the form does nothing.
    assert admin_client.post(f"{page}/attributes", data={"attr:plan": "x"}).status_code == 400
    assert stored(app, ada) == {"plan": "free", "seats": 3}


def test_api_reads_merges_and_removes_attributes(app, api_token, ada):
    client = app.test_client()
    url = f"/api/v1/subscribers/{ada}"
    assert client.get(url, headers=api_token).get_json()["attributes"] == {"plan": "free",
                                                                            "seats": 3}
    response = client.patch(url, headers=api_token,
                            json={"attributes": {"plan": "pro", "seats": None, "vip": True}})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["attributes"] == {"plan": "pro", "vip": True}
    assert stored(app, ada) == {"plan": "pro", "vip": True}
    assert audit_rows(app, ada) == [("api:tests", {"names": ["plan", "seats", "vip"]})]
    for bad in ({"Bad Name": "x"}, {"plan": {"nested": 1}}, {"plan": "a\r\nb"}):
        response = client.patch(url, headers=api_token, json={"attributes": bad})
        assert response.status_code == 422, bad
    assert stored(app, ada) == {"plan": "pro", "vip": True}


def test_api_create_takes_attributes(app, api_token):
    client = app.test_client()
    assert client.post("/api/v1/lists", headers=api_token,
                       json={"slug": "news", "name": "News"}).status_code == 201
    response = client.post("/api/v1/subscribers", headers=api_token, json={
        "email": "new@example.org", "lists": ["news"], "attributes": {"plan": "pro"}})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["attributes"] == {"plan": "pro"}


def test_campaign_form_lists_the_attributes_in_use(app, admin_client, ada):
    page = admin_client.get("/admin/campaigns/new").get_data(as_text=True)
    assert "{{ subscriber.attributes.plan }}" in page
    assert "{{ subscriber.attributes.seats }}" in page
