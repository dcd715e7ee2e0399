"""Dispatch: turn a due campaign into one queued Delivery per eligible subscriber, in SQL.

Who is eligible is sending/eligibility.py, the rule the worker applies again at send time.
The work is one `INSERT ... SELECT` per range of subscriber ids (never all subscribers in Python
memory), with ON CONFLICT DO NOTHING on the unique (campaign, subscriber) pair, so a dispatch that
runs twice, or is resumed after a crash, adds nothing.

The suppression filter joins Subscriber.email_hash (an indexed copy of
`suppression.email_hash(key, email)`) against Suppression.email_hash. The hash needs the
suppression key, which only the application knows, so rows whose hash is missing (new
subscribers, changed addresses) get it filled in here, one id range at a time, before the insert.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    Purpose,
    Subscriber,
    UTCDateTime,
    campaign_lists,
)
from newsletter.privacy.consent import PurposeRule
from newsletter.sending import eligibility
from newsletter.subscribers import segment_rules, suppression

BATCH = 50_000  # subscriber ids per INSERT ... SELECT


def _insert(session: Session):
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(Delivery)


def fill_email_hashes(session: Session, key: str, low: int, high: int) -> int:
    """Compute the missing email hashes of subscribers with low < id <= high."""
    rows = session.execute(
        select(Subscriber.id, Subscriber.email).where(
            Subscriber.id > low, Subscriber.id <= high, Subscriber.email_hash.is_(None))
    ).all()
    if rows:
        session.execute(
            update(Subscriber),
            [{"id": row.id, "email_hash": suppression.email_hash(key, row.email)} for row in rows],
        )
    return len(rows)


def insert_deliveries(session: Session, campaign_id: int, list_ids: list[int], low: int,
                      high: int, now: datetime, purpose: PurposeRule | None = None,
                      segment: ColumnElement[bool] | None = None) -> int:
    """One INSERT ... SELECT for subscribers with low < id <= high; returns rows added."""
    # Reads the subscriber primary key range, the (list_id, status) index of subscription and
    # the unique email_hash index of suppression; writes through uq_delivery_campaign_subscriber.
    status_type = Delivery.__table__.c.status.type
    chosen = select(
        literal(campaign_id), Subscriber.id, literal(DeliveryStatus.queued, status_type),
        literal(0), literal(now, UTCDateTime()),
    ).where(Subscriber.id > low, Subscriber.id <= high, eligibility.eligible(list_ids, purpose),
            eligibility.in_segment(segment))
    statement = _insert(session).from_select(
        ["campaign_id", "subscriber_id", "status", "attempts", "next_attempt_at"], chosen
    ).on_conflict_do_nothing(index_elements=["campaign_id", "subscriber_id"])
    # Counted through RETURNING (psycopg reports no rowcount for an INSERT built by SQLAlchemy);
    # on PostgreSQL the count happens in the server, so no row travels to Python.
    returning = statement.returning(literal(1))
    if session.get_bind().dialect.name == "postgresql":
        return session.scalar(select(func.count()).select_from(returning.cte("added")))
    return sum(1 for _ in session.execute(returning))


def purpose_rule(session: Session, purpose_id: int | None) -> PurposeRule | None:
    """The consent rule a campaign for this purpose adds to eligibility (None: no purpose)."""
    if purpose_id is None:
        return None
    return PurposeRule.of(session.get(Purpose, purpose_id))


def dispatch(session: Session, campaign: Campaign, key: str, now: datetime,
             batch: int = BATCH) -> int:
    """Queue the campaign for every eligible subscriber, committing per id range."""
    list_ids = list(session.scalars(
        select(campaign_lists.c.list_id).where(campaign_lists.c.campaign_id == campaign.id)))
    campaign_id = campaign.id
    purpose = purpose_rule(session, campaign.purpose_id)
    segment = segment_rules.condition_for(session, campaign.segment_id)
    low, high = session.execute(select(func.min(Subscriber.id), func.max(Subscriber.id))).one()
    added = 0
    if list_ids and low is not None:
        start = low - 1
        while start < high:
            end = start + batch
            fill_email_hashes(session, key, start, end)
            added += insert_deliveries(session, campaign_id, list_ids, start, end, now, purpose,
                                       segment)
            session.commit()
            start = end
            status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
            if status is CampaignStatus.cancelled:  # cancelled while we were queueing
                session.execute(update(Delivery).where(
                    Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.queued,
                ).values(status=DeliveryStatus.skipped, smtp_response="campaign cancelled"))
                break
    session.execute(update(Campaign).where(Campaign.id == campaign_id).values(dispatched_at=now))
    session.commit()
    return added


def queue_one(session: Session, campaign_id: int, subscriber_id: int, now: datetime) -> bool:
    """Queue one delivery (a welcome message); False if this pair was queued before."""
    statement = _insert(session).values(
        campaign_id=campaign_id, subscriber_id=subscriber_id, status=DeliveryStatus.queued,
        attempts=0, next_attempt_at=now,
    ).on_conflict_do_nothing(index_elements=["campaign_id", "subscriber_id"])
    return session.execute(statement.returning(literal(1))).first() is not None
