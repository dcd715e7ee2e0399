"""Layouts: the library of HTML wrappers a list's campaigns are sent in (sending/layouts.py)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.extensions import db
from newsletter.models.base import UTCDateTime, enum_column, utcnow


class LayoutFormat(enum.Enum):
    """What the marketer writes a layout in."""

    html = "html"  # a Jinja HTML template, used as written
    mjml = "mjml"  # MJML, compiled to responsive HTML when saved (mjml-python, the MRML compiler)


class Layout(db.Model):
    """One layout of a list: its source as written and the HTML campaigns are wrapped in."""

    __tablename__ = "layout"
    __table_args__ = (
        UniqueConstraint("list_id", "name", name="uq_layout_list_name"),
        # At most one default per list, kept by the database: two marketers marking two layouts
        # default at once cannot both win.
        Index("uq_layout_list_default", "list_id", unique=True,
              sqlite_where=text("is_default"), postgresql_where=text("is_default")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    source_format: Mapped[LayoutFormat] = mapped_column(enum_column(LayoutFormat),
                                                        default=LayoutFormat.html)
    source: Mapped[str] = mapped_column(Text)
    # What compose wraps the body in: the source itself (html) or its compiled form (mjml),
    # checked under the sandbox's limits when it was saved.
    html: Mapped[str] = mapped_column(Text)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_by: Mapped[str] = mapped_column(String(254), default="")

    mailing_list = relationship("MailingList")
