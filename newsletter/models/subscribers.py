"""Subscribers, lists, subscriptions, proof of consent and the suppression list."""

from __future__ import annotations

import enum
import hashlib
import hmac
from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint, event, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from newsletter.extensions import db
from newsletter.models.base import JSONType, UTCDateTime, enum_column, utcnow


def email_hash(key: str, email: str) -> str:
    """The keyed hash an address is suppressed under (lower-cased, trimmed first).

    Defined here, with the columns that store it (Subscriber.email_hash, Suppression.email_hash,
    PrivacyRequest.email_hash); `suppression.email_hash` is the name the domain uses.
    """
    normalised = email.strip().lower().encode()
    return hmac.new(f"suppression:{key}".encode(), normalised, hashlib.sha256).hexdigest()


class SubscriberStatus(enum.Enum):
    """Where a person stands overall (per-list state lives on Subscription)."""

    pending = "pending"  # no list confirmed yet
    active = "active"  # confirmed on at least one list
    unsubscribed = "unsubscribed"  # left everything
    bounced = "bounced"  # hard bounce: the address cannot receive
    complained = "complained"  # marked a message as spam
    erased = "erased"  # personal data removed on request


class SubscriptionStatus(enum.Enum):
    """A subscriber's state on one list."""

    pending = "pending"  # waiting for the double opt-in confirmation
    confirmed = "confirmed"
    unsubscribed = "unsubscribed"


class ConsentMethod(enum.Enum):
    """How a consent was granted or withdrawn (DESIGN.md section 3)."""

    form = "form"
    api = "api"
    import_ = "import"
    reply = "reply"
    one_click = "one-click"
    link = "link"  # the unsubscribe or confirm page
    preferences = "preferences"
    admin = "admin"
    cli = "cli"
    complaint = "complaint"
    bounce = "bounce"
    erasure = "erasure"


class SuppressionReason(enum.Enum):
    """Why an address must never be mailed again."""

    unsubscribe_all = "unsubscribe-all"
    bounce = "bounce"
    complaint = "complaint"
    erasure = "erasure"
    manual = "manual"


