"""Outgoing event webhooks: registration, the queue, signing, and the guard on where we POST.

`emit()` is called once where each event happens (subscriptions.py, confirmation via
`activate()`, bounces.py, inbound/handle.py, privacy/erasure.py, sending/campaigns.py) and writes
one WebhookDelivery per interested webhook in the caller's transaction: an event is queued if
and only if its change commits. `send_due()` (scheduler job `webhooks`) POSTs them after the
commit, retries with backoff and keeps the last answer, like OutboundMail.

Each request carries `X-Newsletter-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of
"<t>.<body>" with the webhook's secret>`; `verify_signature()` is what a receiver does.
Only http(s) URLs whose every address is public are used (no server-side request forgery):
the name is resolved once per attempt, checked, and the connection goes to that checked
address, so a DNS answer that changes between check and connect cannot point us inward.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import http.client
import ipaddress
import json
import secrets
import socket
import ssl
import time
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from newsletter.models import Webhook, WebhookDelivery
from newsletter.privacy import audit

SIGNATURE_HEADER = "X-Newsletter-Signature"
MAX_ATTEMPTS = 10  # about a day and a half with the default base of 30 s doubling
RESPONSE_LIMIT = 500  # characters of a receiver's answer kept for the admin page
# Most installations register no webhook, and subscribe and one-click are budgeted in SQL
# statements (issue 12): whether any webhook is enabled is remembered per engine this long. A
# webhook registered by another process may so miss up to this many seconds of events; in this
# process register() and remove() forget the answer at once.
LISTENERS_TTL = 5.0
_any_enabled: weakref.WeakKeyDictionary[Engine, float] = weakref.WeakKeyDictionary()
TIMEOUT_SECONDS = 10
LEASE = timedelta(minutes=5)  # a claimed row is someone's for this long (a crash gives it back)


class Event(enum.StrEnum):
    """What a webhook can hear about; an admin picks any of them."""

    subscribed = "subscribed"  # a subscription was created (pending, or active without opt-in)
    confirmed = "confirmed"  # a subscription became active
    unsubscribed = "unsubscribed"  # the person left one or more lists
    bounced = "bounced"  # a counted bounce (bounces.record)
    complained = "complained"  # a spam complaint: unsubscribed from everything
    erasure_done = "erasure_done"  # carries only the keyed hash of the address
    campaign_finished = "campaign_finished"  # a campaign's outbox is empty: sent


class WebhookError(Exception):
    """A webhook cannot be registered or reached as given; the message says why."""


@dataclass(frozen=True)
class Registered:
    """A new webhook and its secret (shown once)."""

    webhook: Webhook
    secret: str


# --- registration --------------------------------------------------------------------------


def register(session: Session, *, url: str, events: list[str], actor: str, now: datetime,
             config: Mapping, secret: str | None = None) -> Registered:
    """Add a webhook for the chosen events, audited; the secret is generated unless given."""
    url = (url or "").strip()
    if not url.isprintable() or " " in url:
        raise WebhookError("the URL must not hold spaces or control characters")
    # Checked now for a clear answer to the admin, and again before every POST (DNS changes).
    check_url(url, allow_private=bool(config.get("NEWSLETTER_WEBHOOK_ALLOW_PRIVATE")))
    chosen = sorted({e.strip() for e in events if e.strip()})
    unknown = [e for e in chosen if e not in Event.__members__]
    if unknown:
        raise WebhookError(f"unknown event(s): {', '.join(unknown)}; choose from "
                           + ", ".join(Event))
    if not chosen:
        raise WebhookError("choose at least one event")
    secret = secret or secrets.token_urlsafe(32)
    if len(url) > 2000:
        raise WebhookError("the URL is longer than 2000 characters")
    if len(secret) < 16 or len(secret) > 200:
        raise WebhookError("the secret must have 16 to 200 characters")
    if not secret.isprintable():
        raise WebhookError("the secret must not hold control characters")
    webhook = Webhook(url=url, secret=secret, events=chosen, enabled=True, created_at=now,
                      created_by=actor[:254])
    session.add(webhook)
    session.flush()
    audit.record(session, actor=actor, action="webhook.register", subject_type="webhook",
                 subject_id=webhook.id, now=now, detail={"url": url, "events": chosen})
    forget_listeners(session)
    return Registered(webhook, secret)


def remove(session: Session, webhook_id: int, *, actor: str, now: datetime) -> bool:
    """Delete a webhook and its queue, audited; True if it existed."""
    webhook = session.get(Webhook, webhook_id)
    if webhook is None:
        return False
    session.execute(WebhookDelivery.__table__.delete().where(
        WebhookDelivery.webhook_id == webhook_id))
    session.delete(webhook)
    audit.record(session, actor=actor, action="webhook.remove", subject_type="webhook",
                 subject_id=webhook_id, now=now)
    forget_listeners(session)
    return True


def forget_listeners(session: Session) -> None:
    """Look again, at the next emit(), whether any webhook is enabled."""
    _any_enabled.pop(session.get_bind().engine, None)


def _none_listening(session: Session) -> bool:
    """True when no webhook was enabled at our last look, less than LISTENERS_TTL ago."""
    engine = session.get_bind().engine
    checked = _any_enabled.get(engine)
    if checked is not None and time.monotonic() - checked < LISTENERS_TTL:
        return True
    if session.scalar(select(Webhook.id).where(Webhook.enabled).limit(1)) is None:
        _any_enabled[engine] = time.monotonic()
        return True
    _any_enabled.pop(engine, None)
    return False


# --- emitting ------------------------------------------------------------------------------


def emit(session: Session, event: Event, payload: dict | Callable[[], dict],
         now: datetime) -> int:
    """Queue `event` for every enabled webhook that chose it, in the caller's transaction.

    `payload` may be a function, so callers on hot paths build it only when someone listens.
    Returns how many deliveries were queued.
    """
    if _none_listening(session):
        return 0
    hooks = session.execute(select(Webhook.id, Webhook.events).where(Webhook.enabled)).all()
    targets = [hook_id for hook_id, events in hooks if event.value in (events or [])]
    if not targets:
        return 0
    data = payload() if callable(payload) else payload
    body = json.dumps({"id": str(uuid.uuid4()), "event": event.value,
                       "occurred_at": now.isoformat(), "data": data},
                      sort_keys=True, separators=(",", ":"), default=str,
                      ensure_ascii=False)  # an address stays findable (erasure searches for it)
    session.add_all([WebhookDelivery(webhook_id=hook_id, event=event.value, payload=body,
                                     status="queued", attempts=0, next_attempt_at=now,
                                     created_at=now) for hook_id in targets])
    return len(targets)


# --- signing -------------------------------------------------------------------------------


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The signature header value for one request.

    >>> sign("s" * 16, b"{}", 1700000000)[:16]
    't=1700000000,v1='
    """
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify_signature(secret: str, header: str, body: bytes, now: datetime,
                     tolerance_seconds: int = 300) -> bool:
    """What a receiver checks: our HMAC over the timestamp and body, and a fresh timestamp."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now.timestamp() - timestamp) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, body, timestamp), header.strip())


# --- where we may POST -----------------------------------------------------------------------


def check_url(url: str, *, allow_private: bool, resolve: bool = True) -> list[str]:
    """Refuse a URL that is not http(s) or resolves to a non-public address; its addresses."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookError("the URL must start with http:// or https:// and name a host")
    if parts.username or parts.password:
        raise WebhookError("the URL must not carry a user name or password")
    if not resolve:
        return []
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        infos = socket.getaddrinfo(parts.hostname, port, proto=socket.IPPROTO_TCP)
    except (OSError, ValueError) as exc:
        raise WebhookError(f"cannot resolve {parts.hostname}: {exc}") from None
    addresses = sorted({info[4][0] for info in infos})
    if not allow_private:
        for address in addresses:
            if not _public(address):
                raise WebhookError(f"{parts.hostname} resolves to {address}, which is not a "
                                   "public address (NEWSLETTER_WEBHOOK_ALLOW_PRIVATE allows it)")
    return addresses


