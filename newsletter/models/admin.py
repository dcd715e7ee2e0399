"""People who run the service: admin users, API tokens and the audit trail."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, Index, Integer, String, Text, event
from sqlalchemy.orm import Mapped, mapped_column
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE
from werkzeug.security import check_password_hash, generate_password_hash

from newsletter.extensions import db
from newsletter.models.base import JSONType, UTCDateTime, enum_column, utcnow


class Role(enum.Enum):
    """What an admin user may do."""

    admin = "admin"  # everything, including users and API tokens
    marketer = "marketer"  # lists, subscribers, campaigns, inbox
    privacy = "privacy"  # policy versions, consent records, access and erasure requests
    read_only = "read-only"  # may look at everything it can reach, change nothing


class AdminUser(UserMixin, db.Model):
    """A person who logs in to the admin UI."""

    __tablename__ = "admin_user"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.marketer)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Part of the id in the session cookie; bumping it ends every session of this user
    # (logout, a new password, a new role: see `_end_sessions_on_change` below).
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Empty until an invited user sets a password: an empty hash matches nothing.
    invited_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Times on the admin pages are shown in this IANA zone (the `when` filter, admin/blueprint.py).
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # TOTP (users/twofactor.py): the base32 secret, set at enrolment, in force once confirmed.
    totp_secret: Mapped[str | None] = mapped_column(String(64))
    totp_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The last time step a code was accepted for: a code seen once is refused after (replay).
    totp_last_step: Mapped[int | None] = mapped_column(Integer)
    # Hashes of the unused recovery codes; each works once.
    recovery_codes: Mapped[list] = mapped_column(JSONType, default=list, server_default="[]")

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id and the session version."""
        return f"{self.id}:{self.session_version}"

    def end_sessions(self) -> None:
        """Make every session cookie issued to this user so far worthless."""
        self.session_version = (self.session_version or 1) + 1

    def set_password(self, password: str) -> None:
        """Store a salted hash of the password, never the password."""
        self.password_hash = generate_password_hash(password)

    def check_password(self, password: str) -> bool:
        """True if the password matches the stored hash."""
        return bool(self.password_hash) and check_password_hash(self.password_hash, password)

    @property
    def has_totp(self) -> bool:
        """True once a second factor is enrolled and confirmed."""
        return self.totp_secret is not None and self.totp_confirmed_at is not None

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users.
        return self.active


@event.listens_for(AdminUser.password_hash, "set")
@event.listens_for(AdminUser.role, "set")
def _end_sessions_on_change(target: AdminUser, value, oldvalue, initiator) -> None:
    """A changed password or role ends the user's sessions (not the first value, on creation)."""
    if oldvalue not in (None, NO_VALUE, NEVER_SET) and value != oldvalue:
        target.end_sessions()


class AdminSession(db.Model):
    """One login of an admin user: the user sees their sessions and may end any of them.

    The session cookie carries a random key; only its SHA-256 is stored here (web/auth.py).
    """

    __tablename__ = "admin_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("admin_user.id", ondelete="CASCADE"), index=True)
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The user's session_version at login: once it moves on, this session is over too.
    session_version: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ip: Mapped[str | None] = mapped_column(String(64))
    user_agent: Mapped[str | None] = mapped_column(String(255))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class AdminSetting(db.Model):
    """A setting an admin changes in the UI (e.g. "require_2fa"); a JSON value per name."""

    __tablename__ = "admin_setting"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[dict] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiToken(db.Model):
    """A bearer token for the JSON API; only its SHA-256 is stored."""

    __tablename__ = "api_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("admin_user.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # What the token may do (web/api/__init__.py `authenticate`); tokens made before roles
    # existed could do everything, so they are admin tokens.
    role: Mapped[Role] = mapped_column(enum_column(Role), default=Role.admin,
                                       server_default=Role.admin.value)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: until revoked


class AuditEvent(db.Model):
    """Who did what to whose data: append-only, sealed into a hash chain."""

    __tablename__ = "audit_event"
    __table_args__ = (Index("ix_audit_event_subject", "subject_type", "subject_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # "admin:alice@x", "api:token-name", "system", "subscriber"
    actor: Mapped[str] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64))
    subject_type: Mapped[str] = mapped_column(String(32))
    subject_id: Mapped[str | None] = mapped_column(String(64))
    detail: Mapped[dict] = mapped_column(JSONType, default=dict)
    note: Mapped[str | None] = mapped_column(Text)
    # Where a staff action came from: the client IP (admin UI, API) or "cli:user@host". NULL for
    # the scheduler, links and the public pages (a subscriber's IP is not kept in the chain).
    origin: Mapped[str | None] = mapped_column(String(254))
    # The hash chain (privacy/audit.py `seal()`): NULL until sealed. `seq` is the row's place in
    # the chain, given at sealing, not the id: ids are handed out at INSERT, and a transaction
    # that got id 10 may commit after id 11 was sealed. Unique, so two sealers cannot fork the
    # chain; its index also finds the unsealed rows (`seq IS NULL`) and the head (max seq).
    seq: Mapped[int | None] = mapped_column(Integer, unique=True)
    content_digest: Mapped[str | None] = mapped_column(String(64))
    prev_hash: Mapped[str | None] = mapped_column(String(64))
    hash: Mapped[str | None] = mapped_column(String(64))
