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
- a refusal is judged by subscribers/bounces.py, the same rule as a bounce in the reply mailbox:
  a hard bounce (5.1.1 "no such user") suppresses the address; faults that are not the
  recipient's (connection, 421, 5.1.8 our sender, X.3/X.4) retry with exponential backoff.
The process around a worker (its own database session, the run loop) is sending/process.py.
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

from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import links
from newsletter.models import (
    Campaign,
    CampaignStatus,
    DeliveryStatus,
    MailingList,
    Subscriber,
    campaign_lists,
    utcnow,
)
from newsletter.privacy import policy
from newsletter.sending import campaigns, compose, dispatch, eligibility
from newsletter.sending.dkim import signer_from_config
from newsletter.sending.ratelimit import SendRateLimiter
from newsletter.sending.store import ACTIVE, Claimed, Notice, PortableStore, store_for
from newsletter.sending.transport import Transport, TransportError
from newsletter.subscribers import bounces
from newsletter.subscribers.bounces import Decision

log = logging.getLogger(__name__)

IDLE_SECONDS = 2.0
MAX_ATTEMPTS = 8
# What a refusal means is decided in subscribers/bounces.py. A permanent refusal that is not the
# recipient's fault goes back to the queue when it names our sender (X.1.7, X.1.8), a system
# (X.3), the network (X.4) or the protocol (X.5), which heal; one about our message (X.6
# content, X.7 policy or reputation) or with no status at all fails the delivery.
REQUEUE_SUBJECTS = ("1.7", "1.8", "3.", "4.", "5.")


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
    # Policy-change notices (privacy/policy.py NoticeBlocks unless a test plugs in another).
    notice_hook: policy.NoticeBlocks | None = None
    limiter: SendRateLimiter | None = None
    _compiled: dict = field(default_factory=dict)
    _active: dict = field(default_factory=dict)
    _lists: dict = field(default_factory=dict)
    _purposes: dict = field(default_factory=dict)  # campaign id -> PurposeRule or None
    _welcome: dict = field(default_factory=dict)  # campaign id -> is a welcome message
    _waiting: dict = field(default_factory=dict)  # campaign id -> waiting for the server since
    _store: PortableStore | None = None

    def __post_init__(self):
        self.signer = signer_from_config(self.config, compose.SIGNED_HEADERS)
        self.lease = int(self.config.get("NEWSLETTER_LEASE_SECONDS", 120))
        self.batch_size = int(self.config.get("NEWSLETTER_BATCH_SIZE", 200))
        self.retry_base = float(self.config.get("NEWSLETTER_RETRY_BASE_SECONDS", 60))
        self.outage_pause_minutes = float(self.config.get("NEWSLETTER_OUTAGE_PAUSE_MINUTES", 60))
        # The longest pause between tries while the server is unreachable or refusing us.
        self.backoff_max = float(self.config.get("NEWSLETTER_OUTAGE_BACKOFF_SECONDS", 30))
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
                stop.wait(min(self.backoff_max, 0.5 * 2 ** self.connection_faults))
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
            block = self._notice(session, item.campaign_id, recipient, compiled)
            message = compiled.render(
                recipient, now, None if block is None else (lambda _recipient: block),
                links.delivery_message_id(self.config, item.campaign_id, item.subscriber_id))
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
        store = self.store(session)
        # The notice the message carried is recorded by the same commit as its "sent" mark.
        notice = None if block is None else Notice(item.subscriber_id,
                                                   recipient.notice_version_id, item.campaign_id)
        store.mark_sent(item.id, self.clock(), message.message_id, reply[:500], notice)
        if self._waiting.get(item.campaign_id):
            store.server_ok(item.campaign_id)
            self._waiting[item.campaign_id] = None
        return DeliveryStatus.sent

    def _failed(self, session: Session, item: Claimed, recipient: compose.Recipient,
                exc: TransportError) -> DeliveryStatus | None:
        """Apply the bounce policy (subscribers/bounces.py) to a refusal, then settle the row."""
        self.flush()
        reply = str(exc)[:500]
        if not exc.code or exc.stage not in ("rcpt", "data"):
            # No reply to this message at all (connection, greeting, TLS, AUTH, our MAIL FROM):
            # nobody's bounce, nothing to record against the recipient.
            return self._server_trouble(session, item, reply)
        status = bounces.smtp_status(exc.message)
        decision = bounces.decide(status, exc.code, exc.message, None)
        subscriber = session.get(Subscriber, item.subscriber_id)
        if subscriber is not None:
            bounces.record(session, subscriber, decision, source="smtp", status=status,
                           detail=reply, campaign_id=item.campaign_id, now=self.clock(),
                           config=self.config)
        if not exc.about_recipient:  # a 421 answering this message: the server's, not theirs
            return self._server_trouble(session, item, reply)
        if decision is Decision.hard:
            self._finish(session, item.id, DeliveryStatus.bounced, reply)
            return DeliveryStatus.bounced
        if decision is Decision.not_recipient and not (
                exc.permanent and not (status or "")[2:].startswith(REQUEUE_SUBJECTS)):
            # Not the recipient's fault (our sender, a system, the network): the row waits for
            # the cause to pass and never fails for it.
            return self._server_trouble(session, item, reply)
        store = self.store(session)
        attempts = store.attempts(item.id)
        if not exc.permanent and attempts < MAX_ATTEMPTS:  # 4.2.x: may recover
            store.retry(item.id, self.clock() + backoff(attempts, self.retry_base), reply)
            return None if exc.code == 0 else DeliveryStatus.queued
        # 5.2.x, 5.7.x policy, 5.6.x content, a 4.2.x that never recovered: no retry.
        self._finish(session, item.id, DeliveryStatus.failed, reply)
        return DeliveryStatus.failed

    def _server_trouble(self, session: Session, item: Claimed, reply: str) -> None:
        """A fault that is no recipient's (the server is down, refuses us, 421, TLS, AUTH,
        X.3/X.4, X.1.7/X.1.8): the row goes back without using up an attempt, the campaign says
        since when it is waiting, and pauses itself after NEWSLETTER_OUTAGE_PAUSE_MINUTES of
        nothing else. Returns None: the connection is given up and the batch released."""
        now = self.clock()
        store = self.store(session)
        store.retry(item.id, now, reply, count_attempt=False)
        since = store.server_trouble(item.campaign_id, reply, now)
        self._waiting[item.campaign_id] = since
        if since is not None and now - since >= timedelta(minutes=self.outage_pause_minutes):
            campaign = session.get(Campaign, item.campaign_id)
            if campaign is not None and campaign.status in ACTIVE:
                campaigns.pause(session, campaign, now, reason=(
                    f"paused by itself: the mail server has failed every try since "
                    f"{since:%Y-%m-%d %H:%M} UTC (last reply: {reply[:200]})"))
                session.commit()
                self._active.pop(item.campaign_id, None)
        self.transport.close()
        return None

    def _finish(self, session: Session, delivery_id: int, status: DeliveryStatus,
                reply: str) -> None:
        self.store(session).finish(delivery_id, status, reply)

    # --- checks and caches ----------------------------------------------------------------------

    def _recipient(self, session: Session, item: Claimed) -> compose.Recipient | None:
        """The subscriber as of now, or None if they must not get this message any more."""
        list_ids = self._list_ids(session, item.campaign_id)
        row = self.store(session).recipient(item.subscriber_id, list_ids,
                                            self._purposes[item.campaign_id])
        if row is None or eligibility.suppressed_without_hash(session, self.key, row.email,
                                                              row.email_hash):
            return None
        return compose.Recipient(item.subscriber_id, row.email, row.name, row.attributes,
                                 row.token_version, row.list_id, row.notice_version_id,
                                 row.language)

    def _notice(self, session: Session, campaign_id: int, recipient: compose.Recipient,
                compiled: compose.CompiledCampaign) -> compose.NoticeBlock | None:
        """The policy notice block this recipient's copy carries, if they owe one, in the
        language of the copy's footer. A welcome message is not "the next newsletter": it
        carries none."""
        if recipient.notice_version_id is None or self._welcome.get(campaign_id, True):
            return None
        if self.notice_hook is None:
            self.notice_hook = policy.NoticeBlocks(self.config, session)
        return self.notice_hook(recipient, compiled.language_for(recipient))

    def _list_ids(self, session: Session, campaign_id: int) -> list[int]:
        if campaign_id not in self._lists:
            ids = set(session.scalars(select(campaign_lists.c.list_id).where(
                campaign_lists.c.campaign_id == campaign_id)))
            ids |= set(session.scalars(select(MailingList.id).where(
                MailingList.welcome_campaign_id == campaign_id)))
            self._lists[campaign_id] = sorted(ids)
            # A campaign for a purpose: consent to it is part of eligibility (never edited).
            self._purposes[campaign_id] = dispatch.purpose_rule(session, session.scalar(
                select(Campaign.purpose_id).where(Campaign.id == campaign_id)))
        return self._lists[campaign_id]

    def _campaign(self, session: Session, campaign_id: int, list_id: int) -> compose.CompiledCampaign:
        cached = self._compiled.get((campaign_id, list_id))
        if cached is not None and time.monotonic() - cached[1] < 60:
            return cached[0]
        campaign = session.get(Campaign, campaign_id)
        self._welcome[campaign_id] = campaign.status is CampaignStatus.welcome
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
        status, waiting_since = self.store(session).campaign_state(campaign_id)
        active = status in ACTIVE
        self._active[campaign_id] = (active, time.monotonic())
        self._waiting[campaign_id] = waiting_since
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


