"""Mailgun webhooks: failed (permanent or temporary), complained, unsubscribed.

Mailgun signs each request: `signature.signature` is HMAC-SHA256 with the webhook signing key
(NEWSLETTER_MAILGUN_SIGNING_KEY) over `signature.timestamp + signature.token`. Its advice is
followed: the timestamp must be recent, and a token is accepted once (ProviderNonce), so a
captured request sent again is refused even inside the time window.
Reference: https://documentation.mailgun.com/docs/mailgun/user-manual/tracking-messages/
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime, timedelta

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from newsletter.integrations.events import EventKind, Malformed, ProviderEvent, Refused
from newsletter.integrations.providers.common import Incoming, check_age, load_json
from newsletter.models import ProviderNonce

NAME = "mailgun"
KINDS = {"failed": EventKind.bounce, "complained": EventKind.complaint,
         "unsubscribed": EventKind.unsubscribe}


def enabled(config: Mapping) -> bool:
    """On when the webhook signing key is configured."""
    return bool(config.get("NEWSLETTER_MAILGUN_SIGNING_KEY"))


def events(session: Session, config: Mapping, incoming: Incoming, now: datetime
           ) -> list[ProviderEvent]:
    """Check the signature, its age and that its token is new, then read the one event."""
    try:
        body = load_json(incoming.body)
    except Malformed:
        raise Refused("Mailgun webhook: no signed JSON body") from None
    signature = body.get("signature") if isinstance(body, dict) else None
    if not isinstance(signature, dict):
        raise Refused("Mailgun webhook: no signature")
    verify(session, config, signature, now)
    data = body.get("event-data")
    if not isinstance(data, dict):
        raise Malformed("a Mailgun webhook carries an event-data object")
    return [parse(data)]


def verify(session: Session, config: Mapping, signature: dict, now: datetime) -> None:
    """Refused unless the HMAC matches, the timestamp is fresh and the token unused."""
    timestamp, token = str(signature.get("timestamp") or ""), str(signature.get("token") or "")
    given = str(signature.get("signature") or "")
    expected = hmac.new(config["NEWSLETTER_MAILGUN_SIGNING_KEY"].encode(),
                        (timestamp + token).encode(), hashlib.sha256).hexdigest()
    if not token or not timestamp.isdigit() or not hmac.compare_digest(expected, given):
        raise Refused("Mailgun webhook: bad signature")
    check_age(config, int(timestamp), now, "Mailgun webhook")
    _remember(session, config, token, now)


def _remember(session: Session, config: Mapping, token: str, now: datetime) -> None:
    # The first write of the request's transaction (as in inbound/handle.py): a token seen
    # before, even at this moment by another process, fails the unique key and is a replay.
    session.add(ProviderNonce(key=f"{NAME}:{token}"[:255], seen_at=now))
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        raise Refused("Mailgun webhook: this token was used before (a replay)") from None
    # Tokens older than twice the time window can no longer pass the age check: forget them.
    keep = 2 * float(config.get("NEWSLETTER_PROVIDER_MAX_AGE_SECONDS", 900))
    session.execute(delete(ProviderNonce).where(ProviderNonce.seen_at < now - timedelta(seconds=keep)))


def parse(data: dict) -> ProviderEvent:
    """One Mailgun event-data object as a ProviderEvent."""
    name = str(data.get("event") or "")
    status = data.get("delivery-status") if isinstance(data.get("delivery-status"), dict) else {}
    message = data.get("message") if isinstance(data.get("message"), dict) else {}
    headers = message.get("headers") if isinstance(message.get("headers"), dict) else {}
    envelope = data.get("envelope") if isinstance(data.get("envelope"), dict) else {}
    message_id = str(headers.get("message-id") or "").strip()
    code = status.get("code")
    return ProviderEvent(
        provider=NAME, event_id=str(data.get("id") or ""), kind=KINDS.get(name, EventKind.other),
        name=f"{name}/{data.get('severity') or ''}".strip("/"), raw=data,
        recipient=str(data.get("recipient") or ""),
        status=status.get("enhanced-code") or None,
        reply_code=code if isinstance(code, int) else None,
        diagnostic=str(status.get("message") or status.get("description") or ""),
        # A temporary failure is one Mailgun will retry (its "severity").
        action="delayed" if data.get("severity") == "temporary" else "failed",
        message_ids=[f"<{message_id.strip('<>')}>"] if message_id else [],
        carriers=[str(envelope.get("sender") or "")],
    )
