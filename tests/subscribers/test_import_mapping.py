"""The column-mapping step of the import page: a file no format claims (or any file, on request)
gets a preview and a choice per column; the mapping is checked, then the dry run and the import
read the kept file through it (no second upload), and the rows land as mapped."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import AuditEvent, ConsentEvent, MailingList, Subscriber, Subscription, utcnow
from newsletter.subscribers import import_formats, imports

from conftest import csrf_token

# A German shop's own export: no column any format knows.
FILE = ("E-Mail-Adresse,Vorname,Nachname,Angemeldet am,IP,Tarif,Notiz\n"
        "ada@example.org,Ada,Lovelace,2024-01-02 10:00,192.0.2.1,pro,call back\n"
        "grace@example.org,Grace,Hopper,2024-02-03 11:00,192.0.2.2,basic,\n"
        "not an address,Bad,Row,,,,\n")
# email, first name, last name, consent time, consent IP, attribute "plan", ignore
GOOD = [("email", ""), ("first_name", ""), ("last_name", ""), ("consent_time", ""),
        ("consent_ip", ""), ("attribute", "plan"), ("ignore", "")]


@pytest.fixture
def news(app):
    with app.app_context():
        row = MailingList(slug="news", name="News")
        db.session.add(row)
        db.session.commit()
        return row.id


def upload(client, list_id: int, text: str = FILE, **extra):
    token = csrf_token(client, "/admin/import")
    return client.post("/admin/import", data={
        "csrf_token": token, "list_id": str(list_id), "consent_basis": "existing",
        "file": (io.BytesIO(text.encode()), "shop.csv"), **extra,
    }, content_type="multipart/form-data")


def post_mapping(client, page: str, choices, **extra):
    """Send the mapping form as the page rendered it, with these choices."""
    form = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"',
                           page.split('id="mapping-form"')[1].split("</form>")[0]))
    for n, (role, name) in enumerate(choices):
        form[f"column-{n}"], form[f"attribute-{n}"] = role, name
    return client.post("/admin/import", data={**form, **extra})


def selected(page: str) -> list[str]:
    return re.findall(r'<select name="column-\d+"[^>]*>.*?<option value="(\w+)" selected',
                      page, re.S)


def staged_files(app) -> list[Path]:
    return list((Path(app.instance_path) / "import-staging").glob("*.csv"))


def test_an_unknown_file_gets_a_preview_and_imports_as_mapped(app, admin_client, news):
    response = upload(admin_client, news)
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    assert 'id="mapping-reason"' in page
    assert "<th scope=\"col\">E-Mail-Adresse</th>" in page and "<td>call back</td>" in page
    # A first guess: the column of addresses is the address, every other named column an
    # attribute named after its header.
    assert selected(page) == ["email"] + ["attribute"] * 6
    assert 'name="attribute-5" maxlength="64" value="tarif"' in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 0
        assert db.session.scalar(select(func.count(AuditEvent.id)).where(
            AuditEvent.action == "subscribers.import")) == 0
    assert len(staged_files(app)) == 1

    # The dry run through the mapping, then "Import this file now" with the same mapping.
    response = post_mapping(admin_client, page, GOOD, dry_run="on")
    dry = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "3 rows: would subscribe 2," in dry and "line 4:" in dry
    assert 'Read as <span id="format">mapped CSV</span>' in dry and "<code>plan</code>" in dry
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 0
    now = dict(re.findall(r'<input type="hidden" name="([\w-]+)" value="([^"]*)"',
                          dry.split('id="import-staged"')[1].split("</form>")[0]))
    assert now["column-5"] == "attribute" and now["attribute-5"] == "plan"
    response = admin_client.post("/admin/import", data=now)
    assert "3 rows: 2 subscribed" in response.get_data(as_text=True)
    assert staged_files(app) == []  # read once, then deleted
    with app.app_context():
        people = {s.email: s for s in db.session.scalars(select(Subscriber))}
        assert set(people) == {"ada@example.org", "grace@example.org"}
        ada = people["ada@example.org"]
        assert ada.name == "Ada Lovelace"
        assert ada.attributes == {"plan": "pro"}  # "Notiz" ignored
        grant = db.session.scalar(select(ConsentEvent).where(ConsentEvent.subscriber_id == ada.id))
        assert "recorded the consent at 2024-01-02 10:00 from 192.0.2.1" in grant.wording
        assert grant.ip == "192.0.2.1"
        assert db.session.scalar(select(func.count(Subscription.id))) == 2


@pytest.mark.parametrize("choices, message", [
    ([("email", ""), ("email", "")] + GOOD[2:],
     "exactly one column must be the email address (2 chosen)"),
    ([("ignore", "")] + GOOD[1:], "exactly one column must be the email address (0 chosen)"),
    (GOOD[:5] + [("attribute", "Tarif!"), ("ignore", "")], "column 6 ('Tarif'): an attribute name"),
    (GOOD[:5] + [("attribute", "plan"), ("attribute", "plan")],
     "column 7 ('Notiz'): the attribute 'plan' is already mapped"),
])
def test_a_bad_mapping_is_refused_naming_the_column_and_kept(app, admin_client, news, choices,
                                                             message):
    page = upload(admin_client, news).get_data(as_text=True)
    response = post_mapping(admin_client, page, choices)
    again = response.get_data(as_text=True)
    assert response.status_code == 400
    assert message in again.replace("&#39;", "'")
    assert selected(again) == [role for role, _ in choices]  # the choices as made
    assert 'id="mapping-form"' in again and len(staged_files(app)) == 1  # no second upload
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 0


def test_a_known_file_can_be_mapped_on_request(app, admin_client, news):
    text = "email,name,Company\nada@example.org,Ada,ACME\n"
    page = upload(admin_client, news, text, map_columns="on").get_data(as_text=True)
    assert 'id="mapping-form"' in page and 'id="mapping-reason"' not in page
    assert selected(page) == ["email", "name", "attribute"]
    response = post_mapping(admin_client, page, [("email", ""), ("attribute", "nickname"),
                                                 ("ignore", "")])
    assert "1 rows: 1 subscribed" in response.get_data(as_text=True)
    with app.app_context():
        ada = db.session.scalar(select(Subscriber))
        assert (ada.name, ada.attributes) == ("", {"nickname": "Ada"})


def test_a_mapping_is_for_a_file_of_that_width(app, session, news):
    layout = import_formats.mapped(["Mail", "Plan"], [("email", ""), ("attribute", "plan")])
    with pytest.raises(imports.ImportFormatError, match="mapped for 2 columns"):
        imports.import_csv(session, io.StringIO("Mail,Plan,Extra\na@example.org,x,y\n"), news,
                           consent_basis="existing", now=utcnow(), config=app.config,
                           layout=layout)
