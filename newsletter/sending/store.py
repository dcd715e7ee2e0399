"""The two statements a delivery worker runs for every message: "is this recipient still
eligible?" right before building the message, and "mark it sent" right after the server said 250.

`CoreOutbox` runs them through the worker's session (any database). `PostgresOutbox` folds both
into ONE autocommitted statement: the "sent" mark of the message the server just accepted rides
in a data-modifying CTE on the check of the next recipient, which is issued immediately after
the send returns. That is one round trip per message instead of six (BEGIN, SELECT, UPDATE,
COMMIT ...), which is most of the difference between a few hundred and a few thousand messages
per second. Whenever the worker is about to do anything else (wait for a rate permit, give a
batch back, handle a failure) it flushes a pending mark on its own first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsletter.models import (
    Delivery,
    DeliveryStatus,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    Suppression,
)

# The recipient as of now: status, the first campaign list they are confirmed on, suppression.
RECIPIENT_SQL = """
SELECT s.email, s.name, s.attributes, s.token_version, s.status, s.email_hash,
       (SELECT min(sub.list_id) FROM subscription sub
         WHERE sub.subscriber_id = s.id AND sub.status = 'confirmed'
           AND sub.list_id = ANY(%(list_ids)s)) AS list_id,
       EXISTS (SELECT 1 FROM suppression x WHERE x.email_hash = s.email_hash) AS suppressed
  FROM subscriber s WHERE s.id = %(subscriber_id)s
"""
MARK_SQL = """
UPDATE delivery SET status = 'sent', sent_at = %(sent_at)s, message_id = %(message_id)s,
       smtp_response = %(reply)s, claimed_until = NULL
 WHERE id = %(delivery_id)s
"""
MARK_AND_CHECK_SQL = f"WITH marked AS ({MARK_SQL})\n{RECIPIENT_SQL}"


class CoreOutbox:
    """Portable: one SELECT per check, one UPDATE + COMMIT per mark."""

    def __init__(self, session: Session):
        self.session = session

    def recipient(self, subscriber_id: int, list_ids: list[int]) -> Any:
        """The recipient's current row (see RECIPIENT_SQL), or None."""
        on_list = (select(func.min(Subscription.list_id)).where(
            Subscription.subscriber_id == Subscriber.id, Subscription.list_id.in_(list_ids),
            Subscription.status == SubscriptionStatus.confirmed).scalar_subquery())
        suppressed = select(Suppression.id).where(
            Suppression.email_hash == Subscriber.email_hash).exists()
        row = self.session.execute(select(
            Subscriber.email, Subscriber.name, Subscriber.attributes, Subscriber.token_version,
            Subscriber.status, Subscriber.email_hash, on_list.label("list_id"),
            suppressed.label("suppressed"),
        ).where(Subscriber.id == subscriber_id)).first()
        return row

    def mark_sent(self, delivery_id: int, sent_at: datetime, message_id: str, reply: str) -> None:
        """Mark and commit at once."""
        self.session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            status=DeliveryStatus.sent, sent_at=sent_at, message_id=message_id,
            smtp_response=reply, claimed_until=None))
        self.session.commit()

    def flush(self) -> None:
        """Nothing is ever pending here."""

    def close(self) -> None:
        """Nothing to close."""


class PostgresOutbox:
    """One autocommitted statement per message (see the module docstring)."""

    def __init__(self, engine: Engine):
        self.connection = engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.pending: dict | None = None

    def recipient(self, subscriber_id: int, list_ids: list[int]) -> Any:
        """Check the next recipient, committing the pending "sent" mark in the same statement."""
        params = {"subscriber_id": subscriber_id, "list_ids": list_ids}
        if self.pending is not None:
            params.update(self.pending)
            sql = MARK_AND_CHECK_SQL
        else:
            sql = RECIPIENT_SQL
        row = self.connection.exec_driver_sql(sql, params).first()
        self.pending = None
        return row

    def mark_sent(self, delivery_id: int, sent_at: datetime, message_id: str, reply: str) -> None:
        """Defer the mark to the next statement, which the worker issues right away."""
        self.flush()
        self.pending = {"delivery_id": delivery_id, "sent_at": sent_at,
                        "message_id": message_id, "reply": reply}

    def flush(self) -> None:
        """Commit a pending mark on its own."""
        if self.pending is not None:
            self.connection.exec_driver_sql(MARK_SQL, self.pending)
            self.pending = None

    def close(self) -> None:
        """Commit what is pending and hand the connection back."""
        try:
            self.flush()
        finally:
            self.connection.close()


def outbox_for(session: Session) -> CoreOutbox | PostgresOutbox:
    """The fast path on PostgreSQL, the portable one elsewhere."""
    engine = session.get_bind()
    if engine.dialect.name == "postgresql":
        return PostgresOutbox(engine)
    return CoreOutbox(session)
