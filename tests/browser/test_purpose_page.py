"""In a real browser: the opt-in link of a purpose shows a page with a button; pressing it opts
in, and the preference centre then shows the choice and can take it back."""

from __future__ import annotations

import pytest
from campaign_support import NOW, add_subscribers, make_list
from sqlalchemy import select

from newsletter import links
from newsletter.extensions import db
from newsletter.models import ConsentEvent, Subscriber
from newsletter.privacy import purposes


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_opt_in_page_then_preference_centre(page, app, live_server):
    with app.app_context():
        (reader,) = add_subscribers(db.session, make_list(db.session), 1)  # country unknown
        purpose = purposes.create(db.session, slug="partners", name="Sharing with partners",
                                  description="Your name goes to partners.", now=NOW,
                                  config=app.config, actor="test")
        db.session.commit()
        subscriber = db.session.get(Subscriber, reader)
        link = links.purpose_url(app.config, reader, purpose.id, subscriber.token_version)
        prefs = links.preferences_url(app.config, reader, subscriber.token_version)
    page.goto(link)
    assert "unless you agree" in page.locator("#state").inner_text()
    page.click("#grant")
    assert "you agreed" in page.locator("#done").inner_text()
    page.goto(prefs)
    assert page.locator("#purpose-partners input[value=grant]").is_checked()
    page.check("#purpose-partners input[value=withdraw]")
    page.click("#save-purposes")
    page.wait_for_url("**/preferences/**#purposes")
    assert page.locator("#purpose-partners input[value=withdraw]").is_checked()
    with app.app_context():
        events = db.session.execute(select(ConsentEvent.granted, ConsentEvent.method).where(
            ConsentEvent.purpose == "purpose:partners").order_by(ConsentEvent.id)).all()
        assert [(granted, method.value) for granted, method in events] == [
            (True, "link"), (False, "preferences")]
