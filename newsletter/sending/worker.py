"""The outbox: delivery workers claim batches of Delivery rows, send them, mark them sent.

A worker sees storage only through the statements below and the network only through a
`Transport` (STYLE.md example 11). The promises of DESIGN.md section 6 live here:
- a Delivery is marked sent in a commit issued right after the SMTP server accepted it (on
  PostgreSQL in the same statement as the next recipient's check, see outbox.py), so a killed
  worker re-sends at most the message that was in flight on its connection;
- a claimed batch carries a lease (claimed_by/claimed_until); rows of a dead worker become
  claimable again when the lease runs out, and a live worker renews its lease as it goes;
- each recipient is checked again (status, list, suppression) right before its message is built,
  so an unsubscribe that committed before that moment is honoured;
- a refusal is judged by subscribers/bounces.py, the same rule as a bounce in the reply mailbox:
  a hard bounce (5.1.1 "no such user") suppresses the address; faults that are not the
  recipient's (connection, 421, 5.1.8 our sender, X.3/X.4) retry with exponential backoff.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import Flask
from sqlalchemy import create_engine, event, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from newsletter.extensions import db
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    MailingList,
    Subscriber,
    SubscriberStatus,
    campaign_lists,
    utcnow,
)
from newsletter.sending import campaigns, compose, mailer
from newsletter.sending.dkim import signer_from_config
from newsletter.sending.pipelining import campaign_transport
from newsletter.sending.ratelimit import SendRateLimiter
from newsletter.sending.store import CoreOutbox, PostgresOutbox, outbox_for
from newsletter.sending.transport import Transport, TransportError
from newsletter.subscribers import bounces, suppression
from newsletter.subscribers.bounces import Decision

log = logging.getLogger(__name__)

IDLE_SECONDS = 2.0
MAX_ATTEMPTS = 8
ACTIVE = (CampaignStatus.sending, CampaignStatus.welcome)
# What a refusal means is decided in subscribers/bounces.py. A permanent refusal that is not the
# recipient's fault goes back to the queue when it names our sender (X.1.7, X.1.8), a system
# (X.3), the network (X.4) or the protocol (X.5), which heal; one about our message (X.6
# content, X.7 policy or reputation) or with no status at all fails the delivery.
REQUEUE_SUBJECTS = ("1.7", "1.8", "3.", "4.", "5.")


@dataclass(frozen=True)
class Claimed:
    """A delivery this worker holds under its lease."""

    id: int
    campaign_id: int
    subscriber_id: int


def worker_name() -> str:
    """host:pid:random, unique per worker process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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


def backoff(attempts: int, base: float) -> timedelta:
    """Exponential: base, 2*base, 4*base ... capped at six hours."""
    return timedelta(seconds=min(base * 2 ** max(0, attempts - 1), 6 * 3600))


