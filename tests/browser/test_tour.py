"""The README tour: the main pages at 1280 px and at 390 px (a phone), each screenshotted.

The pages must not be wider than a phone at 390 px. Screenshots go to a temporary folder, or to
NEWSLETTER_SCREENSHOTS_DIR when set (`docs/screenshots` refreshes the README's pictures).
"""

import os
from pathlib import Path

import pytest
from campaign_support import add_subscribers, make_list, new_campaign

from newsletter.extensions import db

WIDTHS = {"wide": (1280, 800), "phone": (390, 844)}


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'browser.db'}"


@pytest.fixture
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("NEWSLETTER_SCREENSHOTS_DIR") or tmp_path / "shots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("width", list(WIDTHS))
def test_tour_of_the_main_pages(browser, live_server, app, auth, shots, width):
    auth.create()
    with app.app_context():
        news = make_list(db.session, "news", public=True, description="Notes from the team, weekly")
        reader_id = add_subscribers(db.session, news, 3)[0]
        news_id = news.id
        new_campaign(db.session, news, subject="Hello {{ subscriber.name }}")
        campaign_id = new_campaign(db.session, news, name="Monday notes", subject="Monday notes",
                                   cron="0 9 * * 1", timezone="Europe/Berlin").id
    w, h = WIDTHS[width]
    context = browser.new_context(base_url=live_server.url, viewport={"width": w, "height": h})
    page = context.new_page()
    page.set_default_timeout(10_000)
    try:
        def shot(name: str) -> None:
            page.wait_for_load_state("networkidle")
            assert page.evaluate("document.documentElement.scrollWidth") <= w, name
            page.screenshot(path=str(shots / f"{name}-{width}.png"))

        page.goto("/subscribe/news")
        shot("subscribe")
        page.goto("/login")
        page.fill("input[name=email]", "admin@example.org")
        page.fill("input[name=password]", "correct horse battery")
        page.click("button[type=submit]")
        page.wait_for_url("**/admin/")
        shot("dashboard")
        page.goto("/admin/campaigns")
        shot("campaigns")
        page.goto(f"/admin/campaigns/{campaign_id}")
        shot("campaign")
        page.goto("/admin/subscribers")
        shot("subscribers")
        page.goto(f"/admin/subscribers/{reader_id}")
        shot("subscriber")
        page.goto("/admin/segments")
        shot("segments")
        page.goto(f"/admin/layouts/new?list={news_id}&starter=responsive")
        shot("layout")
        page.goto("/admin/users")
        shot("users")
        page.goto("/admin/account")
        shot("account")
        page.goto("/api/v1/docs")
        page.wait_for_selector(".opblock")
        shot("api-docs")
    finally:
        context.close()
