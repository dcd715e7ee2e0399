"""Leaving one list: the RFC 8058 one-click fast path of `subscriptions.unsubscribe()`.

Mailbox providers POST one-click unsubscribes in bulk and the answer must be quick. On
PostgreSQL the three steps of leaving a list (leave, record the withdrawal, mark the subscriber
unsubscribed when no list is left) are one statement, which also says whether any webhook
listens; elsewhere `unsubscribe()` itself runs.
tests/subscribers/test_subscriptions.py holds the two paths to the same rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from newsletter.integrations import webhooks
from newsletter.models import ConsentMethod, MailingList, Subscriber
from newsletter.subscribers.subscriptions import tell_webhooks_left, unsubscribe

# -- name: leave-list (PostgreSQL): the same three steps in one round trip. All parts of a statement
# see one snapshot, so "still on another list" must leave out the row this statement changes.
# Index use: uq_subscription_subscriber_list for the UPDATE, the primary keys for the rest.
_LEAVE_LIST_PG = text("""
WITH left_list AS (
    UPDATE subscription SET status = 'unsubscribed', unsubscribed_at = :now
    WHERE subscriber_id = :subscriber AND list_id = :list AND status <> 'unsubscribed'
    RETURNING list_id
), recorded AS (
    INSERT INTO consent_event (subscriber_id, purpose, granted, "at", method, ip, user_agent,
                               wording, policy_version_id)
    SELECT :subscriber, 'newsletter:' || m.slug, false, :now, :method, :ip, :user_agent, :wording,
           (SELECT p.id FROM policy_version p WHERE p.effective_at <= :now
            ORDER BY p.effective_at DESC, p.id DESC LIMIT 1)
    FROM left_list JOIN mailing_list m ON m.id = left_list.list_id
    RETURNING id
), left_everything AS (
    UPDATE subscriber SET status = 'unsubscribed', updated_at = :now
    WHERE id = :subscriber AND status IN ('active', 'pending')
      AND EXISTS (SELECT 1 FROM left_list)
      AND NOT EXISTS (SELECT 1 FROM subscription s WHERE s.subscriber_id = :subscriber
                      AND s.list_id <> :list AND s.status <> 'unsubscribed')
    RETURNING id
)
SELECT count(*) AS left_list,
       EXISTS (SELECT 1 FROM webhook WHERE enabled) AS webhook_listens
FROM recorded
""")


def leave_list(session: Session, subscriber_id: int, list_id: int, *, method: ConsentMethod,
               now: datetime, ip: str | None = None, user_agent: str | None = None,
               wording: str = "") -> bool:
    """Leave one list. True if the subscription changed.

    `unsubscribe()` is the definition. On PostgreSQL the same three steps (leave, record the
    withdrawal, mark the subscriber unsubscribed when no list is left) run as one statement
    without loading the subscriber; tests/subscribers/test_subscriptions.py holds the two paths
    to the same rows.
    """
    if session.get_bind().dialect.name == "postgresql":
        params = _leave_list_params(subscriber_id, list_id, method, now, ip, user_agent, wording)
        count, listens = session.execute(_LEAVE_LIST_PG, params).one()
        left = count > 0
        if left and listens:  # unsubscribe() tells the webhooks on the other path
            _tell_webhooks(session, subscriber_id, list_id, method, now)
        return left
    subscriber = session.get(Subscriber, subscriber_id)
    if subscriber is None:
        return False
    return bool(unsubscribe(session, subscriber, list_ids=[list_id], method=method, now=now,
                            ip=ip, user_agent=user_agent[:512] if user_agent else None,
                            wording=wording))


def leave_list_now(engine: Engine, subscriber_id: int, list_id: int, *, method: ConsentMethod,
                   now: datetime, ip: str | None = None, user_agent: str | None = None,
                   wording: str = "") -> bool:
    """leave_list() as a unit of work of its own: the RFC 8058 one-click hot path.

    Mailbox providers POST these in bulk and the answer must be quick. On PostgreSQL it is the
    one statement on an autocommit connection of `engine` (extensions.statement_engine), no ORM
    session; a connection found dropped is retried once (the statement is idempotent: a repeat
    finds nothing left to do). Elsewhere leave_list() in a session, committed.
    """
    if engine.dialect.name == "postgresql":
        params = _leave_list_params(subscriber_id, list_id, method, now, ip, user_agent, wording)
        for attempt in (1, 2):
            try:
                with engine.connect() as connection:
                    count, listens = connection.execute(_LEAVE_LIST_PG, params).one()
                    left = count > 0
                    if left and listens:
                        # Its own autocommitted statement after the leave: a crash in between
                        # loses this one event, never the unsubscribe.
                        with Session(bind=connection) as session:
                            _tell_webhooks(session, subscriber_id, list_id, method, now)
                            session.commit()
                    return left
            except DBAPIError as exc:
                if attempt == 2 or not exc.connection_invalidated:
                    raise
    with Session(engine) as session:
        changed = leave_list(session, subscriber_id, list_id, method=method, now=now, ip=ip,
                             user_agent=user_agent, wording=wording)
        session.commit()
        return changed


def _tell_webhooks(session: Session, subscriber_id: int, list_id: int, method: ConsentMethod,
                   now: datetime) -> None:
    webhooks.forget_listeners(session)  # the statement just saw one: no remembered "none"
    tell_webhooks_left(session, subscriber_id, None,
                       lambda: [session.get(MailingList, list_id).slug], method, now)


def _leave_list_params(subscriber_id: int, list_id: int, method: ConsentMethod, now: datetime,
                       ip: str | None, user_agent: str | None, wording: str) -> dict:
    return {"subscriber": subscriber_id, "list": list_id, "now": now, "method": method.value,
            "ip": ip, "user_agent": (user_agent or "")[:512] or None, "wording": wording}
