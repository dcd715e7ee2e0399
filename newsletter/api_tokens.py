"""API tokens: created and revoked by an admin (UI or CLI), stored only as a hash, audited."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from newsletter.models import ApiToken, Role
from newsletter.privacy import audit


class ApiTokenError(ValueError):
    """A token cannot be made as asked."""


def hash_token(token: str) -> str:
    """The stored form of an API token."""
    return hashlib.sha256(token.encode()).hexdigest()


def create(session: Session, name: str, *, actor: str, now: datetime, role: Role = Role.admin,
           expires_at: datetime | None = None) -> tuple[ApiToken, str]:
    """A new token with a role and an optional expiry; the secret is returned once, never stored."""
    if expires_at is not None and expires_at <= now:
        raise ApiTokenError(f"the expiry {expires_at:%Y-%m-%d %H:%M} UTC is not in the future "
                            f"(it is now {now:%Y-%m-%d %H:%M} UTC)")
    token = secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), created_at=now, role=role,
                   expires_at=expires_at)
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="api_token.create", subject_type="api_token",
                 subject_id=row.id, now=now, detail={
                     "name": name, "role": role.value,
                     "expires_at": expires_at.isoformat() if expires_at else None})
    return row, token


def revoke(session: Session, row: ApiToken, *, actor: str, now: datetime) -> bool:
    """Revoke a live token; False if it was revoked before."""
    if row.revoked_at is not None:
        return False
    row.revoked_at = now
    audit.record(session, actor=actor, action="api_token.revoke", subject_type="api_token",
                 subject_id=row.id, now=now)
    return True


def find_live(session: Session, token: str, now: datetime) -> ApiToken | None:
    """The token row for a bearer secret if it is neither revoked nor expired, else None."""
    return session.scalar(select(ApiToken).where(
        ApiToken.token_hash == hash_token(token.strip()), ApiToken.revoked_at.is_(None),
        or_(ApiToken.expires_at.is_(None), ApiToken.expires_at > now)))


def state(row: ApiToken, now: datetime) -> str:
    """"live", "expired" or "revoked", for listings."""
    if row.revoked_at is not None:
        return "revoked"
    if row.expires_at is not None and row.expires_at <= now:
        return "expired"
    return "live"