def _public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
        ip = ip.ipv4_mapped
    return not (ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast
                or ip.is_reserved or ip.is_unspecified or not ip.is_global)


class _PinnedHTTP(http.client.HTTPConnection):
    """Connects to the address that passed the check, whatever DNS says now."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """As _PinnedHTTP, with TLS verified against the host name."""

    def __init__(self, host: str, port: int | None, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def post(url: str, body: bytes, headers: dict[str, str], *, allow_private: bool) -> tuple[int, str]:
    """POST once (no redirects followed); (HTTP status, start of the answer)."""
    address = check_url(url, allow_private=allow_private)[0]
    parts = urlsplit(url)
    kind = _PinnedHTTPS if parts.scheme == "https" else _PinnedHTTP
    connection = kind(parts.hostname, parts.port, address, TIMEOUT_SECONDS)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    try:
        connection.request("POST", path, body=body, headers=headers)
        response = connection.getresponse()
        return response.status, response.read(RESPONSE_LIMIT).decode("utf-8", "replace")
    finally:
        connection.close()


# --- sending the queue -----------------------------------------------------------------------


def send_due(session: Session, config: Mapping, now: datetime, limit: int = 50) -> int:
    """POST due queued deliveries, committing after each; how many a receiver accepted (2xx)."""
    rows = session.scalars(
        select(WebhookDelivery)
        .where(WebhookDelivery.status == "queued", WebhookDelivery.next_attempt_at <= now)
        .order_by(WebhookDelivery.next_attempt_at, WebhookDelivery.id).limit(limit)).all()
    base = float(config.get("NEWSLETTER_WEBHOOK_RETRY_SECONDS", 30))
    allow_private = bool(config.get("NEWSLETTER_WEBHOOK_ALLOW_PRIVATE"))
    accepted = 0
    for row in rows:
        # Claim by moving next_attempt_at on (a conditional UPDATE): a second sender skips the
        # row, and a sender that dies mid-POST gives it back when the lease ends.
        claimed = session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == row.id, WebhookDelivery.status == "queued",
                   WebhookDelivery.next_attempt_at == row.next_attempt_at)
            .values(next_attempt_at=now + LEASE)
            .execution_options(synchronize_session=False)).rowcount
        session.commit()
        if not claimed:
            continue
        session.refresh(row)
        webhook = session.get(Webhook, row.webhook_id)
        row.attempts += 1
        body = row.payload.encode()
        try:
            status, answer = post(webhook.url, body, {
                "Content-Type": "application/json", "User-Agent": "newsletter-webhooks",
                "X-Newsletter-Event": row.event, "X-Newsletter-Delivery": str(row.id),
                SIGNATURE_HEADER: sign(webhook.secret, body, int(now.timestamp())),
            }, allow_private=allow_private)
        except (OSError, http.client.HTTPException, WebhookError) as exc:
            status, answer = None, f"{type(exc).__name__}: {exc}"
        row.last_status, row.last_response = status, answer[:RESPONSE_LIMIT]
        if status is not None and 200 <= status < 300:
            row.status, row.sent_at = "sent", now
            accepted += 1
        elif row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        else:
            row.next_attempt_at = now + timedelta(seconds=base * 2 ** (row.attempts - 1))
        session.commit()
    return accepted


def recent(session: Session, limit: int = 50,
           webhook_id: int | None = None) -> list[WebhookDelivery]:
    """The latest deliveries (of one webhook, or of all), newest first: the delivery log."""
    statement = select(WebhookDelivery)
    if webhook_id is not None:
        statement = statement.where(WebhookDelivery.webhook_id == webhook_id)
    return list(session.scalars(statement.order_by(WebhookDelivery.id.desc()).limit(limit)))
