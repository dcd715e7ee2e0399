"""In a real browser: a marketer writes a campaign, sees it rendered in the sandboxed preview
iframe (under the page's CSP), and the campaign page shows its figures."""

import pytest
from campaign_support import make_list

from newsletter.extensions import db


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_marketer_writes_a_campaign_and_sees_the_preview(page, auth, app):
    with app.app_context():
        make_list(db.session, "weekly", name="Weekly News")
    auth.create(email="admin@example.org", password="correct horse battery")
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.click("text=Campaigns")
    page.click("text=New campaign")
    page.fill("input[name=subject]", "Hello {{ subscriber.name }}")
    page.check("input[name=lists]")
    page.fill("textarea[name=body]", "# Big news\n\nHi {{ subscriber.name }}, **bold** news.")
    page.click("form.card button[type=submit]")
    page.wait_for_selector("#campaign-status")
    assert page.locator("#campaign-status").inner_text() == "draft"
    frame = page.frame_locator("iframe.preview")
    assert frame.locator("h1").inner_text() == "Big news"
    assert "Sample Reader" in frame.locator("body").inner_text()
    assert frame.locator("strong").count() == 1
    assert not [e for e in errors if "Content Security Policy" in e]
    # A template error is shown on the form, naming the line.
    page.click("text=Edit")
    page.fill("textarea[name=body]", "fine\n{{ subscriber.__class__ }}")
    page.click("form.card button[type=submit]")
    assert "line 2" in page.locator("#form-error").inner_text()


def test_send_now_waits_for_the_confirmation_box_in_the_browser(page, auth, app):
    from campaign_support import new_campaign

    from newsletter.models import Campaign, CampaignStatus

    with app.app_context():
        campaign_id = new_campaign(db.session, make_list(db.session, "weekly", name="Weekly")).id
    auth.create(email="admin@example.org", password="correct horse battery")
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto(f"/admin/campaigns/{campaign_id}")
    send_form = page.locator("form", has=page.locator("button", has_text="Send now"))
    # Without the tick the browser does not submit the form (the box is `required`).
    send_form.locator("button").click()
    page.wait_for_timeout(500)
    assert page.locator("#campaign-status").inner_text() == "draft"
    assert page.locator("text=tick the box to confirm").count() == 0  # not even sent
    with app.app_context():
        assert db.session.get(Campaign, campaign_id).status is CampaignStatus.draft
    send_form.locator("input[name=confirm]").check()
    send_form.locator("button").click()
    page.wait_for_selector("text=Sending starts within seconds.")
    assert page.locator("#campaign-status").inner_text() == "scheduled"
