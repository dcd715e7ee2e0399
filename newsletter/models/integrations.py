"""Outgoing event webhooks and what they send, and the nonces of signed incoming provider calls.

The delivery queue is shaped like OutboundMail: a row written in the same transaction as the
change it reports, sent after the commit by the scheduler job, retried with backoff.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.extensions import db
from newsletter.models.base import JSONType, UTCDateTime, utcnow


class Webhook(db.Model):
    """A URL an admin registered to hear about chosen events (integrations/webhooks.py)."""

    __tablename__ = "webhook"

    id: Mapped[int] = mapped_column(primary_key=True)
    url: Mapped[str] = mapped_column(String(2000))
    # The shared HMAC key: needed in the clear to sign, so it is shown once and never listed.
    secret: Mapped[str] = mapped_column(String(200))
    events: Mapped[list] = mapped_column(JSONType, default=list)  # webhooks.EVENTS values
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")


class WebhookDelivery(db.Model):
    """One event for one webhook: queued with the change, sent and retried by the scheduler."""

    __tablename__ = "webhook_delivery"
    # The sender walks due queued rows in (status, next_attempt_at) order.
    __table_args__ = (Index("ix_webhook_delivery_status_next", "status", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    webhook_id: Mapped[int] = mapped_column(ForeignKey("webhook.id", ondelete="CASCADE"))
    event: Mapped[str] = mapped_column(String(32))
    # The exact JSON bytes that are signed and sent, fixed when the event happens.
    payload: Mapped[str] = mapped_column(Text)
    # queued | sent | failed | cancelled (the person was erased before it went out)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[int | None] = mapped_column()  # HTTP status of the last attempt
    last_response: Mapped[str | None] = mapped_column(Text)  # its body or the error, bounded


class ProviderNonce(db.Model):
    """A signed token a sending service used once (Mailgun): a second use is a replay."""

    __tablename__ = "provider_nonce"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)  # "<provider>:<token>"
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
