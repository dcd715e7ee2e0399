"""In a real browser: an admin logs in and sees the dashboard; a wrong password is refused."""

import pytest


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_admin_logs_in_and_sees_the_dashboard(page, auth):
    auth.create(email="admin@example.org", password="correct horse battery")
    page.goto("/admin/")
    assert "/login" in page.url
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("h1").inner_text() == "Dashboard"
    assert page.locator(".who").inner_text().startswith("admin@example.org")


def test_wrong_password_is_refused_in_the_browser(page, auth):
    auth.create(email="admin@example.org", password="correct horse battery")
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "not the password")
    page.click("button[type=submit]")
    assert page.locator(".flash.error").inner_text() == "Wrong email or password."
    assert "/login" in page.url