class Subscriber(db.Model):
    """A person, known by a normalised email address."""

    __tablename__ = "subscriber"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    # suppression.email_hash() of the address, so dispatch can filter suppressed addresses in
    # SQL. Cleared whenever the address changes; campaigns.dispatch fills in missing ones.
    email_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    country: Mapped[str | None] = mapped_column(String(2))
    # Language of pages and system mail (newsletter/i18n.py LANGUAGES); None: the list's default.
    language: Mapped[str | None] = mapped_column(String(8))
    attributes: Mapped[dict] = mapped_column(JSONType, default=dict)
    status: Mapped[SubscriberStatus] = mapped_column(
        enum_column(SubscriberStatus), default=SubscriberStatus.pending, index=True
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # Bumped to revoke every preference-centre link ever mailed (unsubscribe links stay valid).
    token_version: Mapped[int] = mapped_column(default=1)
    # Soft bounces counted, at most one per UTC day; starts again after a quiet window
    # (subscribers/bounces.py). last_bounce_at is the time of the last counted bounce.
    bounce_score: Mapped[int] = mapped_column(default=0, server_default="0")
    last_bounce_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    subscriptions: Mapped[list[Subscription]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan"
    )


@event.listens_for(Subscriber.email, "set")
def _forget_email_hash(target: Subscriber, value, oldvalue, initiator) -> None:
    """A changed address needs a fresh hash (computed on flush, below)."""
    if value != oldvalue:
        target.email_hash = None


@event.listens_for(Subscriber, "before_insert")
@event.listens_for(Subscriber, "before_update")
def _fill_email_hash(mapper, connection, target: Subscriber) -> None:
    """Keep email_hash current on every ORM write. The key is the app's suppression key; rows
    written outside an app context or by bulk SQL keep NULL and dispatch fills them in."""
    from flask import current_app, has_app_context

    if target.email_hash is None and target.email and has_app_context():
        key = current_app.config.get("NEWSLETTER_SUPPRESSION_KEY")
        if key:
            target.email_hash = email_hash(key, target.email)


class MailingList(db.Model):
    """A newsletter people subscribe to."""

    __tablename__ = "mailing_list"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    sender_name: Mapped[str] = mapped_column(String(200), default="")
    sender_address: Mapped[str] = mapped_column(String(254), default="")
    public: Mapped[bool] = mapped_column(Boolean, default=False)  # offered on the public form
    archive: Mapped[bool] = mapped_column(Boolean, default=False)  # public web archive
    double_opt_in: Mapped[bool] = mapped_column(Boolean, default=True)
    # For subscribers with no language of their own and browsers that name none we have.
    default_language: Mapped[str] = mapped_column(String(8), default="en", server_default="en")
    # The extra fields of the list's public form, as data: [{"name", "label", "type",
    # "required"}] (subscribers/form_fields.py checks and reads them). None: no extra field.
    form_fields: Mapped[list | None] = mapped_column(JSONType)
    # Count clicks per link per campaign (sending/clicks.py): off by default; when on, links
    # go through /c/<token> (campaign + URL, never the person) and the footer says so.
    count_clicks: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The sender's physical postal address, in the footer of every newsletter (CAN-SPAM asks
    # for one in commercial mail); empty: NEWSLETTER_POSTAL_ADDRESS, else none.
    postal_address: Mapped[str] = mapped_column(String(500), default="", server_default="")
    welcome_campaign_id: Mapped[int | None] = mapped_column(
        ForeignKey("campaign.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    subscriptions: Mapped[list[Subscription]] = relationship(back_populates="mailing_list")

    @property
    def public_archive(self) -> bool:
        """The archive is shown (and linked from mail) only for a public list with it on."""
        return bool(self.public and self.archive)


class Subscription(db.Model):
    """One subscriber on one list."""

    __tablename__ = "subscription"
    __table_args__ = (
        UniqueConstraint("subscriber_id", "list_id", name="uq_subscription_subscriber_list"),
        # subscriber_id last: dispatch reads the confirmed members of a list from this index
        # alone, and the send-time check "is this subscriber still confirmed on one of these
        # lists?" becomes one probe. Without it the planner may walk every confirmed member
        # of the list for each message (seen in bench/delivery.py: O(n) per message).
        Index("ix_subscription_list_status", "list_id", "status", "subscriber_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(ForeignKey("subscriber.id", ondelete="CASCADE"))
    list_id: Mapped[int] = mapped_column(ForeignKey("mailing_list.id", ondelete="CASCADE"))
    status: Mapped[SubscriptionStatus] = mapped_column(
        enum_column(SubscriptionStatus), default=SubscriptionStatus.pending
    )
    source: Mapped[str] = mapped_column(String(32), default="form")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the last confirmation mail went out: at most one per address and list per hour.
    confirmation_sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # The request waiting for confirmation: the exact wording shown and where it came from, so
    # the ConsentEvent written at confirmation carries them.
    consent_wording: Mapped[str] = mapped_column(Text, default="")
    request_ip: Mapped[str | None] = mapped_column(String(45))
    request_user_agent: Mapped[str | None] = mapped_column(String(512))

    subscriber: Mapped[Subscriber] = relationship(back_populates="subscriptions")
    mailing_list: Mapped[MailingList] = relationship(back_populates="subscriptions")


class ConsentEvent(db.Model):
    """Append-only proof of a grant or withdrawal. Never updated; erasure only anonymises."""

    __tablename__ = "consent_event"
    # Who left a campaign's lists in the days after it (sending/analytics.py): one range per list.
    __table_args__ = (Index("ix_consent_event_purpose_at", "purpose", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    subscriber_id: Mapped[int | None] = mapped_column(
        ForeignKey("subscriber.id", ondelete="SET NULL"), index=True
    )
    purpose: Mapped[str] = mapped_column(String(100))  # newsletter:<slug>, partners, ...
    granted: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    method: Mapped[ConsentMethod] = mapped_column(enum_column(ConsentMethod))
    ip: Mapped[str | None] = mapped_column(String(45))
    user_agent: Mapped[str | None] = mapped_column(String(512))
    wording: Mapped[str] = mapped_column(Text, default="")  # the exact text the person saw
    policy_version_id: Mapped[int | None] = mapped_column(ForeignKey("policy_version.id"))


class Suppression(db.Model):
    """An address that must never be mailed, kept as a keyed hash so it outlives erasure."""

    __tablename__ = "suppression"

    id: Mapped[int] = mapped_column(primary_key=True)
    email_hash: Mapped[str] = mapped_column(String(64), unique=True)
    reason: Mapped[SuppressionReason] = mapped_column(enum_column(SuppressionReason))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    note: Mapped[str] = mapped_column(Text, default="")
