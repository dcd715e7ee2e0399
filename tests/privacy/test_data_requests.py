"""Data requests around the export and the erasure: closing one undone needs a reason; the
preference centre offers both, still proven by the mailed link."""

from __future__ import annotations

import re

from sqlalchemy import select

from newsletter import links
from newsletter.extensions import db
from newsletter.models import PrivacyRequest, PrivacyRequestKind, PrivacyRequestStatus, Subscriber

from .people import ANN
from conftest import csrf_token, deliver_queued


def _request_id(app, kind=PrivacyRequestKind.erasure) -> int:
    with app.app_context():
        return db.session.scalar(select(PrivacyRequest.id).where(PrivacyRequest.kind == kind))


def test_closing_a_request_without_doing_it_needs_a_reason(app, admin_client, world):
    request_id = _request_id(app)
    token = csrf_token(admin_client, "/admin/privacy")
    for status in ("completed", "rejected"):
        admin_client.post(f"/admin/privacy/{request_id}/close",
                          data={"csrf_token": token, "status": status, "note": " "})
        with app.app_context():
            assert db.session.get(PrivacyRequest, request_id).status is PrivacyRequestStatus.unverified
    admin_client.post(f"/admin/privacy/{request_id}/close",
                      data={"csrf_token": token, "status": "rejected",
                            "note": "asked by someone else"})
    with app.app_context():
        row = db.session.get(PrivacyRequest, request_id)
        assert (row.status, row.note) == (PrivacyRequestStatus.rejected, "asked by someone else")


def test_the_preference_centre_offers_download_and_delete_through_the_mailed_link(
        app, client, smtp, world):
    with app.app_context():
        subscriber = db.session.get(Subscriber, world.ann)
        url = links.preferences_url(app.config, subscriber.id, subscriber.token_version)
    path = url.removeprefix(app.config["NEWSLETTER_BASE_URL"])
    page = client.get(path).get_data(as_text=True)
    form = re.search(r'<form method="post" action="(/privacy/request)"[^>]*id="my-data">', page)
    assert form and "Download my data" in page and "Delete my data" in page
    smtp.clear()
    for kind in ("access", "erasure"):
        response = client.post(form.group(1), data={"csrf_token": csrf_token(client, path),
                                                     "email": ANN, "kind": kind})
        assert response.status_code == 200 and "Check your mail" in response.get_data(as_text=True)
    with app.app_context():  # nothing is carried out before the mailed link is used
        assert db.session.get(Subscriber, world.ann).email == ANN
        access = db.session.scalar(select(PrivacyRequest).where(
            PrivacyRequest.kind == PrivacyRequestKind.access))
        assert access.status is PrivacyRequestStatus.unverified
    deliver_queued(app)  # the request only queued its mail; the worker sends it
    assert sorted(m.message["Subject"] for m in smtp.to(ANN)) == [
        "Please confirm your request to delete your data",
        "Please confirm your request to see your data"]


def test_the_request_page_mails_the_link_and_says_what_was_done_and_why(app, admin_client, smtp,
                                                                         world):
    token = csrf_token(admin_client, "/admin/privacy")
    admin_client.post("/admin/privacy", data={"csrf_token": token, "email": ANN,
                                              "kind": "access", "note": "letter"})
    request_id = _request_id(app, PrivacyRequestKind.access)
    smtp.clear()
    response = admin_client.post(f"/admin/privacy/{request_id}/send-export",
                                 data={"csrf_token": token})
    assert response.status_code == 303
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == [ANN] and b"/privacy/export/" in mail.raw
    listing = admin_client.get("/admin/privacy?show=all").get_data(as_text=True)
    assert re.search(r"link sent 20\d\d-\d\d-\d\d \d\d:\d\d by admin:admin@example.org", listing)
    # Done once: a second click is refused and mails nothing.
    assert admin_client.post(f"/admin/privacy/{request_id}/send-export",
                             data={"csrf_token": token}).status_code == 409
    assert len(smtp.messages) == 1
    erasure_id = _request_id(app)
    admin_client.post(f"/admin/privacy/{erasure_id}/close", data={
        "csrf_token": token, "status": "rejected", "note": "not the owner's request"})
    listing = admin_client.get("/admin/privacy?show=all").get_data(as_text=True)
    assert "rejected" in listing and "not the owner&#39;s request" in listing
