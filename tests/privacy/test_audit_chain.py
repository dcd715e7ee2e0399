"""The audit hash chain (privacy/audit.py): sealing, `audit verify`, erasure that keeps it
verifiable, and the privacy officer's filtered view and CSV export."""

from __future__ import annotations

import csv
import io
import re
from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from newsletter.extensions import db
from newsletter.models import AuditEvent, Role
from newsletter.privacy import audit, erasure

from .people import ANN


def verify(runner):
    return runner.invoke(args=["newsletter", "audit", "verify"])


def chain(app) -> list[tuple]:
    with app.app_context():
        return db.session.execute(select(
            AuditEvent.id, AuditEvent.seq, AuditEvent.content_digest, AuditEvent.prev_hash,
            AuditEvent.hash).order_by(AuditEvent.id)).all()


def add_rows(app, *rows: dict) -> list[int]:
    with app.app_context():
        made = [audit.record(db.session, subject_id=None, **row) for row in rows]
        db.session.commit()
        return [row.id for row in made]


def row(actor="cli", action="subscriber.edit", subject_type="subscriber", day=1, **detail):
    return {"actor": actor, "action": action, "subject_type": subject_type,
            "now": datetime(2026, 3, day, 12, tzinfo=UTC), "detail": detail}


def test_a_clean_chain_verifies(app, runner, world):
    result = verify(runner)
    assert result.exit_code == 0, result.output + result.stderr
    rows = chain(app)
    assert len(rows) > 5 and all(r.hash for r in rows)
    assert result.output.strip().splitlines()[-1] == max(rows, key=lambda r: r.seq).hash


def test_sealing_twice_changes_nothing(app, world):
    with app.app_context():
        key = app.config["NEWSLETTER_SUPPRESSION_KEY"]
        assert audit.seal(db.session, key) > 0
        db.session.commit()
    first = chain(app)
    with app.app_context():
        assert audit.seal(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"]) == 0
        db.session.commit()
    assert chain(app) == first
    # A row written later is chained after the head, not re-chaining the rest.
    [late] = add_rows(app, row(note="later"))
    with app.app_context():
        assert audit.seal(db.session, app.config["NEWSLETTER_SUPPRESSION_KEY"]) == 1
        db.session.commit()
    after = chain(app)
    assert after[:-1] == first
    head = max(first, key=lambda r: r.seq)
    assert (after[-1].id, after[-1].seq, after[-1].prev_hash) == (late, head.seq + 1, head.hash)


def test_editing_a_row_by_hand_is_named_by_verify(app, runner, world):
    assert verify(runner).exit_code == 0
    victim = chain(app)[3].id
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.id == victim)
                           .values(detail={"forged": True}))
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    assert f"row {victim}: content changed" in result.stderr


def test_editing_a_sealed_column_is_named_by_verify(app, runner, world):
    assert verify(runner).exit_code == 0
    victim = chain(app)[2].id
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.id == victim)
                           .values(actor="admin:someone-else@example.org"))
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1 and f"row {victim}: content changed" in result.stderr


def test_forging_the_digest_with_the_detail_is_named_by_verify(app, runner, world):
    """Whoever holds the key can recompute the digest; the row hash covers the digest."""
    assert verify(runner).exit_code == 0
    victim = chain(app)[3].id
    with app.app_context():
        forged = db.session.get(AuditEvent, victim)
        forged.detail = {"forged": True}
        forged.content_digest = audit.content_digest(app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                                     forged)
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1 and f"row {victim}: content changed" in result.stderr


def test_deleting_a_row_breaks_the_next_link(app, runner, world):
    assert verify(runner).exit_code == 0
    rows = sorted(chain(app), key=lambda r: r.seq)
    with app.app_context():
        db.session.execute(delete(AuditEvent).where(AuditEvent.id == rows[4].id))
        db.session.commit()
    result = verify(runner)
    assert result.exit_code == 1
    assert f"row {rows[5].id}: previous hash does not match" in result.stderr


