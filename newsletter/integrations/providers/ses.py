"""Amazon SES notifications through Amazon SNS: Bounce and Complaint (and the same as events).

SNS signs each message with a key whose certificate it names in SigningCertURL; the URL must
be an SNS host of amazonaws.com (NEWSLETTER_SES_SNS_URL, a pattern matched at the start of
the URL, so tests can trust a local server), the signature is checked with `cryptography`
over SNS's canonical string (SignatureVersion 1: SHA1, 2: SHA256), and the TopicArn must be one
we configured (NEWSLETTER_SES_TOPIC_ARNS): anybody can make an SNS topic and have Amazon sign
for it. A SubscriptionConfirmation is confirmed by fetching its SubscribeURL (same pattern).
References: https://docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html,
https://docs.aws.amazon.com/ses/latest/dg/notification-contents.html
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import urllib.request
from collections.abc import Callable, Mapping
from datetime import datetime

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy.orm import Session

from newsletter.integrations.events import (
    EventKind,
    Malformed,
    ProviderEvent,
    Refused,
    Unreachable,
)
from newsletter.integrations.providers.common import Incoming, check_age, load_json

NAME = "ses"
DEFAULT_SNS_URL = r"https://sns\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/"
# The fields SNS signs, in order (a field absent from the message is left out).
SIGNED_FIELDS = {
    "Notification": ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"),
    "SubscriptionConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                 "TopicArn", "Type"),
    "UnsubscribeConfirmation": ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token",
                                "TopicArn", "Type"),
}
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_MAX_BYTES = 64 * 1024
# Certificates by URL: SNS signs with one for months, so each is fetched once per process.
_certificates: dict[str, x509.Certificate] = {}

Fetch = Callable[[str], bytes]


def enabled(config: Mapping) -> bool:
    """On when at least one SNS topic is configured."""
    return bool(topics(config))


def topics(config: Mapping) -> set[str]:
    """The topic ARNs we accept (comma-separated setting)."""
    raw = config.get("NEWSLETTER_SES_TOPIC_ARNS") or ""
    return {arn.strip() for arn in raw.split(",") if arn.strip()}


def fetch(url: str) -> bytes:
    """GET a URL that passed the SNS pattern (certificate, subscription confirmation)."""
    with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - pattern-checked
        return response.read(CERT_MAX_BYTES)


def events(session: Session, config: Mapping, incoming: Incoming, now: datetime,
           fetch: Fetch = fetch) -> list[ProviderEvent]:
    """Verify the SNS message; confirm a subscription, or read the SES notification inside."""
    try:
        message = load_json(incoming.body)
    except Malformed:
        raise Refused("SNS: the body is not a signed JSON message") from None
    if not isinstance(message, dict):
        raise Refused("SNS: the body is not a signed JSON message")
    verify(config, message, now, fetch)
    kind = message["Type"]
    if kind == "SubscriptionConfirmation":
        try:
            fetch(_sns_url(config, str(message.get("SubscribeURL") or ""), "SubscribeURL"))
        except OSError as exc:  # urllib's HTTPError and URLError included
            raise Unreachable(f"SNS: confirming the subscription failed: {exc}") from None
        return []
    if kind != "Notification":
        return []
    try:
        notification = json.loads(message["Message"])
    except (ValueError, TypeError):
        raise Malformed("the SNS Message is not an SES notification") from None
    if not isinstance(notification, dict):
        raise Malformed("the SNS Message is not an SES notification")
    return parse(notification, str(message.get("MessageId") or ""))


def verify(config: Mapping, message: dict, now: datetime, fetch: Fetch) -> None:
    """Refused unless Amazon signed this message for one of our topics, recently."""
    kind = message.get("Type")
    if kind not in SIGNED_FIELDS:
        raise Refused("SNS: unknown message type")
    if message.get("TopicArn") not in topics(config):
        raise Refused("SNS: not one of the configured topics")
    algorithm = HASHES.get(str(message.get("SignatureVersion")))
    if algorithm is None:
        raise Refused("SNS: unknown SignatureVersion")
    url = _sns_url(config, str(message.get("SigningCertURL") or ""), "SigningCertURL")
    canonical = "".join(f"{name}\n{message[name]}\n" for name in SIGNED_FIELDS[kind]
                        if name in message)
    try:
        key = certificate(url, fetch, now).public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise Refused("SNS: the signing certificate has no RSA key")
        key.verify(base64.b64decode(str(message.get("Signature") or "")), canonical.encode(),
                   padding.PKCS1v15(), algorithm())
    except (InvalidSignature, binascii.Error, ValueError):
        raise Refused("SNS: bad signature") from None
    try:
        sent = datetime.fromisoformat(str(message.get("Timestamp")).replace("Z", "+00:00"))
    except ValueError:
        raise Refused("SNS: bad Timestamp") from None
    check_age(config, sent.timestamp(), now, "SNS message")


def _sns_url(config: Mapping, url: str, what: str) -> str:
    pattern = config.get("NEWSLETTER_SES_SNS_URL") or DEFAULT_SNS_URL
    if not re.match(pattern, url):
        raise Refused(f"SNS: {what} is not on an SNS host")
    return url


def certificate(url: str, fetch: Fetch, now: datetime) -> x509.Certificate:
    """The signing certificate at `url` (cached), refused when it is out of date."""
    cert = _certificates.get(url)
    if cert is None:
        try:
            cert = x509.load_pem_x509_certificate(fetch(url))
        except (OSError, ValueError) as exc:
            raise Refused(f"SNS: cannot load the signing certificate: {exc}") from None
        if len(_certificates) > 50:
            _certificates.clear()
        _certificates[url] = cert
    if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
        raise Refused("SNS: the signing certificate is not valid now")
    return cert


def parse(notification: dict, sns_message_id: str) -> list[ProviderEvent]:
    """The events of one SES notification (one per recipient it names)."""
    kind = notification.get("notificationType") or notification.get("eventType") or ""
    mail = notification.get("mail") if isinstance(notification.get("mail"), dict) else {}
    headers = mail.get("headers") if isinstance(mail.get("headers"), list) else []
    common = mail.get("commonHeaders") if isinstance(mail.get("commonHeaders"), dict) else {}
    message_ids = [str(common["messageId"])] if common.get("messageId") else []
    message_ids += [str(h.get("value")) for h in headers
                    if isinstance(h, dict) and str(h.get("name", "")).lower() == "message-id"]
    carriers = [str(mail.get("source") or "")] + [
        str(h.get("value")) for h in headers
        if isinstance(h, dict) and str(h.get("name", "")).lower() == "return-path"]

    def event(index: int, feedback_id: str, **fields) -> ProviderEvent:
        # One notification can name several recipients; each is its own event.
        event_id = (feedback_id or sns_message_id) + (f"#{index}" if index else "")
        return ProviderEvent(provider=NAME, event_id=event_id, message_ids=message_ids,
                             carriers=carriers, raw=notification, **fields)

    if kind == "Bounce":
        bounce = notification.get("bounce") or {}
        name = f"Bounce/{bounce.get('bounceType')}/{bounce.get('bounceSubType')}"
        return [event(i, str(bounce.get("feedbackId") or ""), kind=EventKind.bounce, name=name,
                      recipient=str(r.get("emailAddress") or ""), status=r.get("status") or None,
                      diagnostic=str(r.get("diagnosticCode") or ""),
                      action=str(r.get("action") or "failed"))
                for i, r in enumerate(bounce.get("bouncedRecipients") or [])]
    if kind == "Complaint":
        complaint = notification.get("complaint") or {}
        return [event(i, str(complaint.get("feedbackId") or ""), kind=EventKind.complaint,
                      name="Complaint", recipient=str(r.get("emailAddress") or ""),
                      feedback_type=complaint.get("complaintFeedbackType"))
                for i, r in enumerate(complaint.get("complainedRecipients") or [])]
    return [event(0, "", kind=EventKind.other, name=str(kind))]
