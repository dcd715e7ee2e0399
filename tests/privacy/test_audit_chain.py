"""The audit hash chain (privacy/audit.py): sealing, `audit verify`, erasure that keeps
it verifiable."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import delete, select, update

from newsletter.extensions import db
from newsletter.models import AuditEvent
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

