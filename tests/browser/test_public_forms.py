"""In a real browser: consent on the multi-list form is an act of the person (GDPR recital 32,
CJEU C-673/17 Planet49): no box is ticked until they tick it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList, Subscription


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_multi_list_form_ticks_nothing_in_advance(app, page, live_server, smtp):
    with app.app_context():
        db.session.add_all([MailingList(slug="news", name="Weekly News", public=True),
                            MailingList(slug="deals", name="Deals", public=True)])
        db.session.commit()

    page.goto("/subscribe/news?lists=deals")
    boxes = page.locator("input[type=checkbox][name=list]")
    assert boxes.count() == 2
    assert [boxes.nth(i).is_checked() for i in range(2)] == [False, False]

    # Sent as it stands: nothing chosen, nothing subscribed, the boxes still empty.
    page.fill("input[name=email]", "ada@example.org")
    page.click("button[type=submit]")
    assert page.locator("#form-error").inner_text() == "Choose at least one list."
    assert [boxes.nth(i).is_checked() for i in range(2)] == [False, False]

    # Only what the person ticks is asked for.
    page.get_by_label("Deals").check()
    page.click("button[type=submit]")
    assert page.locator("h1").inner_text() == "Check your inbox"
    with app.app_context():
        chosen = db.session.scalars(select(MailingList.slug).join(Subscription)).all()
    assert chosen == ["deals"]
