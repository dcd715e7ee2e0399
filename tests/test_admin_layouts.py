"""Admin layout library over HTTP: a marketer writes an MJML layout (compiled at save), a bad
one comes back as a form error with the source kept, a runaway one is refused, CSRF and roles
hold (newsletter/web/admin/layouts.py)."""

from __future__ import annotations

import html as html_lib
import re

import pytest
from campaign_support import make_list
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import Layout, LayoutFormat, MailingList, Role, utcnow
from newsletter.sending import layouts

from conftest import csrf_token

GOOD_MJML = ("<mjml><mj-body><mj-section><mj-column>"
             "<mj-text css-class=\"brand-name\">{{ list.name }}</mj-text>"
             "<mj-text>{{ content }}</mj-text></mj-column></mj-section></mj-body></mjml>")


def _news(app) -> int:
    with app.app_context():
        return make_list(db.session, "news", name="Weekly News").id


def _post_new(client, list_id: int, **fields):
    token = csrf_token(client, f"/admin/layouts/new?list={list_id}")
    data = {"csrf_token": token, "list": str(list_id), "name": "Brand",
            "source_format": "mjml", "source": GOOD_MJML}
    data.update(fields)
    return client.post("/admin/layouts/new", data=data)


def _count(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Layout))


def test_a_marketer_saves_an_mjml_layout_and_it_is_stored_compiled(app, auth, client):
    list_id = _news(app)
    auth.create(email="m@example.org", role=Role.marketer)
    auth.login(email="m@example.org")
    response = _post_new(client, list_id)
    assert response.status_code == 303, response.get_data(as_text=True)
    with app.app_context():
        layout = db.session.scalar(select(Layout))
        assert layout.source == GOOD_MJML and layout.source_format is LayoutFormat.mjml
        assert layout.is_default and layout.updated_by == "admin:m@example.org"
        assert "<mjml>" not in layout.html and "{{ list.name }}" in layout.html
        layout_id = layout.id
    assert response.headers["Location"].endswith(f"/admin/layouts/{layout_id}")
    index = client.get("/admin/layouts").get_data(as_text=True)
    assert "Brand" in index and "default" in index
    # Its page shows the sample content in the layout, the header with the list's name.
    sample = client.get(f"/admin/layouts/{layout_id}/preview")
    assert "sandbox" in sample.headers["Content-Security-Policy"]
    assert re.search(r"Weekly News", sample.get_data(as_text=True))
    assert "<blockquote" in sample.get_data(as_text=True)


def test_invalid_mjml_is_a_form_error_and_the_source_stays_in_the_form(app, admin_client):
    list_id = _news(app)
    broken = GOOD_MJML.replace("</mj-section>", "")
    response = _post_new(admin_client, list_id, source=broken)
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    error = re.search(r'id="form-error">([^<]*)<', page).group(1)
    assert error.startswith("MJML: ")
    textarea = re.search(r'<textarea name="source"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert html_lib.unescape(textarea.group(1)) == broken
    assert _count(app) == 0


def test_a_runaway_template_in_a_layout_is_refused_at_save(app, admin_client):
    list_id = _news(app)
    source = "<div>{{ content }}</div>\n{% set s = 'y' * 100000 %}" \
             "{% for a in s %}{% for b in s %}{% endfor %}{% endfor %}"
    response = _post_new(admin_client, list_id, source_format="html", source=source)
    assert response.status_code == 400
    error = re.search(r'id="form-error">([^<]*)<', response.get_data(as_text=True)).group(1)
    assert "line 2" in error and "NEWSLETTER_TEMPLATE_MAX_LOOP" in error
    assert _count(app) == 0


def test_editing_checks_again_and_keeps_the_last_good_version(app, admin_client):
    list_id = _news(app)
    assert _post_new(admin_client, list_id).status_code == 303
    with app.app_context():
        layout_id = db.session.scalar(select(Layout.id))
    token = csrf_token(admin_client, f"/admin/layouts/{layout_id}")
    response = admin_client.post(f"/admin/layouts/{layout_id}", data={
        "csrf_token": token, "name": "Brand", "source_format": "html",
        "source": "<p>no slot</p>"})
    assert response.status_code == 400 and "{{ content }}" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Layout, layout_id).source == GOOD_MJML


