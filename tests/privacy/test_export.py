"""Access: the zip holds every table's rows about the person and nothing about anyone else; a
verified access request mails a signed link that expires, and a bad link changes nothing."""

from __future__ import annotations

import io
import json
import re
import time
import zipfile

import itsdangerous.timed
from campaign_support import NOW
from inbound import mails
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.inbound.poll import process
from newsletter.models import (
    AuditEvent,
    OutboundMail,
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Subscriber,
    utcnow,
)
from newsletter.privacy import data_requests
from newsletter.sending import mailer

from .people import ANN, ANN_NAME, BOB, BOB_NAME
from conftest import csrf_token

SUBSCRIBER_TABLES = ("subscription", "consent_event", "delivery", "bounce_event",
                     "policy_notice", "privacy_request")


def _zip_files(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_the_zip_holds_every_row_about_the_person_and_nothing_about_the_other(
        app, runner, world, tmp_path):
    with app.app_context():  # a complaint too (an ARF report carrying Ann's token)
        process(db.session, app.config, mails.arf(app.config, world.ann, world.campaign_id,
                                                  message_id="<arf-ann@isp>"), NOW)
        db.session.commit()
    output = tmp_path / "ann.zip"
    result = runner.invoke(args=["newsletter", "privacy", "export", ANN.upper(),
                                 "--output", str(output)])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines()[-1] == str(output)
    files = _zip_files(output.read_bytes())

    for name, content in files.items():  # nothing about Bob, in any file, in any case
        text = content.decode("latin-1").lower()
        assert BOB not in text and BOB_NAME.lower() not in text, name
    tables = json.loads(files["data.json"])["tables"]
    assert {f"{table}.csv" for table in tables} <= set(files)
    with app.app_context():
        session = db.session
        [subscriber] = tables["subscriber"]
        assert (subscriber["email"], subscriber["name"]) == (ANN, ANN_NAME)
        for table in SUBSCRIBER_TABLES:
            column = db.metadata.tables[table].c
            expected = set(session.scalars(select(column.id).where(
                column.subscriber_id == world.ann)))
            assert {row["id"] for row in tables[table]} == expected, table
        assert {row["id"] for row in tables["outbound_mail"]} == set(session.scalars(
            select(OutboundMail.id).where(func.lower(OutboundMail.to_address) == ANN)))
    # Mail she sent and reports about her; not Bob's answer to her forwarded newsletter.
    inbound = {row["message_key"]: row for row in tables["inbound_message"]}
    assert set(inbound) == {"<dsn-1@mx>", "<erase-1@example.org>", "<reply-ann@example.org>",
                            "<arf-ann@isp>"}
    assert b"Please delete all my data." in files[inbound["<erase-1@example.org>"]["raw_file"]]
    assert {row["verdict"] for row in inbound.values()} >= {"complaint", "bounce_soft"}
    assert {row["campaign_subject"] for row in tables["delivery"]} == {"Weekly #1"}
    assert {row["policy_version"] for row in tables["consent_event"]} == {"2026-01"}
    assert [row["reason"] for row in tables["suppression"]] == ["complaint"]
    assert any(ANN in (row["note"] or "") for row in tables["audit_event"])
    assert {row["actor"] for row in tables["audit_event"]} <= {"admin", "system", "subscriber",
                                                             "link", "cli"}
    with app.app_context():
        [row] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.export"))
        assert row.actor == "cli" and row.detail["rows"]["subscriber"] == 1


def _access_link(app, client, smtp) -> str:
    """Open and verify an access request for Ann; return the mailed download path."""
    with app.app_context():
        request, mail = data_requests.open_request(
            db.session, kind=PrivacyRequestKind.access, email=ANN, source="form", now=utcnow(),
            config=app.config)
        mailer.commit_and_send(db.session, app.config, [mail], utcnow())
        verify = f"/privacy/verify/{data_requests.verification_token(app.config, request)}"
    smtp.clear()
    client.post(verify, data={"csrf_token": csrf_token(client, verify)})
    [message] = smtp.to(ANN)
    body = message.message.get_body(("plain",)).get_content()
    return re.search(r"http://newsletter\.test(/privacy/export/\S+)", body).group(1)


def test_a_verified_access_request_mails_a_link_that_streams_the_zip(app, client, smtp, world):
    link = _access_link(app, client, smtp)
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest).where(
            PrivacyRequest.kind == PrivacyRequestKind.access))
        assert request.status is PrivacyRequestStatus.completed
        assert request.detail["export_sent_by"] == "link"
    page = client.get(link)  # what a mail scanner fetches: a page, the link still unspent
    assert page.status_code == 200 and "Download my data" in page.get_data(as_text=True)
    response = client.post(link, data={"csrf_token": csrf_token(client, link)})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    tables = json.loads(_zip_files(response.data)["data.json"])["tables"]
    assert tables["subscriber"][0]["email"] == ANN


