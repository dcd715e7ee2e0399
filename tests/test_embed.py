"""Sign-ups from other sites (web/embed.py): the snippet from the list's admin page, posted from
another origin with no cookie, brings a confirmation mail to the real SMTP server; the JSON
endpoint answers CORS for configured origins only; the limits hold; admin forms keep CSRF."""

from __future__ import annotations

import html
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db, limiter
from newsletter.models import MailingList, OutboundMail, Subscriber

from conftest import deliver_queued

ORIGIN = "https://shop.example.com"


@pytest.fixture
def news(app):
    with app.app_context():
        row = MailingList(slug="news", name="Weekly News", public=True, double_opt_in=True,
                          sender_address="news@example.org", sender_name="The News")
        db.session.add_all([row, MailingList(slug="quick", name="Quick", public=True,
                                             double_opt_in=False),
                            MailingList(slug="hidden", name="Hidden", public=False)])
        db.session.commit()
        return row.id


@pytest.fixture
def foreign_site():
    """Another origin (another host name and port) that serves whatever page the test sets."""
    pages: dict[str, bytes] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server hook name
            body = pages.get(self.path, b"")
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://localhost:{server.server_address[1]}", pages
    server.shutdown()
    server.server_close()


def snippet_from_admin(admin_client, list_id: int) -> str:
    page = admin_client.get(f"/admin/lists/{list_id}").get_data(as_text=True)
    match = re.search(r'<textarea readonly rows="9" id="embed-snippet">(.*?)</textarea>', page,
                      re.S)
    assert match, "no snippet on the list page"
    return html.unescape(match.group(1))


def queued(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(OutboundMail.to_address)))


def test_snippet_posted_from_another_origin_without_cookie_sends_a_confirmation(
        app, page, live_server, foreign_site, admin_client, news, smtp):
    origin, pages = foreign_site
    snippet = snippet_from_admin(admin_client, news)
    assert f'action="{live_server.url}/subscribe/news/embed"' in snippet
    assert "csrf_token" not in snippet
    pages["/"] = f"<!doctype html><html><body><h1>Our shop</h1>{snippet}</body></html>".encode()
    page.goto(origin + "/")
    page.fill("input[name=email]", "reader@example.net")
    page.fill("input[name=name]", "Rea Der")
    with page.expect_response(lambda r: r.url.endswith("/subscribe/news/embed")) as answer:
        page.click("button[type=submit]")
    response = answer.value
    assert response.status == 200
    assert response.request.headers.get("cookie") is None  # nothing of ours was ever set
    assert "check your inbox" in page.content().lower()
    assert deliver_queued(app) == 1
    [mail] = smtp.messages
    assert mail.rcpt_tos == ["reader@example.net"]
    assert b"/confirm/" in mail.raw
    with app.app_context():
        subscriber = db.session.scalar(select(Subscriber))
        assert (subscriber.email, subscriber.name, subscriber.status.value) == \
            ("reader@example.net", "Rea Der", "pending")


def test_json_endpoint_answers_cors_only_for_configured_origins(app, page, live_server,
                                                                 foreign_site, news, smtp):
    origin, pages = foreign_site
    pages["/"] = b"<!doctype html><title>shop</title>"
    script = """async (url) => {
        try {
            const r = await fetch(url, {method: "POST", headers: {"Content-Type": "application/json"},
                                        body: JSON.stringify({email: "js@example.net", lists: ["news"]})});
            return [r.status, (await r.json()).message];
        } catch (e) { return ["blocked", String(e)]; }
    }"""
    page.goto(origin + "/")
    url = f"{live_server.url}/api/public/subscribe"
    # Not configured: the preflight is refused, the browser never sends the POST.
    assert page.evaluate(script, url)[0] == "blocked"
    assert queued(app) == []
    app.config["NEWSLETTER_FORM_ORIGINS"] = (origin,)
    status, message = page.evaluate(script, url)
    assert status == 202 and "check your inbox" in message
    assert deliver_queued(app) == 1
    assert smtp.messages[0].rcpt_tos == ["js@example.net"]


def test_preflight_and_refusals(app, client, news):
    app.config["NEWSLETTER_FORM_ORIGINS"] = (ORIGIN,)
    preflight = client.options("/api/public/subscribe", headers={
        "Origin": ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status_code == 204
    assert preflight.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert "Content-Type" in preflight.headers["Access-Control-Allow-Headers"]
    assert "Access-Control-Allow-Credentials" not in preflight.headers
    other = client.post("/api/public/subscribe", headers={"Origin": "https://evil.example"},
                        json={"email": "x@example.net", "lists": ["news"]})
    assert other.status_code == 403 and "Access-Control-Allow-Origin" not in other.headers
    for body, status in (({"email": "x@example.net", "lists": ["quick"]}, 404),  # single opt-in
                         ({"email": "x@example.net", "lists": ["hidden"]}, 404),  # not public
                         ({"email": "x@example.net", "lists": ["nope"]}, 404),
                         ({"email": "x@example.net", "lists": "news"}, 404),
                         ({"email": "not an address", "lists": ["news"]}, 422),
                         ([1, 2], 400)):
        response = client.post("/api/public/subscribe", headers={"Origin": ORIGIN}, json=body)
        assert response.status_code == status, (body, response.get_json())
    assert client.post("/subscribe/quick/embed", data={"email": "x@example.net"}).status_code == 404
    # A bad address on the HTML form: our own form, filled in, with the reason.
    response = client.post("/subscribe/news/embed", data={"email": "nope", "name": "Kept"})
    assert response.status_code == 400 and 'value="Kept"' in response.get_data(as_text=True)
    assert queued(app) == []


def test_honeypot_and_per_address_limit(app, client, news):
    assert client.post("/subscribe/news/embed", data={
        "email": "bot@example.net", "website": "http://spam.example"}).status_code == 200
    assert client.post("/api/public/subscribe", json={
        "email": "bot@example.net", "lists": ["news"], "website": "x"}).status_code == 202
    assert queued(app) == []
    for _ in range(3):
        assert client.post("/subscribe/news/embed", data={"email": "a@example.net"}).status_code \
            == 200
        assert client.post("/api/public/subscribe", json={"email": "a@example.net",
                                                          "list": "news"}).status_code == 202
    assert queued(app) == ["a@example.net"]  # one confirmation per address and list per hour
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Subscriber)) == 1