@dataclass
class DeliveryWorker:
    """One worker's state: its name, transport, signer, rate limiter and compiled campaigns."""

    config: Mapping
    transport: Transport
    name: str = field(default_factory=worker_name)
    clock: Callable[[], datetime] = utcnow
    notice_hook: compose.NoticeHook | None = None  # policy-change notices plug in here
    limiter: SendRateLimiter | None = None
    _compiled: dict = field(default_factory=dict)
    _active: dict = field(default_factory=dict)
    _lists: dict = field(default_factory=dict)
    _outbox: CoreOutbox | PostgresOutbox | None = None

    def __post_init__(self):
        self.signer = signer_from_config(self.config, compose.SIGNED_HEADERS)
        self.lease = int(self.config.get("NEWSLETTER_LEASE_SECONDS", 120))
        self.batch_size = int(self.config.get("NEWSLETTER_BATCH_SIZE", 200))
        self.retry_base = float(self.config.get("NEWSLETTER_RETRY_BASE_SECONDS", 60))
        self.key = self.config["NEWSLETTER_SUPPRESSION_KEY"]
        if self.limiter is None:
            self.limiter = SendRateLimiter(self.config.get("NEWSLETTER_SEND_RATE_PER_SECOND", 0),
                                           self.config.get("NEWSLETTER_SEND_RATE_PER_HOUR", 0))
        self.connection_faults = 0
        self.last_claimed = 0

    # --- one pass -------------------------------------------------------------------------------

    def run_once(self, session: Session, stop: threading.Event | None = None) -> int:
        """Reclaim dead leases, claim one batch and send it; returns how many were sent."""
        stop = stop or threading.Event()
        reclaim_expired(session, self.clock())
        claimed = claim_batch(session, self.name, self.clock(), self.lease, self.batch_size)
        self.last_claimed = len(claimed)
        return self.send_batch(session, claimed, stop)

    def send_batch(self, session: Session, claimed: list[Claimed], stop: threading.Event) -> int:
        """Send each claimed delivery in order; unsent rows go back to the queue on stop/pause."""
        sent = 0
        renew_at = self.clock() + timedelta(seconds=self.lease / 2)
        for index, item in enumerate(claimed):
            now = self.clock()
            if now >= renew_at:
                self._renew(session, now)
                renew_at = now + timedelta(seconds=self.lease / 2)
            if stop.is_set() or not self._campaign_active(session, item.campaign_id, now):
                self._release(session, [c for c in claimed[index:]
                                        if c.campaign_id == item.campaign_id or stop.is_set()])
                if stop.is_set():
                    break
                continue
            if not self._wait_for_permit(session, stop):
                self._release(session, claimed[index:])
                break
            outcome = self._deliver(session, item)
            sent += outcome == DeliveryStatus.sent
            if outcome is None:  # the connection is gone: give the rest back and pause a moment
                self._release(session, claimed[index + 1:])
                stop.wait(min(30.0, 0.5 * 2 ** self.connection_faults))
                self.connection_faults += 1
                break
            self.connection_faults = 0
        self.flush()
        return sent

    def outbox(self, session: Session) -> CoreOutbox | PostgresOutbox:
        """The per-message statements (one round trip per message on PostgreSQL)."""
        if self._outbox is None:
            self._outbox = outbox_for(session)
        return self._outbox

    def flush(self) -> None:
        """Commit a deferred "sent" mark now (see outbox.py)."""
        if self._outbox is not None:
            self._outbox.flush()

    def close(self) -> None:
        """Flush and release the outbox connection."""
        if self._outbox is not None:
            self._outbox.close()
            self._outbox = None

    # --- one message ----------------------------------------------------------------------------

    def _deliver(self, session: Session, item: Claimed) -> DeliveryStatus | None:
        recipient = self._recipient(session, item)
        if recipient is None:
            self._finish(session, item.id, DeliveryStatus.skipped, "recipient no longer eligible")
            return DeliveryStatus.skipped
        now = self.clock()
        try:
            compiled = self._campaign(session, item.campaign_id, recipient.list_id)
            message = compiled.render(recipient, now, self.notice_hook)
        except Exception as exc:  # noqa: BLE001 - a template fault fails one delivery, not all
            log.exception("delivery %s: cannot render", item.id)
            self._finish(session, item.id, DeliveryStatus.failed, f"render error: {exc}")
            return DeliveryStatus.failed
        raw = self.signer.sign(message.raw) if self.signer is not None else message.raw
        try:
            reply = self.transport.send(message.envelope_from, message.recipient, raw)
        except TransportError as exc:
            return self._failed(session, item, recipient, exc)
        self.outbox(session).mark_sent(item.id, self.clock(), message.message_id, reply[:500])
        return DeliveryStatus.sent

    def _failed(self, session: Session, item: Claimed, recipient: compose.Recipient,
                exc: TransportError) -> DeliveryStatus | None:
        """Apply the bounce policy (subscribers/bounces.py) to a refusal, then settle the row."""
        self.flush()
        reply = str(exc)[:500]
        status = bounces.smtp_status(exc.message)
        decision = bounces.decide(status, exc.code or None, exc.message, None)
        subscriber = session.get(Subscriber, item.subscriber_id)
        if exc.code and subscriber is not None:  # a connection fault is nobody's bounce
            bounces.record(session, subscriber, decision, source="smtp", status=status,
                           detail=reply, campaign_id=item.campaign_id, now=self.clock(),
                           config=self.config)
        if decision is Decision.hard:
            self._finish(session, item.id, DeliveryStatus.bounced, reply)
            return DeliveryStatus.bounced
        requeue = decision is Decision.not_recipient and not (
            exc.permanent and not (status or "")[2:].startswith(REQUEUE_SUBJECTS))
        # Not the recipient's fault (our sender, a system, the network): the row waits for the
        # cause to pass and never fails for it, so such tries are not held to MAX_ATTEMPTS.
        attempts = session.scalar(select(Delivery.attempts).where(Delivery.id == item.id)) or 1
        if requeue or (not exc.permanent and attempts < MAX_ATTEMPTS):  # 4.2.x: may recover
            session.execute(update(Delivery).where(Delivery.id == item.id).values(
                status=DeliveryStatus.queued, claimed_by=None, claimed_until=None,
                smtp_response=reply,
                next_attempt_at=self.clock() + backoff(attempts, self.retry_base)))
            session.commit()
            return None if exc.code == 0 else DeliveryStatus.queued
        # 5.2.x, 5.7.x policy, 5.6.x content, a 4.2.x that never recovered: no retry.
        self._finish(session, item.id, DeliveryStatus.failed, reply)
        return DeliveryStatus.failed

    def _finish(self, session: Session, delivery_id: int, status: DeliveryStatus,
                reply: str) -> None:
        self.flush()
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            status=status, smtp_response=reply, claimed_until=None))
        session.commit()

    # --- checks and caches ----------------------------------------------------------------------

    def _recipient(self, session: Session, item: Claimed) -> compose.Recipient | None:
        """The subscriber as of now, or None if they must not get this message any more."""
        list_ids = self._list_ids(session, item.campaign_id)
        row = self.outbox(session).recipient(item.subscriber_id, list_ids)
        status = getattr(row, "status", None)
        status = getattr(status, "value", status)  # an Enum through the ORM, text through SQL
        if row is None or status != SubscriberStatus.active.value or row.list_id is None:
            return None
        if row.suppressed or (row.email_hash is None
                              and suppression.is_suppressed(session, self.key, row.email)):
            return None
        return compose.Recipient(item.subscriber_id, row.email, row.name or "",
                                 row.attributes or {}, row.token_version, row.list_id)

    def _list_ids(self, session: Session, campaign_id: int) -> list[int]:
        if campaign_id not in self._lists:
            ids = set(session.scalars(select(campaign_lists.c.list_id).where(
                campaign_lists.c.campaign_id == campaign_id)))
            ids |= set(session.scalars(select(MailingList.id).where(
                MailingList.welcome_campaign_id == campaign_id)))
            self._lists[campaign_id] = sorted(ids)
        return self._lists[campaign_id]

    def _campaign(self, session: Session, campaign_id: int, list_id: int) -> compose.CompiledCampaign:
        cached = self._compiled.get((campaign_id, list_id))
        if cached is not None and time.monotonic() - cached[1] < 60:
            return cached[0]
        campaign = session.get(Campaign, campaign_id)
        mailing_list = session.get(MailingList, list_id)
        compiled = compose.compile_campaign(campaigns.content_for(campaign, mailing_list),
                                            self.config)
        self._compiled[(campaign_id, list_id)] = (compiled, time.monotonic())
        return compiled

    def _campaign_active(self, session: Session, campaign_id: int, now: datetime) -> bool:
        # Read at most once a second per campaign: a pause is honoured within about a second.
        cached = self._active.get(campaign_id)
        if cached is not None and time.monotonic() - cached[1] < 1.0:
            return cached[0]
        self.flush()
        status = session.scalar(select(Campaign.status).where(Campaign.id == campaign_id))
        active = status in ACTIVE
        self._active[campaign_id] = (active, time.monotonic())
        return active

    def _wait_for_permit(self, session: Session, stop: threading.Event) -> bool:
        if self.limiter.unlimited:
            return True
        self.flush()
        while True:
            wait = self.limiter.acquire(session, self.clock())
            if not wait:
                return True
            if stop.wait(wait):
                return False
            self._renew(session, self.clock())  # a long wait must not let our lease run out

    def _release(self, session: Session, items: list[Claimed]) -> None:
        self.flush()
        if not items:
            return
        session.execute(update(Delivery).where(
            Delivery.id.in_([c.id for c in items]), Delivery.claimed_by == self.name,
            Delivery.status == DeliveryStatus.sending,
        ).values(status=DeliveryStatus.queued, claimed_by=None, claimed_until=None,
                 attempts=Delivery.attempts - 1))
        session.commit()

    def _renew(self, session: Session, now: datetime) -> None:
        self.flush()
        session.execute(update(Delivery).where(
            Delivery.claimed_by == self.name, Delivery.status == DeliveryStatus.sending,
        ).values(claimed_until=now + timedelta(seconds=self.lease)))
        session.commit()


