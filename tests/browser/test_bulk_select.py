"""In a real browser: on the subscribers page a marketer ticks everyone on the page with one
box (static/bulk-select.js, under the page's CSP), unticks one and unsubscribes the rest from a
list; with script off, "Select all matching" still works."""

import pytest
from campaign_support import make_list
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Subscriber, SubscriberStatus, Subscription, SubscriptionStatus


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


@pytest.fixture
def three(app):
    with app.app_context():
        news = make_list(db.session, "news", name="Weekly News")
        for name in ("ada", "bob", "cy"):
            person = Subscriber(email=f"{name}@example.org", status=SubscriberStatus.active)
            person.subscriptions.append(Subscription(mailing_list=news,
                                                     status=SubscriptionStatus.confirmed))
            db.session.add(person)
        db.session.commit()


def _log_in(page):
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")


def _left(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(Subscriber.email).join(Subscription).where(
            Subscription.status == SubscriptionStatus.unsubscribed)))


def test_select_the_page_untick_one_and_unsubscribe(page, auth, app, three, browser,
                                                    live_server):
    auth.create(email="admin@example.org", password="correct horse battery")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _log_in(page)
    page.goto("/admin/subscribers")
    rows = page.locator("#subscribers input[name=ids]")
    assert rows.count() == 3
    page.locator("#select-page").check()  # shown and working only with the script
    assert [rows.nth(i).is_checked() for i in range(3)] == [True, True, True]
    assert page.locator("#chosen-count").inner_text() == "3 chosen on this page"
    page.locator("input[aria-label='Choose bob@example.org']").uncheck()
    assert page.locator("#chosen-count").inner_text() == "2 chosen on this page"
    assert page.locator("#select-page").evaluate("box => box.indeterminate")
    page.select_option("select[name=action]", "unsubscribe")
    page.select_option("select[name=target_list_id]", label="Weekly News")
    page.click("#bulk button[type=submit]")
    page.wait_for_selector("text=2 of 2 subscriber(s) unsubscribed from Weekly News.")
    assert _left(app) == {"ada@example.org", "cy@example.org"}
    assert not [e for e in errors if "Content Security Policy" in e]

    # Without script: no page box, but "Select all matching" chooses everyone the filter finds.
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.set_default_timeout(10_000)
        _log_in(plain)
        plain.goto("/admin/subscribers?q=bob")
        assert not plain.locator("#select-page").is_visible()
        plain.locator("#all-matching").check()
        plain.select_option("select[name=action]", "unsubscribe")
        plain.select_option("select[name=target_list_id]", label="Weekly News")
        plain.click("#bulk button[type=submit]")
        plain.wait_for_selector("text=1 of 1 subscriber(s) unsubscribed from Weekly News.")
        assert "q=bob" in plain.url  # back on the same filter
    finally:
        context.close()
    assert _left(app) == {"ada@example.org", "bob@example.org", "cy@example.org"}
