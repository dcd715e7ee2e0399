"""In a real browser: /privacy shows the version in force and what changed since the last one."""

from __future__ import annotations

from datetime import timedelta

import pytest

from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.privacy import policy


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_privacy_page_shows_current_version_and_a_diff(page, app):
    with app.app_context():
        now = utcnow() - timedelta(minutes=5)  # both already in force when the page loads
        for offset, body, summary in ((0, "# Policy\n\nWe keep your address.\n", "First."),
                                      (1, "# Policy\n\nWe keep your address and country.\n",
                                       "We now keep your country.")):
            policy.publish(db.session, body=body, summary=summary, material=False,
                           now=now + timedelta(seconds=offset), config=app.config, actor="test")
            db.session.commit()
    page.goto("/privacy")
    assert page.locator("#shown-version").inner_text() == "version 2"
    assert "We keep your address and country." in page.locator("#policy-body").inner_text()
    assert page.locator("#policy-diff .diff-removed").inner_text() == "- We keep your address."
    assert page.locator("#policy-diff .diff-added").inner_text() == \
        "+ We keep your address and country."
    # Any two versions: compare the second with the first (a reversed diff).
    page.select_option("#diff-from", label="version 2")
    page.select_option("#diff-to", label="version 1")
    page.click("#diff-button")
    assert page.locator("#policy-diff .diff-added").inner_text() == "+ We keep your address."
