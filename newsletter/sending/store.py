"""The delivery store: everything the send loop asks of the database, behind one narrow interface
(STYLE.md example 11, after listmonk's `Store`).

claim -> recipient (eligibility check) -> mark_sent | finish | retry -> release / renew / reclaim.

`PortableStore` runs each step through the worker's session (any database). `PostgresStore` is
the same but for the two steps that happen once per message: the "sent" mark of the message the
server just accepted rides in a data-modifying CTE on the eligibility check of the next
recipient, one autocommitted statement issued right after the send returns. That is one round
trip per message instead of six (BEGIN, SELECT, UPDATE, COMMIT ...), which is most of the
difference between a few hundred and a few thousand messages per second. Whenever the worker is
about to do anything else (wait for a rate permit, give a batch back, handle a failure) the
store commits a pending mark on its own first. Both return the same types.

Policy-change notices (privacy/policy.py) ride along: the eligibility check also reads the
latest policy version the recipient still owes a notice of, and when the message carried the
notice block the "sent" mark completes that owed PolicyNotice row in the same commit (on
PostgreSQL a second CTE of the same statement). A crash between the SMTP reply and the mark
leaves both the delivery and the notice unmarked: the message, notice included, is sent once
more, and the notice is never lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import psycopg as psycopg_driver
from psycopg.rows import namedtuple_row
from sqlalchemy import bindparam, func, literal_column, select, update
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    PolicyNotice,
    Subscriber,
)
from newsletter.privacy.consent import PurposeRule
from newsletter.sending import eligibility

# Campaigns whose deliveries workers send.
ACTIVE = (CampaignStatus.sending, CampaignStatus.welcome)


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds under its lease."""

    id: int
    campaign_id: int
    subscriber_id: int


@dataclass(frozen=True)
class Eligible:
    """A recipient who may receive the message now, as the store read them."""

    email: str
    name: str
    attributes: dict
    token_version: int
    email_hash: str | None
    list_id: int
    notice_version_id: int | None = None  # the latest policy version they owe a notice of
    language: str | None = None  # their own; None: the list's


@dataclass(frozen=True)
class Notice:
    """The policy notice a sent message carried: completes the subscriber's owed rows."""

    subscriber_id: int
    version_id: int
    campaign_id: int


def _eligible(row) -> Eligible | None:
    if row is None:
        return None
    return Eligible(row.email, row.name or "", row.attributes or {}, row.token_version,
                    row.email_hash, row.list_id, row.notice_version_id, row.language)


# A probe of the partial index ix_policy_notice_owed (rows still owed only), so it costs next to
# nothing while nobody owes a notice.
OWED_NOTICE = (select(func.max(PolicyNotice.policy_version_id))
               .where(PolicyNotice.subscriber_id == Subscriber.id,
                      PolicyNotice.delivered_at.is_(None))
               .scalar_subquery().label("notice_version_id"))


def mark_sent_statement(param=bindparam):
    """UPDATE delivery -> sent. Parameter names carry a p_ prefix: an UPDATE executed with a
    parameter named like one of its columns (message_id, sent_at ...) would SET that column
    too, also inside the CTE of PostgresStore."""
    return (
        update(Delivery).where(Delivery.id == param("p_delivery_id")).values(
            status=DeliveryStatus.sent, sent_at=param("p_sent_at"),
            message_id=param("p_message_id"), smtp_response=param("p_reply"), claimed_until=None)
        .execution_options(synchronize_session=False)
    )


# Built once: constructing a statement per message costs about as much as running it.
MARK_SENT = mark_sent_statement()


def _placeholder(name: str):
    return literal_column(f"%({name})s")


def driver_sql(statement) -> str:
    """The statement as psycopg SQL text, compiled once: constants (list ids, status names)
    inlined as literals, our p_* placeholders left for the driver. Running text through
    exec_driver_sql skips SQLAlchemy's per-execution parameter and result processing, which cost
    as much as the round trip at thousands of messages per second. The literals are integers and
    enum names, never text with a percent sign, so un-doubling %% is exact."""
    compiled = statement.compile(dialect=psycopg.dialect(), compile_kwargs={"literal_binds": True})
    return str(compiled).replace("%%", "%")