def test_per_ip_limit(app, client, news):
    app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"] = "2/minute"
    limiter.reset()
    codes = [client.post("/subscribe/news/embed", data={"email": f"p{i}@example.net"}).status_code
             for i in range(3)]
    assert codes == [200, 200, 429]
    codes = [client.post("/api/public/subscribe", json={"email": f"j{i}@example.net",
                                                        "lists": ["news"]}).status_code
             for i in range(3)]
    assert codes == [202, 202, 429]


# Routes that take a POST without a CSRF token, each for a reason written next to it.
CSRF_EXEMPT = {"public.confirm", "public.unsubscribe", "embed.form", "embed.subscribe_json"}


def test_login_and_every_form_outside_the_api_keep_csrf(app, admin_client, news):
    checked = []
    for rule in app.url_map.iter_rules():
        if "POST" not in rule.methods or rule.endpoint in CSRF_EXEMPT \
                or rule.rule.startswith("/api/"):
            continue
        url = re.sub(r"<(?:int:)?([a-z_]+)>", lambda m: "1" if "id" in m.group(1) else "news",
                     rule.rule)
        response = admin_client.post(url, data={"email": "x@example.net"})
        assert response.status_code == 400, (rule.rule, response.status_code)
        checked.append(rule.endpoint)
    assert {"auth.login", "public.subscribe", "admin.subscribers_attributes",
            "admin.lists_edit"} <= set(checked)


def test_form_origins_are_checked_at_start():
    from config import ConfigError, load_config

    environ = {"NEWSLETTER_ENV": "testing", "SECRET_KEY": "k" * 32}
    config = load_config({**environ, "NEWSLETTER_FORM_ORIGINS":
                          "https://www.example.com, http://localhost:8000/"})
    assert config["NEWSLETTER_FORM_ORIGINS"] == ("https://www.example.com", "http://localhost:8000")
    for bad in ("www.example.com", "https://www.example.com/form", "ftp://example.com"):
        with pytest.raises(ConfigError, match="NEWSLETTER_FORM_ORIGINS"):
            load_config({**environ, "NEWSLETTER_FORM_ORIGINS": bad})


def solved(client) -> str:
    """A correct answer to a fresh challenge, found the way pow.js finds it."""
    import base64
    import json

    import altcha

    response = client.get("/api/public/challenge")
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    c = response.get_json()
    solution = altcha.solve_challenge_v1(c["challenge"], c["salt"], c["algorithm"], c["maxNumber"])
    return base64.b64encode(json.dumps({
        "algorithm": c["algorithm"], "challenge": c["challenge"], "number": solution.number,
        "salt": c["salt"], "signature": c["signature"]}).encode()).decode()


def test_proof_of_work_when_required(app, client, news):
    assert client.get("/api/public/challenge").status_code == 404  # off by default
    app.config.update(NEWSLETTER_FORM_POW=True, NEWSLETTER_FORM_POW_DIFFICULTY=500)
    body = {"email": "a@example.net", "lists": ["news"]}
    response = client.post("/api/public/subscribe", json=body)
    assert response.status_code == 400 and response.get_json()["field"] == "altcha"
    assert client.post("/api/public/subscribe", json={**body, "altcha": "bm9wZQ=="}
                       ).status_code == 400
    answer = solved(client)
    assert client.post("/api/public/subscribe", json={**body, "altcha": answer}).status_code == 202
    # An answer counts once.
    assert client.post("/api/public/subscribe", json={**body, "email": "b@example.net",
                                                      "altcha": answer}).status_code == 400
    assert queued(app) == ["a@example.net"]
    # The HTML form without an answer: our own form (CSRF, no proof of work) to finish on.
    response = client.post("/subscribe/news/embed", data={"email": "c@example.net"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400 and 'action="/subscribe/news"' in page
    assert client.post("/subscribe/news/embed", data={"email": "c@example.net",
                                                      "altcha": solved(client)}).status_code == 200
    assert sorted(queued(app)) == ["a@example.net", "c@example.net"]


def test_snippet_with_proof_of_work_subscribes_from_another_origin(
        app, page, live_server, foreign_site, admin_client, news, smtp):
    app.config.update(NEWSLETTER_FORM_POW=True, NEWSLETTER_FORM_POW_DIFFICULTY=3000)
    origin, pages = foreign_site
    snippet = snippet_from_admin(admin_client, news)
    assert f'src="{live_server.url}/static/pow.js"' in snippet
    pages["/"] = f"<!doctype html><html><body>{snippet}</body></html>".encode()
    page.goto(origin + "/")
    page.fill("input[name=email]", "worker@example.net")
    page.wait_for_function("document.querySelector('input[name=altcha]').value !== ''")
    with page.expect_response(lambda r: r.url.endswith("/subscribe/news/embed")) as answer:
        page.click("button[type=submit]")
    assert answer.value.status == 200
    assert deliver_queued(app) == 1
    assert smtp.messages[0].rcpt_tos == ["worker@example.net"]