def test_without_the_csrf_token_nothing_is_saved(app, admin_client):
    list_id = _news(app)
    response = admin_client.post("/admin/layouts/new", data={
        "list": str(list_id), "name": "Brand", "source_format": "mjml", "source": GOOD_MJML})
    assert response.status_code == 400
    assert _count(app) == 0


@pytest.mark.parametrize("role, allowed", [(Role.marketer, True), (Role.admin, True),
                                           (Role.privacy, False)])
def test_only_marketers_and_admins_reach_the_library(app, auth, client, role, allowed):
    list_id = _news(app)
    with app.app_context():
        layout = layouts.save(db.session, mailing_list=db.session.get(MailingList, list_id),
                              name="Kept", source_format="html",
                              source="<div>{{ content }}</div>", now=utcnow(), actor="test")
        db.session.commit()
        layout_id = layout.id
    auth.create(email="u@example.org", role=role)
    auth.login(email="u@example.org")
    token = csrf_token(client, "/admin/account")
    expected = 200 if allowed else 403
    for path in ("/admin/layouts", f"/admin/layouts/new?list={list_id}",
                 f"/admin/layouts/{layout_id}", f"/admin/layouts/{layout_id}/preview"):
        assert client.get(path).status_code == expected, path
    posted = client.post("/admin/layouts/new", data={
        "csrf_token": token, "list": str(list_id), "name": "New", "source_format": "html",
        "source": "<div>{{ content }}</div>"})
    assert posted.status_code == (303 if allowed else 403)
    deleted = client.post(f"/admin/layouts/{layout_id}/delete", data={"csrf_token": token})
    assert deleted.status_code == (303 if allowed else 403)
    with app.app_context():
        names = db.session.scalars(select(Layout.name)).all()
    assert names == (["New"] if allowed else ["Kept"])


def test_the_campaign_form_picks_a_layout_of_its_lists(app, admin_client):
    from newsletter.models import Campaign

    list_id = _news(app)
    with app.app_context():
        other = make_list(db.session, "other", name="Other")
        mine = layouts.save(db.session, mailing_list=db.session.get(MailingList, list_id),
                            name="Mine", source_format="html", source="<div>{{ content }}</div>",
                            now=utcnow(), actor="test")
        theirs = layouts.save(db.session, mailing_list=other, name="Theirs",
                              source_format="html", source="<p>{{ content }}</p>", now=utcnow(),
                              actor="test")
        db.session.commit()
        mine_id, theirs_id = mine.id, theirs.id
    form = admin_client.get("/admin/campaigns/new").get_data(as_text=True)
    assert f'<option value="{mine_id}"' in form and "Weekly News: Mine (default)" in form
    token = csrf_token(admin_client, "/admin/campaigns/new")
    data = {"csrf_token": token, "subject": "S", "body": "b", "body_format": "markdown",
            "lists": [str(list_id)], "mode": "draft"}
    refused = admin_client.post("/admin/campaigns/new", data={**data, "layout_id": str(theirs_id)})
    assert refused.status_code == 400
    assert "the layout must belong to one of the campaign's lists" in \
        html_lib.unescape(refused.get_data(as_text=True))
    saved = admin_client.post("/admin/campaigns/new", data={**data, "layout_id": str(mine_id)})
    assert saved.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(Campaign.layout_id)) == mine_id


def test_make_default_moves_the_mark_to_another_layout(app, admin_client):
    list_id = _news(app)
    assert _post_new(admin_client, list_id, name="First").status_code == 303
    assert _post_new(admin_client, list_id, name="Second").status_code == 303
    with app.app_context():
        second = db.session.scalar(select(Layout.id).where(Layout.name == "Second"))
    token = csrf_token(admin_client, "/admin/layouts")
    assert admin_client.post(f"/admin/layouts/{second}/default").status_code == 400  # no CSRF
    response = admin_client.post(f"/admin/layouts/{second}/default", data={"csrf_token": token})
    assert response.status_code == 303
    with app.app_context():
        assert db.session.scalars(select(Layout.name).where(Layout.is_default)).all() == ["Second"]
