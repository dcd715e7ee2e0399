"""Bounces as they were learnt: one row per failure report or SMTP refusal (Mailman 3's
BounceEvent is the model, src/mailman/model/bounce.py). The policy is subscribers/bounces.py."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from newsletter.extensions import db
from newsletter.models.base import UTCDateTime, enum_column, utcnow


class BounceDecision(enum.Enum):
    """What a failure says about the address (RFC 3463; subscribers/bounces.py decides)."""

    hard = "hard"  # the address or its domain is dead: suppressed at once
    soft = "soft"  # the mailbox cannot take mail now (full, disabled): counted once a day
    not_recipient = "not_recipient"  # about us, our message, a system or the network: never counted
    delayed = "delayed"  # RFC 3464 Action: delayed, the server still tries: never counted


class BounceEvent(db.Model):
    """One bounce of one subscriber: append-only, whether it counted or not."""

    __tablename__ = "bounce_event"
    __table_args__ = (Index("ix_bounce_event_subscriber_at", "subscriber_id", "occurred_at"),
                      # A campaign's bounces, for its figures (sending/analytics.py).
                      Index("ix_bounce_event_campaign", "campaign_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decision: Mapped[BounceDecision] = mapped_column(enum_column(BounceDecision))
    status: Mapped[str | None] = mapped_column(String(16))  # enhanced status code, e.g. 5.1.1
    # "smtp" (worker) | "dsn" (reply mailbox) | "webhook" (a sending service's event)
    source: Mapped[str] = mapped_column(String(8))
    campaign_id: Mapped[int | None] = mapped_column(ForeignKey("campaign.id", ondelete="SET NULL"))
    detail: Mapped[str] = mapped_column(Text, default="")  # the reply or diagnostic, bounded
    counted: Mapped[bool] = mapped_column(Boolean, default=False)  # changed bounce_score/status