def mark_notice_statement(param=bindparam):
    """Completes what a newsletter told: every version owed up to the one its block named.
    "Still owed" in the WHERE makes it a no-op when the deadline sweeper got there first."""
    return (
        update(PolicyNotice).where(
            PolicyNotice.subscriber_id == param("p_notice_subscriber"),
            PolicyNotice.policy_version_id <= param("p_notice_version"),
            PolicyNotice.delivered_at.is_(None),
        ).values(how="newsletter", campaign_id=param("p_notice_campaign"),
                 delivered_at=param("p_sent_at"))
        .execution_options(synchronize_session=False)
    )


MARK_NOTICE = mark_notice_statement()
MARK_SENT_SQL = driver_sql(mark_sent_statement(_placeholder))
# Both marks as one statement, for a pending mark committed on its own (PostgresStore.flush).
MARK_SENT_AND_NOTICE_SQL = driver_sql(
    select(literal_column("1")).add_cte(mark_sent_statement(_placeholder).cte("marked"))
    .add_cte(mark_notice_statement(_placeholder).cte("noticed")))


def _params(delivery_id: int, sent_at: datetime, message_id: str, reply: str,
            notice: Notice | None) -> dict:
    params = {"p_delivery_id": delivery_id, "p_sent_at": sent_at, "p_message_id": message_id,
              "p_reply": reply}
    if notice is not None:
        params.update(p_notice_subscriber=notice.subscriber_id,
                      p_notice_version=notice.version_id, p_notice_campaign=notice.campaign_id)
    return params


class PortableStore:
    """Every step through the worker's session: one statement and one commit each."""

    def __init__(self, session: Session):
        self.session = session
        self._queries: dict[tuple, object] = {}

    # --- batches ----------------------------------------------------------------------------

    def reclaim_expired(self, now: datetime) -> int:
        """Rows whose worker died (lease over) become queued again."""
        self.flush()
        return reclaim_expired(self.session, now)

    def claim(self, worker: str, now: datetime, lease_seconds: int, limit: int) -> list[Claimed]:
        """Claim up to `limit` due deliveries under a lease (see `claim_batch`)."""
        self.flush()
        return claim_batch(self.session, worker, now, lease_seconds, limit)

    def release(self, worker: str, ids: Sequence[int]) -> None:
        """Give claimed rows back unsent; the attempt they were claimed for does not count."""
        self.flush()
        if ids:
            self.session.execute(update(Delivery).where(
                Delivery.id.in_(list(ids)), Delivery.claimed_by == worker,
                Delivery.status == DeliveryStatus.sending,
            ).values(status=DeliveryStatus.queued, claimed_by=None, claimed_until=None,
                     attempts=Delivery.attempts - 1))
            self.session.commit()

    def renew(self, worker: str, until: datetime) -> None:
        """Extend this worker's lease on everything it holds."""
        self.flush()
        self.session.execute(update(Delivery).where(
            Delivery.claimed_by == worker, Delivery.status == DeliveryStatus.sending,
        ).values(claimed_until=until))
        self.session.commit()

    # --- one message ------------------------------------------------------------------------

    def recipient(self, subscriber_id: int, list_ids: Sequence[int],
                  purpose: PurposeRule | None = None) -> Eligible | None:
        """The recipient as of now if still eligible (sending/eligibility.py), else None."""
        row = self.session.execute(self._query(list_ids, purpose),
                                   {"p_subscriber": subscriber_id}).first()
        return _eligible(row)

    def mark_sent(self, delivery_id: int, sent_at: datetime, message_id: str, reply: str,
                  notice: Notice | None = None) -> None:
        """The server accepted the message: mark it (and the notice it carried) in one commit."""
        params = _params(delivery_id, sent_at, message_id, reply, notice)
        self.session.execute(MARK_SENT, params)
        if notice is not None:
            self.session.execute(MARK_NOTICE, params)
        self.session.commit()

    def finish(self, delivery_id: int, status: DeliveryStatus, reply: str) -> None:
        """A final state other than sent: failed, bounced or skipped."""
        self.flush()
        self.session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            status=status, smtp_response=reply, claimed_until=None))
        self.session.commit()

    def retry(self, delivery_id: int, at: datetime, reply: str, *, count_attempt: bool = True) -> None:
        """Back to the queue, due at `at`. A fault that is not about this recipient (the server
        is down, refuses our sender) does not use up one of the recipient's attempts."""
        self.flush()
        values = dict(status=DeliveryStatus.queued, claimed_by=None, claimed_until=None,
                      smtp_response=reply, next_attempt_at=at)
        if not count_attempt:
            values["attempts"] = Delivery.attempts - 1
        # Only a row still in flight: a campaign cancelled meanwhile has skipped it for good.
        self.session.execute(update(Delivery).where(
            Delivery.id == delivery_id, Delivery.status == DeliveryStatus.sending).values(**values))
        self.session.commit()

    def attempts(self, delivery_id: int) -> int:
        """How many times this delivery has been claimed for sending."""
        self.flush()
        return self.session.scalar(select(Delivery.attempts).where(Delivery.id == delivery_id)) or 1

    def campaign_state(self, campaign_id: int) -> tuple[CampaignStatus | None, datetime | None]:
        """The campaign's status now (a pause or cancel stops the loop) and since when it has
        been waiting for the mail server (None: it is not)."""
        self.flush()
        row = self.session.execute(select(Campaign.status, Campaign.waiting_since)
                                   .where(Campaign.id == campaign_id)).first()
        return (row.status, row.waiting_since) if row else (None, None)

    def server_trouble(self, campaign_id: int, reply: str, now: datetime) -> datetime:
        """Note a fault that is not about any recipient; returns since when the campaign has
        seen nothing else (the first such fault after the last accepted message)."""
        self.flush()
        self.session.execute(update(Campaign).where(Campaign.id == campaign_id).values(
            waiting_since=func.coalesce(Campaign.waiting_since, now), waiting_reply=reply[:500]))
        self.session.commit()
        return self.session.scalar(select(Campaign.waiting_since).where(Campaign.id == campaign_id))

    def server_ok(self, campaign_id: int) -> None:
        """The server accepted a message again: the campaign is no longer waiting."""
        self.flush()
        self.session.execute(update(Campaign).where(
            Campaign.id == campaign_id, Campaign.waiting_since.is_not(None),
        ).values(waiting_since=None, waiting_reply=None))
        self.session.commit()

    def flush(self) -> None:
        """Nothing is ever pending here."""

    def close(self) -> None:
        """Nothing to close."""

    def _query(self, list_ids: Sequence[int], purpose: PurposeRule | None):
        key = (tuple(list_ids), purpose)
        if key not in self._queries:
            self._queries[key] = eligibility.recipient_query(
                key[0], purpose=purpose).add_columns(OWED_NOTICE)
        return self._queries[key]


