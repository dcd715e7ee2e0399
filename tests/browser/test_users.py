"""In a real browser: an invited user sets a password, a forgotten password is reset by mail,
a second factor is set up and then needed to log in."""

import pytest
from users.support import code, link_in

from conftest import deliver_queued


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def _log_in(page, email="admin@example.org", password="correct horse battery"):
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def _choose_password(page, link, password):
    page.goto(link)
    page.fill("input[name=password]", password)
    page.fill("input[name=repeat]", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/login")
    assert "Your password is set" in page.locator(".flash.success").inner_text()


def test_an_admin_invites_a_user_who_sets_a_password_and_logs_in(page, browser, live_server, auth, smtp):
    auth.create()
    _log_in(page)
    page.wait_for_url("**/admin/")
    page.click("nav >> text=Users")
    page.fill("#invite-email", "bea@example.org")
    page.select_option("#invite-role", "privacy")
    page.click("#invite button[type=submit]")
    assert "Invitation sent to bea@example.org." in page.locator(".flash.success").inner_text()
    assert "invited" in page.locator("tr[data-email='bea@example.org'] .user-state").inner_text()

    link = link_in(smtp.wait_for(1)[0])
    invitee = browser.new_context(base_url=live_server.url).new_page()
    try:
        _choose_password(invitee, link, "bea's long password")
        _log_in(invitee, "bea@example.org", "bea's long password")
        invitee.wait_for_url("**/admin/")
        assert invitee.locator(".who").inner_text() == "bea@example.org (privacy)"
    finally:
        invitee.context.close()


def test_a_forgotten_password_is_reset_by_mail(page, app, auth, smtp):
    auth.create()
    page.goto("/login")
    page.click("text=Forgot your password?")
    page.fill("input[name=email]", "admin@example.org")
    page.click("button[type=submit]")
    assert "If admin@example.org has an account" in page.locator("#reset-sent").inner_text()
    deliver_queued(app)
    _choose_password(page, link_in(smtp.wait_for(1)[0]), "a brand new password")
    _log_in(page, password="a brand new password")
    page.wait_for_url("**/admin/")
    assert page.locator("h1").inner_text() == "Dashboard"


def test_a_user_sets_up_a_second_factor_and_logs_in_with_a_code(page, auth):
    auth.create()
    _log_in(page)
    page.wait_for_url("**/admin/")
    page.click(".who")
    page.click("text=Set up a second factor")
    assert page.locator("img.qr").evaluate("img => img.naturalWidth") > 0
    secret = page.locator("#totp-secret").inner_text()
    page.fill("input[name=code]", "123 456" if code(secret) != "123456" else "654321")
    page.click("text=Turn it on")
    assert "That code is not right" in page.locator(".field-error").inner_text()
    page.fill("input[name=code]", code(secret))
    page.click("text=Turn it on")
    assert page.locator("#recovery-codes li").count() == 10
    page.click("text=I have kept them")
    page.click("text=Log out")

    _log_in(page)
    page.wait_for_url("**/login/code")
    page.fill("input[name=code]", code(secret, 1))
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    assert page.locator("h1").inner_text() == "Dashboard"
