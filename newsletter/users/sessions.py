"""The logins of an admin user, one AdminSession row each: seen, touched, ended.

The browser's session cookie holds a random key; the row holds its SHA-256, so a copy of the
table cannot be turned into a working cookie. A session works while its row is not ended and
the user's session_version is the one the cookie was made with (models/admin.py): deactivation,
a new password or a new role end all of them at once, `end()` ends one.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.models import AdminSession, AdminUser
from newsletter.privacy import audit
from newsletter.users.accounts import SUBJECT

# last_seen_at is written at most this often: not one UPDATE per page view.
TOUCH_EVERY = timedelta(minutes=1)


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def start(session: Session, user: AdminUser, *, ip: str | None, user_agent: str | None,
          now: datetime) -> str:
    """Record a new login; returns the key the session cookie keeps."""
    key = secrets.token_urlsafe(32)
    session.add(AdminSession(user_id=user.id, key_hash=_hash(key), session_version=user.session_version,
                             created_at=now, last_seen_at=now,
                             ip=(ip or "")[:64] or None, user_agent=(user_agent or "")[:255] or None))
    user.last_login_at = now
    audit.record(session, actor=f"admin:{user.email}", action="user.login", subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return key


def current(session: Session, user: AdminUser, key: str | None, now: datetime) -> AdminSession | None:
    """The live session this key names for this user, touched; None if it was ended."""
    if not key:
        return None
    row = session.scalar(select(AdminSession).where(
        AdminSession.key_hash == _hash(key), AdminSession.user_id == user.id,
        AdminSession.session_version == user.session_version, AdminSession.ended_at.is_(None)))
    # Committed here, as GET requests commit nothing; but only while the session holds no other
    # change: the user may be loaded halfway through a view, and its work is not ours to commit.
    if (row is not None and now - row.last_seen_at >= TOUCH_EVERY
            and not (session.new or session.dirty or session.deleted)):
        row.last_seen_at = now
        session.commit()
    return row


def live(session: Session, user: AdminUser) -> list[AdminSession]:
    """The user's sessions that have not been ended, newest first."""
    return list(session.scalars(select(AdminSession).where(
        AdminSession.user_id == user.id, AdminSession.session_version == user.session_version,
        AdminSession.ended_at.is_(None)).order_by(AdminSession.last_seen_at.desc())))


def is_key(row: AdminSession, key: str | None) -> bool:
    """True if `row` is the session this key belongs to (the page marks "this browser")."""
    return bool(key) and row.key_hash == _hash(key)


def end(session: Session, user: AdminUser, session_id: int, *, now: datetime) -> bool:
    """End one of the user's own sessions; False if there is no such live session."""
    row = session.get(AdminSession, session_id)
    if row is None or row.user_id != user.id or row.ended_at is not None:
        return False
    row.ended_at = now
    audit.record(session, actor=f"admin:{user.email}", action="user.session-end", subject_type=SUBJECT,
                 subject_id=user.id, now=now, detail={"session": row.id})
    return True


def end_key(session: Session, key: str | None, now: datetime) -> None:
    """End the session this key names (logout)."""
    if key:
        session.execute(update(AdminSession).where(AdminSession.key_hash == _hash(key),
                                                   AdminSession.ended_at.is_(None))
                        .values(ended_at=now))


