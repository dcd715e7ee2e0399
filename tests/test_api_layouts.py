"""The layout library through the JSON API (newsletter/web/api/layouts.py), with real tokens on
both databases: MJML compiled at save as the admin form does, the admin form's errors as 422
JSON with nothing stored, one default per list, delete refused while an unsent campaign uses
it, roles (marketer writes, read-only reads, privacy neither)."""

from __future__ import annotations

import pytest
from campaign_support import make_list
from sqlalchemy import func, select
from test_api_tokens import make_token

from newsletter.extensions import db
from newsletter.models import Campaign, Layout, LayoutFormat, Role
from newsletter.sending import layouts

GOOD_MJML = ("<mjml><mj-body><mj-section><mj-column>"
             "<mj-text css-class=\"brand-name\">{{ list.name }}</mj-text>"
             "<mj-text>{{ content }}</mj-text></mj-column></mj-section></mj-body></mjml>")
SIMPLE = "<div>{{ content }}</div>"


@pytest.fixture
def api(app, client):
    """A marketer's token; the lists news and other."""
    headers = make_token(app, Role.marketer)
    with app.app_context():
        make_list(db.session, "news", name="Weekly News")
        make_list(db.session, "other", name="Other")

    class Api:
        def __getattr__(self, method):
            def call(url, json=None, headers=headers):
                return client.open(f"/api/v1{url}", method=method.upper(), json=json,
                                   headers=headers)
            return call

    return Api()


def _rows(app) -> list[Layout]:
    with app.app_context():
        rows = db.session.scalars(select(Layout).order_by(Layout.id)).all()
        db.session.expunge_all()
        return rows


def test_an_mjml_layout_is_compiled_at_save_and_becomes_the_first_default(app, api):
    response = api.post("/lists/news/layouts", {"name": "Brand", "source_format": "mjml",
                                                "source": GOOD_MJML})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["list"] == "news" and body["name"] == "Brand" and body["is_default"] is True
    assert body["source"] == GOOD_MJML and body["source_format"] == "mjml"
    assert "<mjml>" not in body["html"] and "{{ list.name }}" in body["html"]
    assert "@media" in body["html"]  # responsive: MRML's media queries are in the HTML
    [row] = _rows(app)
    assert row.id == body["id"] and row.source_format is LayoutFormat.mjml
    assert row.html == body["html"] and row.updated_by == "api:marketer tests"
    # The same compile as the admin form: the stored HTML is what layouts.compile_source makes
    # of the source.
    assert row.html == layouts.compile_source(LayoutFormat.mjml, GOOD_MJML)

    listed = api.get("/lists/news/layouts").get_json()
    assert [item["id"] for item in listed] == [body["id"]]
    assert api.get("/lists/other/layouts").get_json() == []
    assert api.get(f"/layouts/{body['id']}").get_json()["html"] == body["html"]


@pytest.mark.parametrize("fields, error", [
    ({"source_format": "mjml", "source": GOOD_MJML.replace("</mj-section>", "")}, "MJML: "),
    ({"source_format": "mjml", "source": GOOD_MJML.replace(
        "<mj-section>", '<mj-section data-x="{{ list.slug }}">')},
     "MJML dropped '{{ list.slug }}'"),
    ({"source_format": "html", "source": "<p>no slot</p>"}, "{{ content }}"),
    ({"source_format": "html", "source": SIMPLE + "\n{% set s = 'y' * 100000 %}"
      "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"},
     "NEWSLETTER_TEMPLATE_MAX_LOOP"),
    ({"source_format": "html", "source": SIMPLE, "name": "  "}, "name: give one"),
    ({"source_format": "html", "source": SIMPLE, "name": "a\x00b"}, "control characters"),
])
def test_a_refused_save_is_422_with_the_admin_forms_message_and_stores_nothing(
        app, api, fields, error):
    response = api.post("/lists/news/layouts", {"name": "Brand", **fields})
    assert response.status_code == 422, response.get_json()
    assert error in response.get_json()["message"]
    assert _rows(app) == []


def test_a_bad_format_is_422(app, api):
    response = api.post("/lists/news/layouts", {"name": "B", "source_format": "pdf",
                                                "source": SIMPLE})
    assert response.status_code == 422 and "source_format" in response.get_json()["errors"]["json"]
    assert _rows(app) == []


def test_a_name_is_unique_per_list_only(app, api):
    assert api.post("/lists/news/layouts", {"name": "Plain", "source": SIMPLE}).status_code == 201
    again = api.post("/lists/news/layouts", {"name": "Plain", "source": SIMPLE})
    assert again.status_code == 422
    assert again.get_json()["message"] == "name: Weekly News already has a layout named 'Plain'"
    assert api.post("/lists/other/layouts", {"name": "Plain", "source": SIMPLE}).status_code == 201
    assert len(_rows(app)) == 2


