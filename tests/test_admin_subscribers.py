"""Admin subscribers: a known address is linked, not added twice; a suppressed address shows as
suppressed and is not counted as active (newsletter/web/admin/subscribers.py, dashboard, lists)."""

from __future__ import annotations

import re

from campaign_support import make_list
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import ConsentEvent, OutboundMail, Subscriber, SuppressionReason, utcnow
from newsletter.subscribers import suppression

from conftest import csrf_token


def _add(client, list_id: int, email: str, consent: str = "existing"):
    token = csrf_token(client, "/admin/subscribers/new")
    return client.post("/admin/subscribers/new", data={
        "csrf_token": token, "email": email, "list": [str(list_id)], "consent_basis": consent})


def _news(app) -> int:
    with app.app_context():
        return make_list(db.session, "news").id


def test_adding_a_known_address_says_so_and_links_it(app, admin_client):
    list_id = _news(app)
    assert _add(admin_client, list_id, "ada@example.org").status_code == 302
    with app.app_context():
        ada_id = db.session.scalar(select(Subscriber.id))
        events = db.session.scalar(select(func.count(ConsentEvent.id)))
        mails = db.session.scalar(select(func.count(OutboundMail.id)))
    response = _add(admin_client, list_id, "  ADA@Example.org ", consent="double-opt-in")
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "ada@example.org is already a subscriber" in page
    assert f'<a href="/admin/subscribers/{ada_id}">open their page</a>' in page
    with app.app_context():
        assert db.session.scalar(select(func.count(Subscriber.id))) == 1
        assert db.session.scalar(select(func.count(ConsentEvent.id))) == events
        # Nothing was mailed either (no confirmation request to a known reader).
        assert db.session.scalar(select(func.count(OutboundMail.id))) == mails


def test_a_suppressed_address_shows_as_suppressed_and_is_not_counted_as_active(app, admin_client):
    list_id = _news(app)
    for email in ("kept@example.org", "gone@example.org"):
        assert _add(admin_client, list_id, email).status_code == 302
    with app.app_context():
        suppression.suppress(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"],
                             "gone@example.org", SuppressionReason.manual, utcnow())
        db.session.commit()

    rows = admin_client.get("/admin/subscribers").get_data(as_text=True)
    gone = re.search(r"gone@example\.org</a></td>.*?</tr>", rows, re.S).group(0)
    kept = re.search(r"kept@example\.org</a></td>.*?</tr>", rows, re.S).group(0)
    assert '<span class="status suppressed">suppressed</span>' in gone
    assert "suppressed" not in kept and '<span class="status">active</span>' in kept

    active = admin_client.get("/admin/subscribers?status=active").get_data(as_text=True)
    assert "kept@example.org" in active and "gone@example.org" not in active
    only_suppressed = admin_client.get("/admin/subscribers?status=suppressed").get_data(as_text=True)
    assert "gone@example.org" in only_suppressed and "kept@example.org" not in only_suppressed

    assert re.search(r'id="fig-active">1<', admin_client.get("/admin/").get_data(as_text=True))
    assert re.search(r'class="list-count"[^>]*>1<',
                     admin_client.get("/admin/lists").get_data(as_text=True))


def test_an_empty_address_is_asked_for_right_below_its_field(app, admin_client):
    response = _add(admin_client, _news(app), "")
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert re.search(r'name="email"[^>]*aria-invalid="true"[^>]*></label>'
                     r'<p class="field-error" role="alert" id="email-error">Enter an email address.</p>',
                     page), page
    assert 'class="flash error"' not in page
