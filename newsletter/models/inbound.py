"""Messages read from the reply mailbox, and what was done with each."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.extensions import db
from newsletter.models.base import JSONType, UTCDateTime, enum_column, utcnow


class InboundStatus(enum.Enum):
    """Whether a message still needs a person."""

    done = "done"  # acted on (or ignored) automatically
    needs_human = "needs_human"  # waits in the admin inbox
    handled = "handled"  # a person dealt with it


class InboundMessage(db.Model):
    """One message from the reply mailbox; its key makes processing idempotent."""

    __tablename__ = "inbound_message"
    __table_args__ = (
        Index("ix_inbound_message_status", "status"),
        Index("ix_inbound_message_subscriber_verdict", "subscriber_id", "verdict"),
        # A campaign's replies and complaints, for its figures (sending/analytics.py).
        Index("ix_inbound_message_campaign", "campaign_id"),
        # A Message-ID alone is no identity: anyone can reuse one, and a message that reuses
        # it with other bytes is another message (issue 11). Rows recorded before the digest
        # existed keep NULL there.
        UniqueConstraint("message_key", "raw_digest", name="uq_inbound_message_key_digest"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # The Message-ID, or "sha256:<hex>" of the raw bytes when there is none.
    message_key: Mapped[str] = mapped_column(String(255))
    raw_digest: Mapped[str | None] = mapped_column(String(64))  # sha256 hex of the bytes read
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sender: Mapped[str] = mapped_column(String(254), default="")
    subject: Mapped[str] = mapped_column(Text, default="")
    verdict: Mapped[str] = mapped_column(String(32))
    reasons: Mapped[list] = mapped_column(JSONType, default=list)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL")
    )
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    recipient_domain: Mapped[str | None] = mapped_column(String(254))
    action: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[InboundStatus] = mapped_column(
        enum_column(InboundStatus), default=InboundStatus.done
    )
    # A person's correction of the verdict: kept as a labelled example.
    human_verdict: Mapped[str | None] = mapped_column(String(32))
    handled_by: Mapped[str | None] = mapped_column(String(254))
    raw: Mapped[bytes | None] = mapped_column(LargeBinary)  # purged after the retention period
    note: Mapped[str] = mapped_column(Text, default="")
