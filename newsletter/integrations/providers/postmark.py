"""Postmark: bounce, spam complaint and subscription-change webhooks.

Postmark does not sign its webhooks; it offers HTTP basic auth in the webhook URL and any
URL we choose, so we accept either a secret path segment (`/hooks/postmark/<secret>`,
NEWSLETTER_POSTMARK_SECRET) or basic auth (NEWSLETTER_POSTMARK_USER and _PASSWORD). There is
no timestamp to check: a replay is harmless because the event's ID is recorded once.
Payload reference: https://postmarkapp.com/developer/webhooks/bounce-webhook
"""

from __future__ import annotations

import hmac
import json
import re
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from newsletter.integrations.events import EventKind, Malformed, ProviderEvent, Refused
from newsletter.integrations.providers.common import Incoming, load_json

NAME = "postmark"
# Bounce types that are still being retried (Postmark "Transient": message delayed).
DELAYED_TYPES = ("Transient",)
COMPLAINT_TYPES = ("SpamComplaint", "SpamNotification")
MESSAGE_ID_HEADER = re.compile(r"^Message-ID:\s*(<[^>\r\n]+>)", re.IGNORECASE | re.MULTILINE)


def enabled(config: Mapping) -> bool:
    """On when a URL secret or a basic-auth pair is configured."""
    return bool(config.get("NEWSLETTER_POSTMARK_SECRET") or (
        config.get("NEWSLETTER_POSTMARK_USER") and config.get("NEWSLETTER_POSTMARK_PASSWORD")))


def events(session: Session, config: Mapping, incoming: Incoming, now: datetime
           ) -> list[ProviderEvent]:
    """Check the secret or basic auth, then read the one record Postmark sends per request."""
    verify(config, incoming)
    record = load_json(incoming.body)
    if not isinstance(record, dict):
        raise Malformed("a Postmark webhook body is one JSON object")
    return [parse(record)]


def verify(config: Mapping, incoming: Incoming) -> None:
    """Refused unless the URL secret or the basic-auth pair matches."""
    secret = config.get("NEWSLETTER_POSTMARK_SECRET") or ""
    if secret and incoming.url_secret and hmac.compare_digest(
            incoming.url_secret.encode(), secret.encode()):
        return
    user = config.get("NEWSLETTER_POSTMARK_USER") or ""
    password = config.get("NEWSLETTER_POSTMARK_PASSWORD") or ""
    if user and password and incoming.username is not None and incoming.password is not None:
        same_user = hmac.compare_digest(incoming.username.encode(), user.encode())
        same_password = hmac.compare_digest(incoming.password.encode(), password.encode())
        if same_user and same_password:
            return
    raise Refused("Postmark webhook: wrong or missing secret")


def parse(record: dict) -> ProviderEvent:
    """One Postmark record as a ProviderEvent."""
    record_type = str(record.get("RecordType") or "")
    bounce_type = str(record.get("Type") or "")
    content = str(record.get("Content") or "")
    event = ProviderEvent(
        provider=NAME, event_id=str(record.get("ID") or ""), kind=EventKind.other,
        name=f"{record_type}/{bounce_type}".strip("/"), raw=record,
        recipient=str(record.get("Email") or record.get("Recipient") or ""),
        diagnostic=str(record.get("Details") or record.get("Description") or ""),
        message_ids=MESSAGE_ID_HEADER.findall(content),
        # Metadata (X-PM-Metadata-* headers) and the returned message may carry our VERP token.
        carriers=[content, json.dumps(record.get("Metadata") or {})],
    )
    if record_type == "SpamComplaint" or bounce_type in COMPLAINT_TYPES:
        event.kind = EventKind.complaint
    elif record_type == "Bounce":
        event.kind = EventKind.bounce
        event.action = "delayed" if bounce_type in DELAYED_TYPES else "failed"
    elif record_type == "SubscriptionChange" and record.get("SuppressSending") and \
            record.get("SuppressionReason") == "ManualSuppression":
        # The recipient used Postmark's unsubscribe link (a bounce or complaint comes as its own
        # record, so only the manual change is a person's wish).
        event.kind = EventKind.unsubscribe
        event.event_id = f"{record.get('MessageID')}/{record.get('ChangedAt')}"
    return event
