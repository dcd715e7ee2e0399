"""Error answers (newsletter/web/errors.py): HTML for people, JSON for the API, "not saved" for a
write the database refused, and 4xx, never 500, for hostile input."""

from __future__ import annotations

from sqlalchemy import func, select, text

from newsletter.extensions import db
from newsletter.models import MailingList, OutboundMail, Subscriber

from conftest import csrf_token

BIG = str(10**20)


def add_list(app) -> None:
    with app.app_context():
        db.session.add(MailingList(slug="news", name="Weekly News", public=True))
        db.session.commit()


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def refuse_outbound_mail(app, on: bool) -> None:
    """A real database error on the write (a trigger), like a full disk or a lost connection."""
    with app.app_context(), db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            if on:
                conn.execute(text("CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
                                  "$$ BEGIN RAISE EXCEPTION 'disk full'; END $$"))
                conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON outbound_mail "
                                  "FOR EACH ROW EXECUTE FUNCTION refuse()"))
            else:
                conn.execute(text("DROP TRIGGER refuse ON outbound_mail"))
                conn.execute(text("DROP FUNCTION refuse()"))
        elif on:
            conn.execute(text("CREATE TRIGGER refuse BEFORE INSERT ON outbound_mail "
                              "BEGIN SELECT RAISE(ABORT, 'disk full'); END"))
        else:
            conn.execute(text("DROP TRIGGER refuse"))


def test_html_pages_get_html_errors_and_the_api_json(client, api_token):
    page = client.delete("/subscribe/news")
    assert page.status_code == 405 and page.mimetype == "text/html"
    assert "Method not allowed" in page.get_data(as_text=True) and page.headers["Allow"]
    api = client.delete("/api/v1/lists", headers=api_token)
    assert api.status_code == 405 and api.mimetype == "application/json"
    assert client.get("/api/v1/nothing-here").get_json()["code"] == 404


def test_a_missing_page_says_so_and_offers_a_way_back(client, admin_client):
    page = client.get("/no/such/page")
    assert page.status_code == 404
    body = page.get_data(as_text=True)
    assert "Page not found" in body and 'href="/">Go to the start page</a>' in body
    body = admin_client.get("/admin/no-such-page").get_data(as_text=True)
    assert 'href="/admin/">Back to the dashboard</a>' in body


def test_every_page_has_a_local_favicon(client):
    page = client.get("/").get_data(as_text=True)
    assert '<link rel="icon" href="/static/favicon.svg"' in page
    icon = client.get("/static/favicon.svg")
    assert icon.status_code == 200 and icon.mimetype == "image/svg+xml"
    assert client.get("/favicon.ico").status_code == 200


def test_a_failed_write_says_not_saved_and_keeps_nothing(app, client, smtp, api_token):
    add_list(app)
    refuse_outbound_mail(app, True)
    data = {"email": "ada@example.org", "csrf_token": csrf_token(client, "/subscribe/news")}
    page = client.post("/subscribe/news", data=data)
    assert page.status_code == 503 and page.mimetype == "text/html"
    assert "Nothing was saved" in page.get_data(as_text=True)
    api = client.post("/api/v1/subscribers", headers=api_token,
                      json={"email": "bob@example.org", "lists": ["news"]})
    assert api.status_code == 503 and "Nothing was saved" in api.get_json()["message"]
    # All or nothing: no subscriber without the mail that confirms them.
    assert count(app, Subscriber) == 0 and count(app, OutboundMail) == 0

    refuse_outbound_mail(app, False)  # the fault is gone: the same request goes through
    assert client.post("/subscribe/news", data=data).status_code == 200
    assert count(app, Subscriber) == 1 and count(app, OutboundMail) == 1


def test_deeply_nested_json_is_400(client, api_token):
    nested = "[" * 100_000 + "]" * 100_000
    for path in ("/api/v1/subscribers", "/api/v1/lists"):
        response = client.post(path, headers=api_token, data=nested,
                               content_type="application/json")
        assert response.status_code == 400
        assert "deeper" in response.get_json()["message"]


def test_huge_page_numbers_are_not_a_server_error(app, admin_client, api_token):
    for path in ("/admin/inbox", "/admin/subscribers", "/admin/suppressions"):
        assert admin_client.get(f"{path}?page={BIG}").status_code == 200, path
    for path in ("/api/v1/subscribers", "/api/v1/suppressions", "/api/v1/inbound"):
        assert admin_client.get(f"{path}?page={BIG}", headers=api_token).status_code == 422


def test_a_next_with_cr_lf_is_ignored_not_500(app, client, auth):
    auth.create()
    path = "/login?next=/admin/%0d%0aSet-Cookie:%20x=1"
    assert client.get(path).status_code == 200
    response = client.post(path, data={"email": "admin@example.org",
                                       "password": "correct horse battery",
                                       "csrf_token": csrf_token(client, path)})
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/admin/")
    assert "Set-Cookie: x" not in str(response.headers)


def test_too_many_requests_says_when_to_try_again(app, client):
    add_list(app)
    app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"] = "1/minute"
    token = csrf_token(client, "/subscribe/news")
    client.post("/subscribe/news", data={"email": "a@example.org", "csrf_token": token})
    page = client.post("/subscribe/news", data={"email": "b@example.org", "csrf_token": token})
    assert page.status_code == 429 and page.mimetype == "text/html"
    assert "Please try again in" in page.get_data(as_text=True) and page.headers["Retry-After"]