def test_erasure_redacts_sealed_rows_and_the_chain_still_verifies(app, runner, world):
    assert verify(runner).exit_code == 0
    before = {r.id: r for r in chain(app)}
    with app.app_context():
        outcome = erasure.erase(db.session, ANN, config=app.config, now=datetime.now(UTC),
                                actor="cli")
        db.session.commit()
        assert outcome.redacted_audit_rows  # sealed rows did quote Ann
        redacted = db.session.get(AuditEvent, outcome.redacted_audit_rows[0])
        assert ANN not in str(redacted.detail) + str(redacted.note)
        # The link is untouched: only detail/note changed, under the same keyed digest.
        assert (redacted.content_digest, redacted.hash) == (
            before[redacted.id].content_digest, before[redacted.id].hash)
        ids = outcome.redacted_audit_rows
    result = verify(runner)
    assert result.exit_code == 0, result.stderr
    # A redaction vouches only for the rows it lists.
    other = next(r.id for r in chain(app) if r.id not in ids)
    with app.app_context():
        db.session.execute(update(AuditEvent).where(AuditEvent.id == other)
                           .values(note="[erased]"))
        db.session.commit()
    assert f"row {other}: content changed" in verify(runner).stderr


def _login(auth, role):
    auth.create(email=f"{role.value}@example.org", role=role)
    assert auth.login(email=f"{role.value}@example.org").status_code == 302


def _seed_log(app) -> dict[str, int]:
    ids = add_rows(
        app,
        row(actor="admin:ann@example.org", action="privacy.erasure.open",
            subject_type="privacy_request", day=1, n=1),
        row(actor="admin:ann@example.org", action="subscriber.edit", day=2, n=2),
        row(actor="cli", action="privacy.erase", subject_type="email_hash", day=3, n=3),
        row(actor="admin:bob@example.org", action="privacy.access.open",
            subject_type="privacy_request", day=4, n=4),
        row(actor="admin:ann@example.org", action="privacy.access.verify",
            subject_type="privacy_request", day=9, n=5, text="=HYPERLINK(1)"),
    )
    return dict(zip(("open1", "edit", "erase", "bob", "late"), ids, strict=True))


def test_the_log_filters_and_the_csv_holds_exactly_the_filtered_rows(app, client, auth):
    ids = _seed_log(app)
    _login(auth, Role.privacy)
    query = {"actor": "admin:ann", "action": "privacy.", "since": "2026-03-01",
             "until": "2026-03-08"}
    page = client.get("/admin/audit", query_string=query)
    assert page.status_code == 200
    shown = {int(x) for x in re.findall(r'data-id="(\d+)"', page.get_data(as_text=True))}
    assert shown == {ids["open1"]}
    by_type = client.get("/admin/audit", query_string={"subject_type": "privacy_request"})
    assert by_type.get_data(as_text=True).count("data-id=") == 3

    response = client.get("/admin/audit.csv", query_string={"subject_type": "privacy_request"})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(int(r["id"]) for r in rows) == sorted([ids["open1"], ids["bob"], ids["late"]])
    late = next(r for r in rows if int(r["id"]) == ids["late"])
    assert late["actor"] == "admin:ann@example.org" and '"=HYPERLINK(1)"' in late["detail"]
    # The export is itself audited.
    with app.app_context():
        [export] = db.session.scalars(select(AuditEvent).where(
            AuditEvent.action == "audit.export")).all()
        assert export.actor == "admin:privacy@example.org" and export.detail["rows"] == 3
    assert client.get("/admin/audit", query_string={"since": "March"}).status_code == 400


def test_the_log_is_paged(app, client, auth):
    add_rows(app, *(row(n=i) for i in range(55)))
    _login(auth, Role.privacy)
    first = client.get("/admin/audit").get_data(as_text=True)
    second = client.get("/admin/audit?page=2").get_data(as_text=True)
    with app.app_context():  # the 55 rows and the login's own row
        total = db.session.query(AuditEvent).count()
    assert total > 55 and first.count("data-id=") == 50 and second.count("data-id=") == total - 50
    assert 'rel="next"' in first and 'rel="next"' not in second


def test_a_marketer_may_not_read_the_log(app, client, auth):
    _seed_log(app)
    _login(auth, Role.marketer)
    assert client.get("/admin/audit").status_code == 403
    assert client.get("/admin/audit.csv").status_code == 403


def test_the_log_shows_times_in_the_readers_timezone(app, client, auth):
    add_rows(app, row(day=2))  # 12:00 UTC on 2 March
    _login(auth, Role.privacy)
    with app.app_context():
        from newsletter.models import AdminUser

        db.session.execute(update(AdminUser).values(timezone="Europe/Berlin"))
        db.session.commit()
    page = client.get("/admin/audit").get_data(as_text=True)
    assert "2026-03-02 13:00:00 CET" in page and "(UTC)" not in page
