"""A list's own form fields (subscribers/form_fields.py), seen from outside: defined on the
list's admin page, asked on its public form, in its snippet (posted from another origin) and at
/api/public/subscribe; answers typed in the subscriber's row, bad answers refused field by field
with everything kept, and a sign-up never rewriting what a subscriber already holds."""

from __future__ import annotations

import html
import re

import pytest
from sqlalchemy import select
from test_embed import foreign_site, snippet_from_admin  # noqa: F401 - a fixture used below

from newsletter.extensions import db
from newsletter.models import MailingList, Subscriber, SubscriberStatus, utcnow

from conftest import csrf_token, deliver_queued

FIELDS = [
    {"name": "plan", "label": "Your plan", "type": "text", "required": True},
    {"name": "seats", "label": "How many seats?", "type": "number", "required": False},
    {"name": "start", "label": "Start date", "type": "date", "required": False},
    {"name": "invoice", "label": "Invoice wanted", "type": "yes_no", "required": False},
]


@pytest.fixture
def news(app):
    with app.app_context():
        row = MailingList(slug="news", name="Weekly News", public=True, double_opt_in=True,
                          sender_address="news@example.org", form_fields=FIELDS)
        db.session.add(row)
        db.session.commit()
        return row.id


def stored(app, email: str) -> dict | None:
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber).where(Subscriber.email == email))
        return None if subscriber is None else dict(subscriber.attributes or {})


def list_fields(app, list_id: int):
    with app.app_context():
        db.session.expire_all()
        return db.session.get(MailingList, list_id).form_fields


def post_form(client, data: dict, slug: str = "news"):
    token = csrf_token(client, f"/subscribe/{slug}")
    return client.post(f"/subscribe/{slug}", data={"csrf_token": token, **data})


# --- the admin page ---------------------------------------------------------------------------


def test_admin_defines_fields_which_the_form_and_snippet_then_ask(app, admin_client):
    with app.app_context():
        row = MailingList(slug="club", name="Club", public=True, double_opt_in=True)
        db.session.add(row)
        db.session.commit()
        list_id = row.id
    token = csrf_token(admin_client, f"/admin/lists/{list_id}")
    # Without the CSRF token nothing changes.
    assert admin_client.post(f"/admin/lists/{list_id}/fields", data={
        "fields-0-name": "plan", "fields-0-label": "Plan", "fields-0-type": "text"}
    ).status_code == 400
    assert list_fields(app, list_id) is None
    response = admin_client.post(f"/admin/lists/{list_id}/fields", data={
        "csrf_token": token,
        "fields-0-name": "plan", "fields-0-label": "Your plan", "fields-0-type": "text",
        "fields-0-required": "on",
        "fields-1-name": "seats", "fields-1-label": "Seats", "fields-1-type": "number",
        "fields-2-name": "", "fields-2-label": "", "fields-2-type": "text"})
    assert response.status_code == 302
    assert list_fields(app, list_id) == [
        {"name": "plan", "label": "Your plan", "type": "text", "required": True},
        {"name": "seats", "label": "Seats", "type": "number", "required": False}]
    page = admin_client.get("/subscribe/club").get_data(as_text=True)
    assert re.search(r'Your plan\s*<input type="text" name="attributes.plan"[^>]* required', page)
    assert 'name="attributes.seats" inputmode="decimal"' in page
    snippet = snippet_from_admin(admin_client, list_id)
    assert 'name="attributes.plan"' in snippet and "Seats (optional)" in snippet
    # Removing one keeps the other.
    admin_client.post(f"/admin/lists/{list_id}/fields", data={
        "csrf_token": token, "fields-0-name": "plan", "fields-0-label": "Your plan",
        "fields-0-type": "text", "fields-1-name": "seats", "fields-1-label": "Seats",
        "fields-1-type": "number", "fields-1-remove": "on"})
    assert [f["name"] for f in list_fields(app, list_id)] == ["plan"]


@pytest.mark.parametrize("row, message", [
    ({"fields-0-name": "Plan Name", "fields-0-label": "Plan"}, "attribute name"),
    ({"fields-0-name": "plan", "fields-0-label": ""}, "give it a label"),
    ({"fields-0-name": "plan", "fields-0-label": "Plan", "fields-0-type": "colour"},
     "type must be one of"),
    ({"fields-0-name": "plan", "fields-0-label": "Plan", "fields-1-name": "plan",
      "fields-1-label": "Again"}, "used twice"),
])
def test_a_bad_field_definition_is_refused_and_every_row_kept(app, admin_client, news, row,
                                                               message):
    token = csrf_token(admin_client, f"/admin/lists/{news}")
    data = {"fields-0-type": "text", "fields-1-type": "text", **row,
            "fields-5-name": "kept_too", "fields-5-label": "Typed words kept", "csrf_token": token}
    response = admin_client.post(f"/admin/lists/{news}/fields", data=data)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in html.unescape(page)
    assert 'value="Typed words kept"' in page and 'value="kept_too"' in page
    assert list_fields(app, news) == FIELDS


