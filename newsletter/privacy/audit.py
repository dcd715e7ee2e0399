"""The audit trail: who did what to whose data (DESIGN.md section 6: every action on personal
data leaves a row).

Domain functions write their own rows through `record()`, in the caller's transaction, so an
action and its audit row commit together or not at all; views, API and CLI only say who the
actor is ("admin:alice@example.org", "api:crm-sync", "cli", "system", "subscriber", "link").
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.models import AuditEvent


def record(session: Session, *, actor: str, action: str, subject_type: str,
           subject_id: int | str | None, now: datetime, detail: dict | None = None,
           note: str | None = None) -> AuditEvent:
    """Add one audit row (flushed with the caller's work)."""
    row = AuditEvent(at=now, actor=actor, action=action, subject_type=subject_type,
                     subject_id=None if subject_id is None else str(subject_id),
                     detail=detail or {}, note=note)
    session.add(row)
    return row
