"""In a real browser: subscribe on the form, confirm through the mailed link, see the subscriber
active in the admin UI, leave through the link in a mail, see it unsubscribed with its consent
history."""

from __future__ import annotations

import re
import threading

import pytest

from newsletter.extensions import db
from newsletter.models import MailingList
from newsletter.sending.process import run_worker


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


@pytest.fixture
def worker(app):
    """A delivery worker beside the web server, as `flask newsletter serve` runs one: the pages
    only queue mail, the worker sends it."""
    stop = threading.Event()
    thread = threading.Thread(target=run_worker, args=(app, stop), daemon=True)
    thread.start()
    yield thread
    stop.set()
    thread.join(10)


def link(message, path_prefix: str) -> str:
    text = message.message.get_body(preferencelist=("plain",)).get_content()
    return next(u for u in re.findall(r"https?://\S+", text) if path_prefix in u)


def test_subscribe_confirm_and_unsubscribe_in_a_browser(app, page, live_server, smtp, auth,
                                                         worker):
    with app.app_context():
        db.session.add(MailingList(slug="news", name="Weekly News", public=True,
                                   sender_name="News Desk", sender_address="news@news.example.org"))
        db.session.commit()

    page.goto("/subscribe/news")
    page.fill("input[name=email]", "ada@example.org")
    page.fill("input[name=name]", "Ada Lovelace")
    page.select_option("select[name=country]", "GB")
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your inbox"

    (confirmation,) = smtp.wait_for(1)
    page.goto(link(confirmation, "/confirm/"))
    assert page.locator("h1").inner_text() == "Confirm your subscription"
    page.click("#confirm")
    assert page.locator("h1").inner_text() == "You are subscribed"

    auth.create()
    admin = page.context.browser.new_context(base_url=live_server.url).new_page()
    admin.goto("/login")
    admin.fill("input[name=email]", "admin@example.org")
    admin.fill("input[name=password]", "correct horse battery")
    admin.click("button[type=submit]")
    admin.wait_for_url("**/admin/")
    admin.goto("/admin/subscribers?q=ada")
    admin.click("text=ada@example.org")
    assert admin.locator("#subscriber-status").inner_text() == "active"
    assert "granted" in admin.locator("#timeline").inner_text()

    # The "you're subscribed" mail carries the unsubscribe link, like every mail.
    messages = smtp.wait_for(2)
    welcome = next(m for m in messages if "subscribed" in m.message["Subject"])
    page.goto(link(welcome, "/u/"))
    page.click("#unsubscribe-list")
    assert page.locator("h1").inner_text() == "You are unsubscribed"

    admin.reload()
    assert admin.locator("#subscriber-status").inner_text() == "unsubscribed"
    history = admin.locator("#timeline").inner_text()
    assert "granted" in history and "withdrawn" in history and "link" in history
    admin.context.close()