def test_a_used_download_link_changes_nothing_and_says_so(app, client, smtp, world):
    link = _access_link(app, client, smtp)
    token = csrf_token(client, link)
    assert client.post(link, data={"csrf_token": token}).mimetype == "application/zip"
    with app.app_context():
        before = db.session.scalar(select(func.count(AuditEvent.id)))
    for again in (client.get(link), client.post(link, data={"csrf_token": token})):
        assert again.status_code == 400 and again.mimetype == "text/html"
        assert "was used on" in again.get_data(as_text=True)
    with app.app_context():  # no second export was built or audited
        assert db.session.scalar(select(func.count(AuditEvent.id))) == before


def test_a_used_verification_link_changes_nothing_and_says_so(app, client, smtp, world):
    _access_link(app, client, smtp)  # verified and answered: the download link went out
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest).where(
            PrivacyRequest.kind == PrivacyRequestKind.access))
        verify = f"/privacy/verify/{data_requests.verification_token(app.config, request)}"
        before = (db.session.scalar(select(func.count(AuditEvent.id))),
                  db.session.scalar(select(func.count(OutboundMail.id))))
    smtp.clear()
    page = client.get(verify)
    assert page.status_code == 400 and "used already" in page.get_data(as_text=True)
    again = client.post(verify, data={"csrf_token": csrf_token(client, "/privacy/request")})
    assert again.status_code == 400 and "used already" in again.get_data(as_text=True)
    with app.app_context():
        assert (db.session.scalar(select(func.count(AuditEvent.id))),
                db.session.scalar(select(func.count(OutboundMail.id)))) == before
    assert smtp.messages == []


def test_an_expired_or_altered_link_changes_nothing_and_says_so(app, client, smtp, world,
                                                                monkeypatch):
    link = _access_link(app, client, smtp)
    with app.app_context():
        before = db.session.scalar(select(func.count(AuditEvent.id)))
    tampered = client.get(link[:-3] + ("aaa" if not link.endswith("aaa") else "bbb"))
    assert tampered.status_code == 400 and "not valid" in tampered.get_data(as_text=True)
    eight_days = 8 * 86400
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                        lambda self: int(time.time()) + eight_days)
    expired = client.get(link)
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    expired = client.post(link, data={"csrf_token": csrf_token(client, "/privacy/request")})
    assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count(AuditEvent.id))) == before


def test_the_officer_exports_from_the_request_page(app, admin_client, world):
    with app.app_context():
        request_id = db.session.scalar(select(PrivacyRequest.id))
    page = "/admin/privacy"
    response = admin_client.post(f"/admin/privacy/{request_id}/export",
                                 data={"csrf_token": csrf_token(admin_client, page)})
    assert response.status_code == 200 and response.mimetype == "application/zip"
    assert json.loads(_zip_files(response.data)["data.json"])["email"] == ANN
    with app.app_context():
        [row] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "privacy.export"))
        assert row.actor == "admin:admin@example.org"


def test_an_expired_or_altered_verification_link_changes_nothing_and_says_so(
        app, client, smtp, world, monkeypatch):
    with app.app_context():
        request = db.session.scalar(select(PrivacyRequest).where(
            PrivacyRequest.kind == PrivacyRequestKind.erasure))
        verify = f"/privacy/verify/{data_requests.verification_token(app.config, request)}"
        request_id = request.id
        before = db.session.scalar(select(func.count(AuditEvent.id)))
    token = csrf_token(client, "/privacy/request")
    altered = client.post(verify[:-3] + ("aaa" if not verify.endswith("aaa") else "bbb"),
                          data={"csrf_token": token})
    assert altered.status_code == 400 and "not valid" in altered.get_data(as_text=True)
    fifteen_days = 15 * 86400
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp",
                        lambda self: int(time.time()) + fifteen_days)
    for expired in (client.get(verify), client.post(verify, data={"csrf_token": token})):
        assert expired.status_code == 400 and "expired" in expired.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(PrivacyRequest, request_id).status is PrivacyRequestStatus.unverified
        assert db.session.scalar(select(func.count(AuditEvent.id))) == before
        assert db.session.scalar(select(Subscriber.email).where(Subscriber.id == world.ann)) == ANN
