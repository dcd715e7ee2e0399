"""Privacy-policy versions, the notices owed about them, new uses of data (purposes) and
data-subject requests."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, event, text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.extensions import db
from newsletter.models.base import JSONType, UTCDateTime, enum_column, utcnow


class PolicyVersion(db.Model):
    """A published version of the privacy policy."""

    __tablename__ = "policy_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    version: Mapped[str] = mapped_column(String(32), unique=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    effective_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    material: Mapped[bool] = mapped_column(default=False)
    summary: Mapped[str] = mapped_column(Text, default="")
    body: Mapped[str] = mapped_column(Text, default="")
    # [{"purpose": "partners", "description": ..., "opt_in_countries": ["DE", ...]}]
    new_purposes: Mapped[list] = mapped_column(JSONType, default=list)
    notice_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    published_by: Mapped[str] = mapped_column(String(255), default="", server_default="")


@event.listens_for(PolicyVersion, "before_update")
def _published_versions_are_never_edited(_mapper, _connection, target: PolicyVersion) -> None:
    # A correction is a new version: consent events and notices point at what people were shown.
    raise ValueError(f"policy version {target.version} is published and cannot be edited")


class PolicyNotice(db.Model):
    """A notice a subscriber owes us a record of: written "owed" (how and delivered_at empty)
    for every active subscriber when a material version is published, completed by the "sent"
    mark of the newsletter that carried it or by the standalone notice at the deadline."""

    __tablename__ = "policy_notice"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "policy_version_id", name="uq_policy_notice_once"),
        # The worker asks, per recipient, "what does this subscriber still owe?": a probe of this
        # small partial index (only rows still owed) rides in its eligibility check.
        Index("ix_policy_notice_owed", "subscriber_id", "policy_version_id",
              postgresql_where=text("delivered_at IS NULL"),
              sqlite_where=text("delivered_at IS NULL")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    policy_version_id: Mapped[int] = mapped_column(ForeignKey("policy_version.id"))
    how: Mapped[str | None] = mapped_column(String(16))  # newsletter | standalone; None: owed
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Purpose(db.Model):
    """A use of personal data beyond the newsletters people signed up for ("share with
    partners"). Opt-in where the subscriber's country is in `opt_in_countries` (or unknown),
    opt-out elsewhere; the rule is privacy/consent.py `effective`. Never edited: what people
    were told must stay what it says."""

    __tablename__ = "purpose"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    opt_in_countries: Mapped[list] = mapped_column(JSONType, default=list)  # ISO 3166 alpha-2
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(255), default="")
    # First announced; from then on whoever becomes an active subscriber is told too
    # (privacy/purposes.py `tell_newcomers`, a scheduler job).
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PurposeNotice(db.Model):
    """Who was told about a purpose, and in which mode: one row per subscriber and purpose,
    written in the same transaction as the queued mail, so an announce run twice (or two at
    once) mails nobody twice."""

    __tablename__ = "purpose_notice"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "purpose_id", name="uq_purpose_notice_once"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    purpose_id: Mapped[int] = mapped_column(ForeignKey("purpose.id", ondelete="CASCADE"),
                                            index=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    mode: Mapped[str] = mapped_column(String(8))  # opt-in | opt-out
    notified_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PrivacyRequestKind(enum.Enum):
    """What a data subject asked for."""

    access = "access"
    erasure = "erasure"


class PrivacyRequestStatus(enum.Enum):
    """A request waits for the requester to prove the address is theirs, then for us."""

    unverified = "unverified"
    verified = "verified"
    completed = "completed"
    rejected = "rejected"


class PrivacyRequest(db.Model):
    """A request to see or delete one's data; the law gives us one month."""

    __tablename__ = "privacy_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[PrivacyRequestKind] = mapped_column(enum_column(PrivacyRequestKind))
    status: Mapped[PrivacyRequestStatus] = mapped_column(
        enum_column(PrivacyRequestStatus), default=PrivacyRequestStatus.unverified
    )
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL")
    )
    email_hash: Mapped[str] = mapped_column(String(64))  # the address asked about, keyed hash
    source: Mapped[str] = mapped_column(String(16))  # form | reply | admin | api
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    inbound_message_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_message.id"))
    detail: Mapped[dict] = mapped_column(JSONType, default=dict)
    note: Mapped[str] = mapped_column(Text, default="")
