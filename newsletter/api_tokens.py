"""API tokens: created and revoked by an admin (UI or CLI), stored only as a hash, audited."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter.models import ApiToken
from newsletter.privacy import audit


def hash_token(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, name: str, *, actor: str, now: datetime) -> tuple[ApiToken, str]:
    """A new token; the secret is returned once and never stored."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), created_at=now)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="api_token.create", subject_type="api_token",
                 subject_id=row.id, now=now, detail={"name": name})
    return row, token


def revoke(session: Session, row: ApiToken, *, actor: str, now: datetime) -> bool:
    """Revoke a live token; False if it was revoked before."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = now
    audit.record(session, actor=actor, action="api_token.revoke", subject_type="api_token",
                 subject_id=row.id, now=now)
    return True


def find_live(session: Session, token: str) -> ApiToken | None:
    """The live token row for a bearer secret, or None."""
    return session.scalar(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token.strip()), ApiToken.revoked_at.is_(None)))