def test_patch_checks_again_and_keeps_the_last_good_version(app, api):
    layout_id = api.post("/lists/news/layouts", {"name": "Brand", "source_format": "mjml",
                                                 "source": GOOD_MJML}).get_json()["id"]
    refused = api.patch(f"/layouts/{layout_id}", {"source": "<mjml><mj-body>"})
    assert refused.status_code == 422 and refused.get_json()["message"].startswith("MJML: ")
    [row] = _rows(app)
    assert row.source == GOOD_MJML
    # Fields left out stay: a new name only, then HTML instead of MJML.
    renamed = api.patch(f"/layouts/{layout_id}", {"name": "Renamed"}).get_json()
    assert renamed["name"] == "Renamed" and renamed["source"] == GOOD_MJML
    switched = api.patch(f"/layouts/{layout_id}", {"source_format": "html", "source": SIMPLE})
    assert switched.status_code == 200
    [row] = _rows(app)
    assert (row.name, row.source_format, row.html) == ("Renamed", LayoutFormat.html, SIMPLE)


def test_one_default_per_list_moved_by_patch_or_post(app, api):
    first = api.post("/lists/news/layouts", {"name": "First", "source": SIMPLE}).get_json()
    second = api.post("/lists/news/layouts", {"name": "Second", "source": SIMPLE}).get_json()
    assert (first["is_default"], second["is_default"]) == (True, False)
    third = api.post("/lists/news/layouts", {"name": "Third", "source": SIMPLE,
                                             "is_default": True}).get_json()
    assert third["is_default"] is True

    def defaults():
        return [row.name for row in _rows(app) if row.is_default]

    assert defaults() == ["Third"]
    assert api.patch(f"/layouts/{second['id']}", {"is_default": True}).status_code == 200
    assert defaults() == ["Second"]
    response = api.post(f"/layouts/{first['id']}/default")
    assert response.status_code == 200 and response.get_json()["is_default"] is True
    assert defaults() == ["First"]
    # A list keeps a default: it moves, it is not switched off.
    refused = api.patch(f"/layouts/{first['id']}", {"is_default": False})
    assert refused.status_code == 422 and defaults() == ["First"]
    assert api.get("/lists/news/layouts").get_json()[0]["name"] == "First"


def test_delete_is_refused_while_an_unsent_campaign_uses_it(app, api):
    layout_id = api.post("/lists/news/layouts", {"name": "Used", "source": SIMPLE}).get_json()["id"]
    spare = api.post("/lists/news/layouts", {"name": "Spare", "source": SIMPLE}).get_json()["id"]
    created = api.post("/campaigns", {"subject": "S", "body": "b", "lists": ["news"],
                                      "name": "Spring issue", "layout_id": layout_id})
    assert created.status_code == 201, created.get_json()
    refused = api.delete(f"/layouts/{layout_id}")
    assert refused.status_code == 409
    assert refused.get_json()["message"] == "campaigns still to be sent use it: Spring issue"
    assert api.delete(f"/layouts/{spare}").status_code == 204
    assert [row.name for row in _rows(app)] == ["Used"]
    assert api.delete(f"/layouts/{spare}").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(func.count(Campaign.id))) == 1


def test_unknown_lists_and_layouts_are_404(app, api):
    layout_id = api.post("/lists/news/layouts", {"name": "N", "source": SIMPLE}).get_json()["id"]
    assert api.get("/lists/nope/layouts").status_code == 404
    assert api.post("/lists/nope/layouts", {"name": "N", "source": SIMPLE}).status_code == 404
    for method in ("get", "patch", "delete"):
        assert getattr(api, method)(f"/layouts/{layout_id + 1}", json={} if method == "patch"
                                    else None).status_code == 404
    # Another list's layouts are not this list's: a campaign of `other` cannot name it.
    refused = api.post("/campaigns", {"subject": "S", "body": "b", "lists": ["other"],
                                      "layout_id": layout_id})
    assert refused.status_code == 422
    assert "one of the campaign's lists" in refused.get_json()["message"]


def test_tokens_and_roles(app, api, client):
    layout_id = api.post("/lists/news/layouts", {"name": "N", "source": SIMPLE}).get_json()["id"]
    body = {"name": "X", "source": SIMPLE}
    assert client.get("/api/v1/lists/news/layouts").status_code == 401
    assert client.post("/api/v1/lists/news/layouts", json=body).status_code == 401
    assert client.delete(f"/api/v1/layouts/{layout_id}",
                         headers={"Authorization": "Bearer nope"}).status_code == 401
    reader, privacy = make_token(app, Role.read_only), make_token(app, Role.privacy)
    assert api.get("/lists/news/layouts", headers=reader).status_code == 200
    assert api.get(f"/layouts/{layout_id}", headers=reader).status_code == 200
    assert api.post("/lists/news/layouts", body, headers=reader).status_code == 403
    assert api.patch(f"/layouts/{layout_id}", {"name": "Y"}, headers=reader).status_code == 403
    assert api.delete(f"/layouts/{layout_id}", headers=reader).status_code == 403
    assert api.post(f"/layouts/{layout_id}/default", headers=reader).status_code == 403
    assert api.get("/lists/news/layouts", headers=privacy).status_code == 403
    assert api.post("/lists/news/layouts", body, headers=privacy).status_code == 403
    assert [row.name for row in _rows(app)] == ["N"]
    admin = make_token(app, Role.admin)
    assert api.post("/lists/news/layouts", body, headers=admin).status_code == 201