class PostgresStore(PortableStore):
    """One autocommitted statement per message (see the module docstring)."""

    def __init__(self, session: Session):
        super().__init__(session)
        self.connection = session.get_bind().connect().execution_options(
            isolation_level="AUTOCOMMIT")
        # The psycopg connection under it: the per-message statement goes straight to the
        # driver, prepared, rows as named tuples. SQLAlchemy's execution context around each
        # call cost a third as much as the round trip itself.
        self.driver = self.connection.connection.driver_connection
        self.pending: dict | None = None
        self._marking: dict[tuple, str] = {}

    def recipient(self, subscriber_id: int, list_ids: Sequence[int],
                  purpose: PurposeRule | None = None) -> Eligible | None:
        """Check the next recipient, committing the pending "sent" mark in the same statement."""
        params = {"p_subscriber": subscriber_id}
        told = None
        if self.pending is None:
            sql = self._driver_sql(list_ids, None, purpose)
        else:
            params.update(self.pending)
            sql = self._driver_sql(list_ids, "p_notice_subscriber" in self.pending, purpose)
            if self.pending.get("p_notice_subscriber") == subscriber_id:
                told = self.pending["p_notice_version"]
        row = self._run(sql, params).fetchone()
        self.pending = None
        eligible = _eligible(row)
        if eligible is not None and told is not None and \
                (eligible.notice_version_id or 0) <= told:
            # The same subscriber again (another campaign in the batch): the statement's
            # snapshot cannot see the notice its own CTE just completed.
            eligible = replace(eligible, notice_version_id=None)
        return eligible

    def mark_sent(self, delivery_id: int, sent_at: datetime, message_id: str, reply: str,
                  notice: Notice | None = None) -> None:
        """Defer the mark to the next statement, which the worker issues right away."""
        self.flush()
        self.pending = _params(delivery_id, sent_at, message_id, reply, notice)

    def flush(self) -> None:
        """Commit a pending mark on its own (one statement, with its notice if any)."""
        if self.pending is not None:
            pending, self.pending = self.pending, None
            notice = "p_notice_subscriber" in pending
            self._run(MARK_SENT_AND_NOTICE_SQL if notice else MARK_SENT_SQL, pending)

    def close(self) -> None:
        """Commit what is pending and hand the connection back."""
        try:
            self.flush()
        finally:
            self.connection.close()

    def _run(self, sql: str, params: dict):
        """One autocommitted statement on the driver; its errors surface as SQLAlchemy's, which
        the worker process treats as "the database went away" (sending/process.py)."""
        try:
            return self.driver.cursor(row_factory=namedtuple_row).execute(sql, params,
                                                                           prepare=True)
        except psycopg_driver.Error as exc:
            self.connection.invalidate(exc)
            raise DBAPIError.instance(sql, params, exc, psycopg_driver.Error) from exc

    def _driver_sql(self, list_ids: Sequence[int], notice: bool | None,
                    purpose: PurposeRule | None = None) -> str:
        """The check for these lists (eligibility.py, plus the owed policy notice) as driver SQL;
        with `notice` not None, the pending sent mark (and its notice) ride as CTEs."""
        key = (tuple(list_ids), notice, purpose)
        if key not in self._marking:
            # A purpose's slug and country codes become literals here: both are checked to be
            # [a-z0-9-] and two capital letters (privacy/purposes.py), never a percent sign.
            statement = eligibility.recipient_query(key[0], _placeholder("p_subscriber"),
                                                    purpose).add_columns(OWED_NOTICE)
            if notice is not None:
                statement = statement.add_cte(mark_sent_statement(_placeholder).cte("marked"))
            if notice:
                statement = statement.add_cte(mark_notice_statement(_placeholder).cte("noticed"))
            self._marking[key] = driver_sql(statement)
        return self._marking[key]


