"""Public pages in a real browser: the preference centre's buttons do not touch each other."""

import pytest
from sqlalchemy import select

from newsletter import links
from newsletter.extensions import db
from newsletter.models import MailingList, Subscriber, Subscription, SubscriptionStatus


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_save_and_leave_all_lists_have_room_between_them(page, app):
    with app.app_context():
        news = MailingList(slug="news", name="News", public=True)
        ada = Subscriber(email="ada@example.org")
        db.session.add_all([news, ada])
        db.session.flush()
        db.session.add(Subscription(subscriber_id=ada.id, list_id=news.id,
                                    status=SubscriptionStatus.confirmed))
        db.session.commit()
        ada = db.session.scalar(select(Subscriber))
        url = links.preferences_url(app.config, ada.id, ada.token_version)
    page.goto(url)
    save = page.locator("button[value=save]").bounding_box()
    leave = page.locator("#leave-all").bounding_box()
    assert leave["y"] - (save["y"] + save["height"]) >= 16
    box = page.locator("fieldset").evaluate("f => getComputedStyle(f).borderTopStyle")
    assert box == "solid"