def test_only_marketers_and_admins_edit_fields(app, auth, client, news):
    from newsletter.models import Role

    auth.create(email="reader@example.org", role=Role.read_only)
    auth.login(email="reader@example.org")
    token = csrf_token(client, "/admin/")
    response = client.post(f"/admin/lists/{news}/fields", data={
        "csrf_token": token, "fields-0-name": "x", "fields-0-label": "X", "fields-0-type": "text"})
    assert response.status_code == 403
    assert list_fields(app, news) == FIELDS


# --- the public form --------------------------------------------------------------------------


def test_public_form_keeps_typed_answers(app, client, news, smtp):
    response = post_form(client, {"email": "ada@example.net", "attributes.plan": " Pro ",
                                  "attributes.seats": "3,5", "attributes.start": "2026-12-31",
                                  "attributes.invoice": "yes", "attributes.admin": "true"})
    assert response.status_code == 200
    # Typed, and nothing the form does not declare (attributes.admin) is taken.
    assert stored(app, "ada@example.net") == {"plan": "Pro", "seats": 3.5,
                                              "start": "2026-12-31", "invoice": True}
    post_form(client, {"email": "bob@example.net", "attributes.plan": "Free",
                       "attributes.seats": "12", "attributes.invoice": "no"})
    assert stored(app, "bob@example.net") == {"plan": "Free", "seats": 12, "invoice": False}
    assert deliver_queued(app) == 2


