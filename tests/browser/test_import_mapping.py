"""In a real browser: a marketer uploads a file whose columns no format knows, says what each
holds on the preview, runs it dry, then imports the kept file without choosing it again."""

import pytest
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList, Subscriber

FILE = ("Adresse,Vorname,Nachname,Tarif,Notiz\n"
        "ada@example.org,Ada,Lovelace,pro,call back\n"
        "grace@example.org,Grace,Hopper,basic,\n")


@pytest.fixture
def database_url(tmp_path):
    # Page tests exercise the browser, not the database: SQLite is enough here.
    return f"sqlite:///{tmp_path / 'browser.db'}"


def test_marketer_maps_the_columns_of_an_unknown_file(page, auth, app):
    with app.app_context():
        db.session.add(MailingList(slug="news", name="Weekly News"))
        db.session.commit()
    auth.create(email="admin@example.org", password="correct horse battery")
    page.goto("/login")
    page.fill("input[name=email]", "admin@example.org")
    page.fill("input[name=password]", "correct horse battery")
    page.click("button[type=submit]")
    page.wait_for_url("**/admin/")
    page.goto("/admin/import")
    page.set_input_files("input[name=file]", files=[
        {"name": "shop.csv", "mimeType": "text/csv", "buffer": FILE.encode()}])
    page.select_option("select[name=consent_basis]", "existing")
    page.click("form[enctype] button[type=submit]")
    table = page.locator("#mapping-table")
    table.wait_for()
    assert "call back" in table.inner_text()  # the preview
    page.select_option("select[name=column-0]", "email")
    page.select_option("select[name=column-1]", "first_name")
    page.select_option("select[name=column-2]", "last_name")
    page.select_option("select[name=column-3]", "attribute")
    page.fill("input[name=attribute-3]", "plan")
    page.select_option("select[name=column-4]", "ignore")
    page.click("#mapping-dry-run")
    assert "would subscribe 2" in page.locator("#summary").inner_text()
    with app.app_context():
        assert db.session.scalars(select(Subscriber)).all() == []
    page.click("#import-staged button[type=submit]")
    assert "2 subscribed" in page.locator("#summary").inner_text()
    with app.app_context():
        people = {s.email: (s.name, s.attributes) for s in db.session.scalars(select(Subscriber))}
    assert people == {"ada@example.org": ("Ada Lovelace", {"plan": "pro"}),
                      "grace@example.org": ("Grace Hopper", {"plan": "basic"})}