def _worker_session(app: Flask) -> Session:
    """The worker's own session; on PostgreSQL its commits do not wait for the WAL flush.

    synchronous_commit=off: a commit returns before the WAL reaches disk. A crash of the
    *worker* loses nothing (the server has the commit); a crash of the *database server* may
    forget the last fraction of a second of "sent" marks, and those messages are sent again.
    That keeps DESIGN.md's promise (at most the in-flight messages are repeated) at the cost of
    a few more in the rare server crash, and it is what lets a worker mark each message sent in
    its own commit at full SMTP speed.
    """
    url = db.engine.url
    if url.get_backend_name() == "postgresql":
        engine = create_engine(url, pool_size=1, pool_pre_ping=True,
                               connect_args={"options": "-c synchronous_commit=off"})
        return Session(engine)
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        # SQLite's answer to the same trade-off: WAL with synchronous=NORMAL commits without an
        # fsync (durable against a crash of any process, not against power loss), and readers
        # (the web app) no longer block the worker's writes. WAL is a property of the file, so
        # every process profits once a worker has started.
        engine = create_engine(url, connect_args={"timeout": 30})
        event.listen(engine, "connect", _sqlite_pragmas)
        return Session(engine)
    return Session(db.engine)


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _reset_after_database_error(session: Session, worker: DeliveryWorker) -> None:
    try:
        session.rollback()
    except SQLAlchemyError:
        pass
    try:
        worker.close()
    except SQLAlchemyError:
        worker._outbox = None


def run_worker(app: Flask, stop: threading.Event, once: bool = False) -> int:
    """Send until `stop` is set (or until nothing is due with `once`); returns how many were sent."""
    total = 0
    with app.app_context():
        transport = campaign_transport(app.config)
        session = _worker_session(app)
        worker = DeliveryWorker(app.config, transport)
        try:
            while not stop.is_set():
                try:
                    sent = mailer.send_queued(session, transport, utcnow())
                    sent += worker.run_once(session, stop)
                    if not worker.last_claimed:  # idle: close campaigns with an empty outbox
                        campaigns.finish_sent(session, utcnow())
                except SQLAlchemyError:
                    if once:
                        raise
                    # The database went away (restart, failover): what this worker held comes
                    # back when its lease ends; start over with fresh connections.
                    log.exception("delivery worker: database error; retrying")
                    _reset_after_database_error(session, worker)
                    stop.wait(IDLE_SECONDS)
                    continue
                total += sent
                if once and not sent and not worker.last_claimed:
                    break
                if not sent and not worker.last_claimed:
                    stop.wait(IDLE_SECONDS)
        finally:
            worker.close()
            transport.close()
            session.close()
            if session.bind is not db.engine:
                session.bind.dispose()
            db.session.remove()
    return total

