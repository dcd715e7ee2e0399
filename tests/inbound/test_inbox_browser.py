"""In a real browser: a marketer reads a waiting reply (no remote image is fetched) and
unsubscribes its sender with one click."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Role, Subscription, SubscriptionStatus

from . import mails
from .test_web import html_question, store


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_marketer_reads_a_reply_safely_and_unsubscribes_its_sender(page, auth, app):
    people = mails.make_people(app)
    item = store(app, html_question(app, people))
    requested = []
    page.on("request", lambda request: requested.append(request.url))
    auth.create(email="marketer@example.org", password="correct horse battery", role=Role.marketer)
    page.goto("/login")
    page.fill("input[name=email]", "marketer@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")

    page.click("nav >> text=Inbox")
    page.click(f"a[href='/admin/inbox/{item}']")
    assert "next workshop" in page.locator("#mail-html").inner_text()
    assert page.locator("#mail-html img, #mail-html script").count() == 0
    assert not [url for url in requested if "tracker.example" in url]

    page.click("#unsubscribe")
    page.wait_for_url("**/admin/inbox")
    assert "Unsubscribed from 2 list(s)." in page.locator(".flash.success").inner_text()
    with app.app_context():
        statuses = {s.status for s in db.session.scalars(select(Subscription).where(
            Subscription.subscriber_id == people.alice))}
    assert statuses == {SubscriptionStatus.unsubscribed}
