"""Segments: saved filters over one list's subscribers (subscribers/segments.py reads them)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.extensions import db
from newsletter.models.base import JSONType, UTCDateTime, utcnow


class Segment(db.Model):
    """Who on a list a campaign goes to: every rule must hold (field, operator, value)."""

    __tablename__ = "segment"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    # [{"field": "country" | "attributes.NAME", "op": "=", "value": "..."}, ...]
    rules: Mapped[list] = mapped_column(JSONType, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    created_by: Mapped[str] = mapped_column(String(254), default="")

    mailing_list = relationship("MailingList")