def store_for(session: Session) -> PortableStore:
    """The fast path on PostgreSQL, the portable one elsewhere."""
    if session.get_bind().dialect.name == "postgresql":
        return PostgresStore(session)
    return PortableStore(session)


# --- the set-based statements behind claim and reclaim ----------------------------------------


def reclaim_expired(session: Session, now: datetime) -> int:
    """Rows whose worker died (lease over) become queued again."""
    count = session.execute(update(Delivery).where(
        Delivery.status == DeliveryStatus.sending, Delivery.claimed_until < now,
    ).values(status=DeliveryStatus.queued, claimed_by=None, claimed_until=None,
             next_attempt_at=now)).rowcount
    session.commit()
    return count or 0


def claim_batch(session: Session, worker: str, now: datetime, lease_seconds: int,
                limit: int) -> list[Claimed]:
    """Claim up to `limit` due deliveries under a lease: welcome messages first (they must not
    wait behind a million-recipient campaign), then campaigns oldest first."""
    active = session.execute(
        select(Campaign.id, Campaign.status).where(Campaign.status.in_(ACTIVE))).all()
    order = sorted(active, key=lambda row: (row.status is not CampaignStatus.welcome, row.id))
    claimed: list[Claimed] = []
    for campaign_id, _status in order:
        if len(claimed) >= limit:
            break
        claimed += _claim(session, worker, now, lease_seconds, limit - len(claimed), campaign_id)
    return claimed


def _claim(session: Session, worker: str, now: datetime, lease_seconds: int, limit: int,
           campaign_id: int) -> list[Claimed]:
    # The inner SELECT is a range scan of ix_delivery_campaign_status (campaign_id, status,
    # next_attempt_at, id) in index order that stops after `limit` rows. On PostgreSQL,
    # FOR UPDATE SKIP LOCKED lets concurrent workers take disjoint batches without waiting on
    # each other; SQLite serialises writers, so the UPDATE alone is atomic and the lease columns
    # are what keeps a batch to one worker.
    due = (
        select(Delivery.id)
        .where(Delivery.campaign_id == campaign_id, Delivery.status == DeliveryStatus.queued,
               Delivery.next_attempt_at <= now)
        .order_by(Delivery.next_attempt_at, Delivery.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        due = due.with_for_update(of=Delivery, skip_locked=True)
    # MATERIALIZED: the LIMIT must be evaluated once. Inlined as `id IN (subquery)`, PostgreSQL
    # may re-run the subquery and claim more than `limit` rows.
    due = due.cte("due").prefix_with("MATERIALIZED")
    statement = (
        update(Delivery)
        .where(Delivery.id == due.c.id, Delivery.status == DeliveryStatus.queued)
        .values(status=DeliveryStatus.sending, claimed_by=worker,
                claimed_until=now + timedelta(seconds=lease_seconds),
                attempts=Delivery.attempts + 1)
        .returning(Delivery.id, Delivery.campaign_id, Delivery.subscriber_id)
        .execution_options(synchronize_session=False)
    )
    rows = session.execute(statement).all()
    session.commit()
    return [Claimed(*row) for row in rows]
