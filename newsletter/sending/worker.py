"""The delivery worker: claims batches of Delivery rows, sends them, marks them sent.

A worker sees storage only through a `DeliveryStore` (sending/store.py) and the network only
through a `Transport` (STYLE.md example 11). The promises of DESIGN.md section 6 live here:
- a Delivery is marked sent in a commit issued right after the SMTP server accepted it (on
  PostgreSQL in the same statement as the next recipient's check, see store.py), so a killed
  worker re-sends at most the message that was in flight on its connection;
- a claimed batch carries a lease (claimed_by/claimed_until); rows of a dead worker become
  claimable again when the lease runs out, and a live worker renews its lease as it goes;
- each recipient is checked again (sending/eligibility.py) right before its message is built,
  so an unsubscribe that committed before that moment is honoured;
- 4xx replies and connection faults retry with exponential backoff; 5xx fails; 5.1.x ("no such
  user") also suppresses the address; 5.7.x (policy, reputation) suppresses nobody.
The process around a worker (its own database session, the run loop) is sending/process.py.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from newsletter.models import (
    Campaign,
    DeliveryStatus,
    MailingList,
    Subscriber,
    SubscriberStatus,
    SuppressionReason,
    campaign_lists,
    utcnow,
)
from newsletter.sending import campaigns, compose, eligibility
from newsletter.sending.dkim import signer_from_config
from newsletter.sending.ratelimit import SendRateLimiter
from newsletter.sending.store import ACTIVE, Claimed, PortableStore, store_for
from newsletter.sending.transport import Transport, TransportError
from newsletter.subscribers import suppression

log = logging.getLogger(__name__)

IDLE_SECONDS = 2.0
MAX_ATTEMPTS = 8
# RFC 3463 enhanced status codes: 5.1.x is a bad destination mailbox (the address is dead);
# 5.7.x is a policy or reputation refusal (the address is fine, our mail was not).
HARD_BOUNCE = re.compile(r"^\s*5\.1\.\d")
UNKNOWN_USER = re.compile(r"user unknown|unknown user|no such user|does not exist", re.I)


def worker_name() -> str:
    """host:pid:random, unique per worker process."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


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
    _store: PortableStore | None = None

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
        store = self.store(session)
        store.reclaim_expired(self.clock())
        claimed = store.claim(self.name, self.clock(), self.lease, self.batch_size)
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

    def store(self, session: Session) -> PortableStore:
        """The delivery store (one round trip per message on PostgreSQL)."""
        if self._store is None:
            self._store = store_for(session)
        return self._store

    def flush(self) -> None:
        """Commit a deferred "sent" mark now (see store.py)."""
        if self._store is not None:
            self._store.flush()

    def close(self) -> None:
        """Flush and release the store's connection."""
        if self._store is not None:
            self._store.close()
            self._store = None

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
        except compose.TemplateLimitError as exc:  # a runaway template: this recipient only
            log.warning("delivery %s: template limit: %s", item.id, exc)
            self._finish(session, item.id, DeliveryStatus.failed, f"render error: {exc}"[:500])
            return DeliveryStatus.failed
        except Exception as exc:  # noqa: BLE001 - a template fault fails one delivery, not all
            log.exception("delivery %s: cannot render", item.id)
            self._finish(session, item.id, DeliveryStatus.failed, f"render error: {exc}"[:500])
            return DeliveryStatus.failed
        raw = self.signer.sign(message.raw) if self.signer is not None else message.raw
        try:
            reply = self.transport.send(message.envelope_from, message.recipient, raw)
        except TransportError as exc:
            return self._failed(session, item, recipient, exc)
        self.store(session).mark_sent(item.id, self.clock(), message.message_id, reply[:500])
        return DeliveryStatus.sent

    def _failed(self, session: Session, item: Claimed, recipient: compose.Recipient,
                exc: TransportError) -> DeliveryStatus | None:
        self.flush()
        reply = str(exc)[:500]
        store = self.store(session)
        attempts = store.attempts(item.id)
        if not exc.permanent:
            if attempts >= MAX_ATTEMPTS:
                self._finish(session, item.id, DeliveryStatus.failed, reply)
                return DeliveryStatus.failed
            store.retry(item.id, self.clock() + backoff(attempts, self.retry_base), reply)
            return None if exc.code == 0 else DeliveryStatus.queued
        if HARD_BOUNCE.match(exc.message) or (exc.code == 550 and UNKNOWN_USER.search(exc.message)):
            now = self.clock()
            suppression.suppress(session, self.key, recipient.email, SuppressionReason.bounce, now,
                                 note=reply)
            session.execute(update(Subscriber).where(Subscriber.id == item.subscriber_id)
                            .values(status=SubscriberStatus.bounced))
            self._finish(session, item.id, DeliveryStatus.bounced, reply)
            return DeliveryStatus.bounced
        self._finish(session, item.id, DeliveryStatus.failed, reply)
        return DeliveryStatus.failed

    def _finish(self, session: Session, delivery_id: int, status: DeliveryStatus,
                reply: str) -> None:
        self.store(session).finish(delivery_id, status, reply)

    # --- checks and caches ----------------------------------------------------------------------

    def _recipient(self, session: Session, item: Claimed) -> compose.Recipient | None:
        """The subscriber as of now, or None if they must not get this message any more."""
        list_ids = self._list_ids(session, item.campaign_id)
        row = self.store(session).recipient(item.subscriber_id, list_ids)
        if row is None or eligibility.suppressed_without_hash(session, self.key, row.email,
                                                              row.email_hash):
            return None
        return compose.Recipient(item.subscriber_id, row.email, row.name, row.attributes,
                                 row.token_version, row.list_id)

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
        active = self.store(session).campaign_status(campaign_id) in ACTIVE
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
        self.store(session).release(self.name, [c.id for c in items])

    def _renew(self, session: Session, now: datetime) -> None:
        self.store(session).renew(self.name, now + timedelta(seconds=self.lease))


