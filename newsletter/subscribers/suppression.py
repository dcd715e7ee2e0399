"""The suppression list: addresses that must never be mailed, whatever anyone does.

Stored as a keyed hash (HMAC-SHA256 of the normalised address) so the entry outlives erasure of
the person's data without keeping the address itself. Checked at subscribe time and again right
before each send.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import Suppression, SuppressionReason, savepoint

# The hash lives with the columns that store it (the models must not import the domain).
from newsletter.models.subscribers import email_hash
from newsletter.privacy import audit


def is_suppressed(session: Session, key: str, email: str) -> bool:
    """True if the address is on the suppression list."""
    return session.scalar(
        select(Suppression.id).where(Suppression.email_hash == email_hash(key, email))
    ) is not None


def suppress(session: Session, key: str, email: str, reason: SuppressionReason, now: datetime,
             note: str = "", actor: str = "system") -> Suppression:
    """Put an address on the list (idempotent: an existing entry is kept as it is, and only a
    new entry is audited)."""
    digest = email_hash(key, email)
    existing = session.scalar(select(Suppression).where(Suppression.email_hash == digest))
    if existing is not None:
        return existing
    row = Suppression(email_hash=digest, reason=reason, created_at=now, note=note)
    # A savepoint, so two concurrent suppressions of one address do not fail the caller.
    from sqlalchemy.exc import IntegrityError

    try:
        with savepoint(session):
            session.add(row)
            session.flush()
    except IntegrityError:
        return session.scalar(select(Suppression).where(Suppression.email_hash == digest))
    audit.record(session, actor=actor, action="suppression.add", subject_type="suppression",
                 subject_id=digest[:16], now=now, detail={"reason": reason.value}, note=note or None)
    return row


def lift(session: Session, key: str, email: str, *, actor: str, reason: str,
         now: datetime) -> bool:
    """Remove an address from the list; a reason is required and the act is audited."""
    if not reason.strip():
        raise ValueError("lifting a suppression needs a reason")
    row = session.scalar(select(Suppression).where(Suppression.email_hash == email_hash(key, email)))
    if row is None:
        return False
    audit.record(session, actor=actor, action="suppression.lift", subject_type="suppression",
                 subject_id=row.email_hash[:16], now=now, detail={"was": row.reason.value},
                 note=reason)
    session.delete(row)
    return True
