"""Campaigns, their per-recipient outbox (Delivery) and the queue of transactional mail."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, LargeBinary, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.extensions import db
from newsletter.models.base import JSONType, UTCDateTime, enum_column, utcnow


class CampaignStatus(enum.Enum):
    """A campaign's lifecycle."""

    draft = "draft"
    scheduled = "scheduled"
    sending = "sending"
    paused = "paused"
    sent = "sent"
    cancelled = "cancelled"
    recurring = "recurring"  # a template that spawns one campaign per occurrence
    welcome = "welcome"  # a list's welcome message: sent to each subscriber once, on confirmation


class DeliveryStatus(enum.Enum):
    """One message to one recipient."""

    queued = "queued"
    sending = "sending"  # claimed by a worker under a lease
    sent = "sent"
    failed = "failed"
    bounced = "bounced"
    skipped = "skipped"  # the recipient left or was suppressed before the send


campaign_lists = Table(
    "campaign_list",
    db.metadata,
    Column("campaign_id", ForeignKey("campaign.id", ondelete="CASCADE"), primary_key=True),
    Column("list_id", ForeignKey("mailing_list.id", ondelete="CASCADE"), primary_key=True),
)


class Campaign(db.Model):
    """A newsletter issue to one or more lists (or a recurring series of them)."""

    __tablename__ = "campaign"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    subject: Mapped[str] = mapped_column(String(998))
    body: Mapped[str] = mapped_column(Text, default="")
    body_format: Mapped[str] = mapped_column(String(16), default="markdown")  # markdown | html
    status: Mapped[CampaignStatus] = mapped_column(
        enum_column(CampaignStatus), default=CampaignStatus.draft, index=True
    )
    send_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cron: Mapped[str | None] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    # For an occurrence of a recurring series: the series and the occurrence's local time.
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id"))
    occurrence_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Set when every eligible recipient has a Delivery row; a crash before leaves it NULL and the
    # dispatcher simply runs again (dispatch is idempotent).
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The next occurrence a recurring series will spawn (UTC).
    next_occurrence_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_by: Mapped[str] = mapped_column(String(254), default="")
    # A campaign for a purpose (a new use of data) goes only to those with effective consent.
    purpose_id: Mapped[int | None] = mapped_column(ForeignKey("purpose.id"))
    # A mail-server outage (nothing but faults that are not about any recipient): since when,
    # and the last reply. Cleared by the next accepted message. After
    # NEWSLETTER_OUTAGE_PAUSE_MINUTES of it the campaign pauses itself and says why.
    waiting_since: Mapped[datetime | None] = mapped_column(UTCDateTime)
    waiting_reply: Mapped[str | None] = mapped_column(String(500))
    paused_reason: Mapped[str | None] = mapped_column(String(500))
    # Only the part of the list(s) a saved filter picks (subscribers/segments.py); None: all.
    # use_alter: segment -> mailing_list -> campaign (welcome) -> segment is a cycle.
    segment_id: Mapped[int | None] = mapped_column(
        ForeignKey("segment.id", ondelete="RESTRICT", use_alter=True))
    # The layout it is wrapped in on the layout's own list (its other lists: their default);
    # None: each list's default, else the built-in one (sending/layouts.py).
    # use_alter: layout -> mailing_list -> campaign (welcome) -> layout is a cycle.
    layout_id: Mapped[int | None] = mapped_column(
        ForeignKey("layout.id", ondelete="SET NULL", use_alter=True))

    lists = relationship("MailingList", secondary=campaign_lists)

    __table_args__ = (
        UniqueConstraint("parent_id", "occurrence_at", name="uq_campaign_occurrence"),
    )


class ArchiveCopy(db.Model):
    """A sent issue as the public archive shows it, rendered once per list on its first view.

    Per list because each list wraps the issue in its own layout and name. The archive serves
    this row and never renders a template per request: one runaway template, or many readers,
    cannot tie up the web processes.
    """

    __tablename__ = "archive_copy"

    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"),
                                             primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"),
                                         primary_key=True)
    html: Mapped[str] = mapped_column(Text)
    rendered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Delivery(db.Model):
    """The outbox: one row per campaign and recipient, claimed by workers under a lease."""

    __tablename__ = "delivery"
    __table_args__ = (
        UniqueConstraint("campaign_id", "subscriber_id", name="uq_delivery_campaign_subscriber"),
        # Lease reclaim looks up rows by status (status = 'sending' AND claimed_until < now).
        Index("ix_delivery_status_next", "status", "next_attempt_at"),
        # The claim walks one campaign's queued rows in (next_attempt_at, id) order and stops
        # after one batch: no sort, however many rows are queued (store.claim_batch()).
        # The campaign page counts by (campaign_id, status) on the same index.
        Index("ix_delivery_campaign_status", "campaign_id", "status", "next_attempt_at", "id"),
        # One person's copies: the segment rule `last_mailed` (an EXISTS per subscriber at
        # dispatch) and the subscriber timeline. Without it both walk the whole outbox.
        Index("ix_delivery_subscriber_sent", "subscriber_id", "sent_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus), default=DeliveryStatus.queued
    )
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    claimed_by: Mapped[str | None] = mapped_column(String(100))
    claimed_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    smtp_response: Mapped[str | None] = mapped_column(Text)
    message_id: Mapped[str | None] = mapped_column(String(255))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class OutboundMail(db.Model):
    """A transactional message (confirmation, notice, verification) waiting for the transport.

    Written in the same transaction as the change that needs it, so it is never lost;
    sent right after the commit and retried by the worker if that fails.
    """

    __tablename__ = "outbound_mail"
    __table_args__ = (
        Index("ix_outbound_mail_status_next", "status", "next_attempt_at"),
        # The per-address limits (privacy verification mail) count one address's recent rows.
        Index("ix_outbound_mail_to_created", "to_address", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # confirm, unsubscribe-undo, privacy-verify, ...
    to_address: Mapped[str] = mapped_column(String(254))
    envelope_from: Mapped[str] = mapped_column(String(254))
    raw: Mapped[bytes] = mapped_column(LargeBinary)
    # What the sender renders into `raw` when it is empty (mailer.queue_later): a template name,
    # a subject and plain ids, no personal data, so a request writes one row and no message.
    payload: Mapped[dict | None] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | sent | failed
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)


class SendWindow(db.Model):
    """How many messages all workers together sent in one window (the global send rate limit).

    The key names the window: "s:<unix second>" or "h:<unix hour>"; old rows are purged.
    """

    __tablename__ = "send_window"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    used: Mapped[int] = mapped_column(default=0)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class LinkClick(db.Model):
    """How often one link of one campaign was followed: a number, never who (sending/clicks.py)."""

    __tablename__ = "link_click"
    __table_args__ = (UniqueConstraint("campaign_id", "url", name="uq_link_click_campaign_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaign.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    clicks: Mapped[int] = mapped_column(default=0)
