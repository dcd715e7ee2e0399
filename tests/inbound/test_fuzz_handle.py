"""Property: whatever bytes arrive, one poll step records the message (nothing is lost and
nothing stays stuck in the mailbox), on SQLite and on PostgreSQL."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings

from newsletter.extensions import db
from newsletter.inbound.classify import classify
from newsletter.inbound.handle import find
from newsletter.inbound.poll import process

from .mails import NOW
from .test_fuzz import mangled


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(raw=mangled())
def test_every_mangled_message_is_recorded_and_gets_a_folder(app, raw):
    with app.app_context():
        folder = process(db.session, app.config, raw, NOW)
        assert folder in ("Processed", "NeedsHuman")
        assert find(db.session, classify(raw)) is not None
        db.session.rollback()
