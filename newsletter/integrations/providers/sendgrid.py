"""SendGrid (Twilio) signed event webhook: bounce, blocked, deferred, spamreport, unsubscribe.

SendGrid signs `timestamp + body` with ECDSA (P-256, SHA-256) and sends the signature and the
timestamp in X-Twilio-Email-Event-Webhook-Signature / -Timestamp; the public key is shown in
its settings (NEWSLETTER_SENDGRID_PUBLIC_KEY, base64 DER as shown, or PEM). The body is a JSON
array of events, each with `sg_event_id`, and `smtp-id`: the Message-ID of our mail.
Reference: https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/event
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy.orm import Session

from newsletter.integrations.events import EventKind, Malformed, ProviderEvent, Refused
from newsletter.integrations.providers.common import Incoming, check_age, load_json

NAME = "sendgrid"
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
KINDS = {
    "bounce": EventKind.bounce,  # type "bounce" or "blocked": the receiving server refused
    "deferred": EventKind.bounce,  # still retrying: judged as delayed
    "spamreport": EventKind.complaint,
    "unsubscribe": EventKind.unsubscribe,
    "group_unsubscribe": EventKind.unsubscribe,
}


def enabled(config: Mapping) -> bool:
    """On when the verification key is configured."""
    return bool(config.get("NEWSLETTER_SENDGRID_PUBLIC_KEY"))


def events(session: Session, config: Mapping, incoming: Incoming, now: datetime
           ) -> list[ProviderEvent]:
    """Check the signature and its timestamp, then read the events."""
    verify(config, incoming, now)
    batch = load_json(incoming.body)
    if not isinstance(batch, list) or not all(isinstance(item, dict) for item in batch):
        raise Malformed("a SendGrid event body is a JSON array of objects")
    return [parse(item) for item in batch]


def public_key(text: str) -> ec.EllipticCurvePublicKey:
    """The configured key: PEM, or the bare base64 DER SendGrid shows."""
    text = text.strip()
    if text.startswith("-----"):
        key = serialization.load_pem_public_key(text.encode())
    else:
        key = serialization.load_der_public_key(base64.b64decode(text))
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("NEWSLETTER_SENDGRID_PUBLIC_KEY is not an elliptic-curve key")
    return key


def verify(config: Mapping, incoming: Incoming, now: datetime) -> None:
    """Refused unless SendGrid's key signed this timestamp and body, and the time is fresh."""
    signature = incoming.headers.get(SIGNATURE_HEADER) or ""
    timestamp = incoming.headers.get(TIMESTAMP_HEADER) or ""
    if not signature or not timestamp.isdigit():
        raise Refused("SendGrid webhook: signature or timestamp missing")
    try:
        public_key(config["NEWSLETTER_SENDGRID_PUBLIC_KEY"]).verify(
            base64.b64decode(signature), timestamp.encode() + incoming.body,
            ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("SendGrid webhook: bad signature") from None
    check_age(config, int(timestamp), now, "SendGrid webhook")


def parse(item: dict) -> ProviderEvent:
    """One SendGrid event as a ProviderEvent."""
    name = str(item.get("event") or "")
    smtp_id = str(item.get("smtp-id") or "")
    event = ProviderEvent(
        provider=NAME, event_id=str(item.get("sg_event_id") or ""),
        kind=KINDS.get(name, EventKind.other), name=f"{name}/{item.get('type') or ''}".strip("/"),
        recipient=str(item.get("email") or ""), status=item.get("status") or None,
        diagnostic=str(item.get("reason") or item.get("response") or ""),
        action="delayed" if name == "deferred" else "failed",
        message_ids=[smtp_id] if smtp_id else [], raw=item,
    )
    return event