def test_bad_answers_get_an_error_below_each_field_and_nothing_is_lost(app, client, news):
    response = post_form(client, {"email": "ada@example.net", "name": "Ada",
                                  "attributes.plan": "", "attributes.seats": "three",
                                  "attributes.start": "31/12/2026", "attributes.invoice": "maybe"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    errors = dict(re.findall(r'<p class="field-error" role="alert" id="error-(\w+)">([^<]*)</p>',
                             page))
    assert errors == {"plan": "Please fill in this field.",
                      "seats": "Enter a number, like 42 or 3.5.",
                      "start": "Enter a date as year-month-day, like 2026-12-31.",
                      "invoice": "Choose yes or no."}
    assert 'value="ada@example.net"' in page and 'value="Ada"' in page
    assert 'value="three"' in page and 'value="31/12/2026"' in page
    assert 'aria-describedby="error-seats"' in page
    assert stored(app, "ada@example.net") is None  # nothing written


def test_the_form_speaks_the_page_language_and_labels_stay_as_written(app, client, news):
    headers = {"Accept-Language": "de"}
    page = client.get("/subscribe/news", headers=headers).get_data(as_text=True)
    # The owner's label as written, the words around it in German.
    assert "How many seats? (optional)" in page and ">Ja</option>" in page
    assert "Invoice wanted" in page and ">Nein</option>" in page
    token = csrf_token(client, "/subscribe/news")
    response = client.post("/subscribe/news", headers=headers, data={
        "csrf_token": token, "email": "ada@example.net", "attributes.plan": "Pro",
        "attributes.seats": "drei"})
    assert response.status_code == 400
    assert "Geben Sie eine Zahl ein" in response.get_data(as_text=True)


def test_a_sign_up_never_rewrites_what_a_subscriber_holds(app, client, news):
    with app.app_context():
        db.session.add(Subscriber(email="owner@example.net", status=SubscriberStatus.active,
                                  attributes={"plan": "Gold"}, created_at=utcnow(),
                                  updated_at=utcnow()))
        db.session.commit()
    # Somebody who knows the address signs it up with other answers: only blanks are filled.
    assert post_form(client, {"email": "owner@example.net", "attributes.plan": "Free",
                              "attributes.seats": "1"}).status_code == 200
    assert stored(app, "owner@example.net") == {"plan": "Gold", "seats": 1}


# --- the JSON endpoint and the snippet from another site ---------------------------------------


def test_json_endpoint_takes_typed_answers_and_names_each_bad_one(app, client, news):
    body = {"email": "js@example.net", "lists": ["news"]}
    response = client.post("/api/public/subscribe", json={
        **body, "attributes": {"plan": "Team", "seats": "x", "start": "2026-02-30"}})
    assert response.status_code == 422
    assert response.get_json()["errors"] == {
        "attributes.seats": "Enter a number, like 42 or 3.5.",
        "attributes.start": "Enter a date as year-month-day, like 2026-12-31."}
    assert client.post("/api/public/subscribe", json={**body, "attributes": ["x"]}
                       ).status_code == 422
    assert client.post("/api/public/subscribe", json=body).get_json()["errors"] == {
        "attributes.plan": "Please fill in this field."}
    assert stored(app, "js@example.net") is None
    response = client.post("/api/public/subscribe", json={
        **body, "attributes": {"plan": "Team", "seats": 4, "invoice": True, "other": "no"}})
    assert response.status_code == 202
    assert stored(app, "js@example.net") == {"plan": "Team", "seats": 4, "invoice": True}


def test_snippet_with_fields_posted_from_another_origin(app, page, live_server, foreign_site,  # noqa: F811
                                                         admin_client, news, smtp):
    origin, pages = foreign_site
    snippet = snippet_from_admin(admin_client, news)
    pages["/"] = f"<!doctype html><html><body>{snippet}</body></html>".encode()
    page.goto(origin + "/")
    page.fill("input[name=email]", "shop@example.net")
    page.fill("input[name='attributes.plan']", "Shop plan")
    page.fill("input[name='attributes.seats']", "7")
    page.fill("input[name='attributes.start']", "2027-01-15")
    page.select_option("select[name='attributes.invoice']", "yes")
    with page.expect_response(lambda r: r.url.endswith("/subscribe/news/embed")) as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 200
    assert answer.value.request.headers.get("cookie") is None
    assert stored(app, "shop@example.net") == {"plan": "Shop plan", "seats": 7,
                                               "start": "2027-01-15", "invoice": True}
    assert deliver_queued(app) == 1
    assert smtp.messages[0].rcpt_tos == ["shop@example.net"]


def test_a_form_for_several_lists_asks_each_field_once_and_requires_it_only_for_its_list(
        app, client, news):
    with app.app_context():
        deals = MailingList(slug="deals", name="Deals", public=True, form_fields=[
            {"name": "plan", "label": "Plan again", "type": "text", "required": False},
            {"name": "shoe_size", "label": "Shoe size", "type": "number", "required": True}])
        db.session.add(deals)
        db.session.commit()
        ids = {m.slug: m.id for m in db.session.scalars(select(MailingList))}
    page = client.get("/subscribe/deals?lists=news").get_data(as_text=True)
    assert page.count('name="attributes.plan"') == 1 and "Plan again" in page
    assert "Shoe size" in page
    token = csrf_token(client, "/subscribe/deals?lists=news")
    # Only "deals" chosen: its own required field counts, news's required plan does not.
    response = client.post("/subscribe/deals?lists=news", data={
        "csrf_token": token, "email": "kim@example.net", "list": str(ids["deals"])})
    assert response.status_code == 400 and 'id="error-shoe_size"' in response.get_data(as_text=True)
    assert 'id="error-plan"' not in response.get_data(as_text=True)
    response = client.post("/subscribe/deals?lists=news", data={
        "csrf_token": token, "email": "kim@example.net", "list": str(ids["deals"]),
        "attributes.shoe_size": "42"})
    assert response.status_code == 200
    assert stored(app, "kim@example.net") == {"shoe_size": 42}


def test_api_reads_and_replaces_a_lists_fields(app, api_token, news):
    client = app.test_client()
    got = client.get("/api/v1/lists/news", headers=api_token).get_json()
    assert got["form_fields"] == FIELDS
    bad = client.patch("/api/v1/lists/news", headers=api_token, json={"form_fields": [
        {"name": "ok", "label": "Fine", "type": "text"},
        {"name": "Not OK", "label": "Bad", "type": "text"}]})
    assert bad.status_code == 422 and "Field 2" in bad.get_json()["message"]
    assert list_fields(app, news) == FIELDS
    assert client.patch("/api/v1/lists/news", headers=api_token, json={"form_fields": [
        {"name": "size", "label": "Size", "type": "number", "required": True}]}).status_code == 200
    assert list_fields(app, news) == [{"name": "size", "label": "Size", "type": "number",
                                       "required": True}]
    created = client.post("/api/v1/lists", headers=api_token, json={
        "slug": "club", "name": "Club", "form_fields": [{"name": "x", "label": "X",
                                                         "type": "yes_no"}]})
    assert created.status_code == 201
    client.post("/api/v1/lists", headers=api_token, json={"slug": "plain", "name": "Plain"})
    every = {row["slug"]: row["form_fields"]
             for row in client.get("/api/v1/lists", headers=api_token).get_json()}
    assert every["plain"] == []  # none: an empty array, as the document says
    assert created.get_json()["form_fields"] == [
        {"name": "x", "label": "X", "type": "yes_no", "required": False}]


def test_the_template_help_names_the_fields_before_anybody_answers(app, admin_client, news):
    page = admin_client.get("/admin/campaigns/new").get_data(as_text=True)
    assert "{{ subscriber.attributes.seats }}" in page
    assert "{{ subscriber.attributes.invoice }}" in page
