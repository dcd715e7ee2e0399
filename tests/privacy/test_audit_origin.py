"""Who, what, when and from where: staff reads and acts through the admin UI, the API and the
CLI each leave a row naming the actor and the origin (client IP, or cli:<OS user>@<host>); the
chain covers the origin; the officer finds a person's rows by address."""

from __future__ import annotations

import csv
import getpass
import io
import re

from sqlalchemy import select, update

from newsletter.extensions import db
from newsletter.models import AuditEvent, InboundMessage, Role, SuppressionReason, utcnow
from newsletter.subscribers import suppression

from .people import ANN, BOB
from conftest import csrf_token

STAFF_IP = "198.51.100.23"
API_IP = "192.0.2.77"


def rows(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        found = db.session.scalars(select(AuditEvent).where(AuditEvent.action == action)
                                  .order_by(AuditEvent.id)).all()
        db.session.expunge_all()
        return found


def test_admin_reads_and_edits_carry_the_actor_and_the_client_ip(app, client, auth, world):
    auth.create(email="officer@example.org", role=Role.privacy)
    client.environ_base["REMOTE_ADDR"] = STAFF_IP
    auth.login(email="officer@example.org")
    with app.app_context():
        message_id = db.session.scalar(select(InboundMessage.id).where(
            InboundMessage.sender.contains(ANN)))
        suppression.suppress(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"], BOB,
                             SuppressionReason.manual, actor="system", now=utcnow())
        db.session.commit()
    assert client.get(f"/admin/subscribers/{world.ann}").status_code == 200
    [view] = rows(app, "subscriber.view")
    assert (view.actor, view.origin, view.subject_id) == (
        "admin:officer@example.org", STAFF_IP, str(world.ann))

    auth.create(email="marketer@example.org", role=Role.marketer)
    auth.login(email="marketer@example.org")
    assert client.get(f"/admin/inbox/{message_id}").status_code == 200
    [read] = rows(app, "inbound_message.view")
    assert (read.actor, read.origin, read.subject_id) == (
        "admin:marketer@example.org", STAFF_IP, str(message_id))
    token = csrf_token(client, f"/admin/subscribers/{world.ann}/edit")
    client.post(f"/admin/subscribers/{world.ann}/edit",
                data={"csrf_token": token, "name": "Ann Q", "country": ""})
    [edit] = rows(app, "subscriber.edit")
    assert (edit.actor, edit.origin) == ("admin:marketer@example.org", STAFF_IP)

    auth.login(email="officer@example.org")
    client.post("/admin/suppressions/lift", data={
        "csrf_token": csrf_token(client, "/admin/suppressions"), "email": BOB,
        "reason": "asked by phone"})
    [lift] = rows(app, "suppression.lift")
    assert (lift.actor, lift.origin) == ("admin:officer@example.org", STAFF_IP)


def test_api_reads_of_a_subscriber_and_of_raw_mail_carry_the_token_and_ip(app, client,
                                                                          api_token, world):
    with app.app_context():
        message_id = db.session.scalar(select(InboundMessage.id).where(
            InboundMessage.sender.contains(ANN)))
    env = {"REMOTE_ADDR": API_IP}
    assert client.get(f"/api/v1/subscribers/{world.ann}", headers=api_token,
                      environ_base=env).status_code == 200
    assert client.get(f"/api/v1/inbound/{message_id}/raw", headers=api_token,
                      environ_base=env).status_code == 200
    [view] = rows(app, "subscriber.view")
    [raw] = rows(app, "inbound_message.view-raw")
    for row in (view, raw):
        assert (row.actor, row.origin) == ("api:tests", API_IP)


def test_cli_actions_name_the_os_user(app, runner, tmp_path, world):
    result = runner.invoke(args=["newsletter", "privacy", "export", ANN,
                                 "--output", str(tmp_path / "ann.zip")])
    assert result.exit_code == 0, result.output
    [export] = rows(app, "privacy.export")
    assert export.actor == "cli"
    assert re.fullmatch(rf"cli:{re.escape(getpass.getuser())}@\S+", export.origin)


def test_the_chain_covers_the_origin(app, client, runner, api_token, world):
    client.get(f"/api/v1/subscribers/{world.ann}", headers=api_token,
               environ_base={"REMOTE_ADDR": API_IP})
    assert runner.invoke(args=["newsletter", "audit", "verify"]).exit_code == 0
    [view] = rows(app, "subscriber.view")
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.id == view.id)
                           .values(origin="10.0.0.1"))
        db.session.commit()
    result = runner.invoke(args=["newsletter", "audit", "verify"])
    assert result.exit_code == 1 and f"row {view.id}: content changed" in result.output


def test_the_officer_finds_a_persons_rows_by_address_and_exports_them(app, client, auth, world):
    auth.create(email="officer@example.org", role=Role.privacy)
    client.environ_base["REMOTE_ADDR"] = STAFF_IP
    auth.login(email="officer@example.org")
    client.get(f"/admin/subscribers/{world.ann}")
    client.get(f"/admin/subscribers/{world.bob}")
    page = client.get("/admin/audit", query_string={"subject": ANN.upper()})
    assert page.status_code == 200
    shown = {int(x) for x in re.findall(r'data-id="(\d+)"', page.get_data(as_text=True))}
    with app.app_context():
        about = {r.id: (r.subject_type, r.subject_id) for r in db.session.scalars(
            select(AuditEvent).where(AuditEvent.id.in_(shown)))}
    assert ("subscriber", str(world.ann)) in about.values()
    assert ("subscriber", str(world.bob)) not in about.values()
    assert ANN not in page.get_data(as_text=True).split('id="audit-rows"')[1]
    response = client.get("/admin/audit.csv", query_string={"subject": ANN,
                                                           "action": "subscriber.view"})
    [line] = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert (line["subject_id"], line["origin"]) == (str(world.ann), STAFF_IP)
    assert client.get("/admin/audit", query_string={"subject": "not-a-hash"}).status_code == 400
