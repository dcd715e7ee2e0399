"""The admin on a phone (390 px wide): the menu folds behind a button, wide tables scroll inside
their box (the page itself never scrolls sideways), and the login error stays inside its card."""

import pytest


@pytest.fixture
def database_url(tmp_path):
    return f"sqlite:///{tmp_path / 'browser.db'}"


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 390, "height": 844})
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


def _page_width(page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def test_the_menu_folds_and_nothing_is_wider_than_the_phone(phone, auth):
    auth.create()
    for n in range(8):
        auth.create(email=f"someone.with.a.rather.long.address.{n}@example.org")
    phone.goto("/login")
    phone.fill("input[name=email]", "admin@example.org")
    phone.fill("input[name=password]", "correct horse battery")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/admin/")
    nav = phone.locator("nav[aria-label=Main]")
    assert not nav.is_visible()
    phone.click("text=Menu")
    assert nav.is_visible()
    nav.locator("text=Users").click()
    phone.wait_for_url("**/admin/users")
    assert _page_width(phone) <= 390
    table = phone.locator("#users")
    assert table.evaluate("t => t.scrollWidth > t.clientWidth")  # it scrolls, inside its box


def test_the_login_error_fits_its_card(phone, auth):
    auth.create()
    phone.goto("/login")
    phone.fill("input[name=email]", "admin@example.org")
    phone.fill("input[name=password]", "not the password")
    phone.click("button[type=submit]")
    error = phone.locator(".flash.error").bounding_box()
    card = phone.locator("section.card").bounding_box()
    assert card["x"] <= error["x"] and error["x"] + error["width"] <= card["x"] + card["width"]
    assert card["y"] <= error["y"] and error["y"] + error["height"] <= card["y"] + card["height"]
    assert _page_width(phone) <= 390
