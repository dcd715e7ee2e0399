"""The API carries out data requests as the admin page does: a privacy token mails the export
link or downloads the zip, erases a verified request after saying "erase", closes one with a
reason; each act is audited with the token and the client's IP; the OpenAPI document lists it."""

from __future__ import annotations

import io
import json
import secrets
import zipfile

from sqlalchemy import select

from newsletter import api_tokens
from newsletter.extensions import db
from newsletter.models import (
    ApiToken,
    AuditEvent,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Role,
)
from newsletter.subscribers import suppression

from .people import ANN, ANN_NAME, BOB, find_text

API_IP = "192.0.2.80"
BASE = "/api/v1/privacy-requests"


def token(app, role: Role) -> dict:
    value = secrets.token_urlsafe(24)
    with app.app_context():
        db.session.add(ApiToken(name=f"{role.value}-bot", role=role,
                                token_hash=api_tokens.hash_token(value)))
        db.session.commit()
    return {"Authorization": f"Bearer {value}"}


def request_of(app, email: str, kind: PrivacyRequestKind) -> int:
    with app.app_context():
        digest = suppression.email_hash(app.config["NEWSLETTER_SUPPRESSION_KEY"], email)
        return db.session.scalar(select(PrivacyRequest.id).where(
            PrivacyRequest.email_hash == digest, PrivacyRequest.kind == kind))


def test_a_privacy_token_mails_the_link_and_downloads_the_zip(app, client, smtp, world):
    officer, reader, marketer = (token(app, r) for r in (Role.privacy, Role.read_only,
                                                         Role.marketer))
    env = {"REMOTE_ADDR": API_IP}
    opened = client.post(BASE, headers=officer, json={"email": ANN, "kind": "access"})
    assert opened.status_code == 202
    request_id = opened.get_json()["id"]
    assert client.get(f"{BASE}/{request_id}/export", headers=reader).status_code == 403
    assert client.get(f"{BASE}/{request_id}/export", headers=marketer).status_code == 403
    assert client.post(f"{BASE}/{request_id}/export", headers=reader).status_code == 403

    zipped = client.get(f"{BASE}/{request_id}/export", headers=officer, environ_base=env)
    assert zipped.status_code == 200 and zipped.mimetype == "application/zip"
    data = json.loads(zipfile.ZipFile(io.BytesIO(zipped.data)).read("data.json"))
    assert data["email"] == ANN and BOB not in json.dumps(data)

    smtp.clear()
    sent = client.post(f"{BASE}/{request_id}/export", headers=officer, environ_base=env)
    assert sent.status_code == 200
    body = sent.get_json()
    assert body["status"] == "completed" and body["export_sent_by"] == "api:privacy-bot"
    assert body["export_sent_at"] and body["erased_at"] is None
    [mail] = smtp.wait_for(1)
    assert mail.rcpt_tos == [ANN] and b"/privacy/export/" in mail.raw
    assert client.post(f"{BASE}/{request_id}/export", headers=officer).status_code == 409
    assert client.get(f"{BASE}/{request_id}", headers=reader).get_json()["export_sent_at"]
    with app.app_context():
        rows = db.session.scalars(select(AuditEvent).where(
            AuditEvent.actor == "api:privacy-bot",
            AuditEvent.action.in_(["privacy.export", "privacy.access.completed"]))).all()
        assert sorted(r.action for r in rows) == ["privacy.access.completed", "privacy.export"]
        assert {r.origin for r in rows} == {API_IP}


def test_erasure_through_the_api_needs_a_verified_request_and_the_word(app, client, smtp, world):
    officer = token(app, Role.privacy)
    request_id = request_of(app, ANN, PrivacyRequestKind.erasure)  # by bare From: unverified
    url = f"{BASE}/{request_id}/erase"
    refused = client.post(url, headers=officer, json={"confirm": "erase"})
    assert refused.status_code == 409 and "mailed link" in refused.get_json()["message"]
    with app.app_context():
        row = db.session.get(PrivacyRequest, request_id)
        row.status = PrivacyRequestStatus.verified  # as the person's click on the link does
        db.session.commit()
    assert client.post(url, headers=officer, json={}).status_code == 422
    assert client.post(url, headers=officer, json={"confirm": "yes"}).status_code == 422
    with app.app_context():
        assert find_text(db.session, ANN) != []  # nothing was done yet
    done = client.post(url, headers=officer, json={"confirm": "erase"})
    assert done.status_code == 200
    assert done.get_json()["erased_by"] == "api:privacy-bot" and done.get_json()["erased_at"]
    with app.app_context():
        assert find_text(db.session, ANN, ANN_NAME) == []
    assert client.post(url, headers=officer, json={"confirm": "erase"}).status_code == 409
    assert client.post(f"{BASE}/999999/erase", headers=officer,
                       json={"confirm": "erase"}).status_code == 404


def test_closing_through_the_api_without_doing_it_needs_a_reason(app, client, world):
    officer = token(app, Role.privacy)
    request_id = request_of(app, BOB, PrivacyRequestKind.erasure)
    url = f"{BASE}/{request_id}/close"
    bare = client.post(url, headers=officer, json={"status": "rejected"})
    assert bare.status_code == 422 and "why" in bare.get_json()["message"]
    with app.app_context():
        assert db.session.get(PrivacyRequest, request_id).status is PrivacyRequestStatus.unverified
    closed = client.post(url, headers=officer, json={"status": "rejected",
                                                     "note": "not from the owner"})
    assert closed.status_code == 200
    assert (closed.get_json()["status"], closed.get_json()["note"]) == ("rejected",
                                                                       "not from the owner")


def test_the_openapi_document_lists_the_request_actions(client):
    paths = client.get("/api/v1/openapi.json").get_json()["paths"]
    for path, method in (("/api/v1/privacy-requests/{request_id}", "get"),
                         ("/api/v1/privacy-requests/{request_id}/export", "get"),
                         ("/api/v1/privacy-requests/{request_id}/export", "post"),
                         ("/api/v1/privacy-requests/{request_id}/erase", "post"),
                         ("/api/v1/privacy-requests/{request_id}/close", "post")):
        assert method in paths[path], (path, method)
