"""Test keys and signers for each sending service, the recorded sample payloads, a local HTTP
server (the SNS certificate; an outgoing-webhook receiver) and a snapshot of what a request may
change."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import NameOID
from sqlalchemy import func, select

from newsletter import links
from newsletter.extensions import db
from newsletter.models import (
    BounceEvent,
    ConsentEvent,
    InboundMessage,
    Subscriber,
    Subscription,
    Suppression,
)

DATA = Path(__file__).resolve().parent.parent / "data" / "integrations"
TOPIC = "arn:aws:sns:eu-west-1:123456789012:ses-feedback"
MAILGUN_KEY = "key-3ax6xnjp29jd6fds4gc373sgvjxteol0"


def sample(name: str, **values: str) -> str:
    """A recorded payload with {{NAME}} placeholders filled in."""
    text = (DATA / name).read_text()
    for key, value in values.items():
        text = text.replace("{{" + key + "}}", value)
    return text


def about(config, subscriber_id: int, campaign_id: int, email: str) -> dict[str, str]:
    """The placeholders for a copy of `campaign_id` sent to the subscriber."""
    message_id = links.delivery_message_id(config, campaign_id, subscriber_id)
    return {"EMAIL": email, "MESSAGE_ID": message_id, "MESSAGE_ID_BARE": message_id.strip("<>"),
            "VERP": links.bounce_address(config, subscriber_id, campaign_id)}


# --- a small HTTP server in a thread ---------------------------------------------------------


@dataclass
class Served:
    """What the local server answers and what it was sent."""

    files: dict[str, bytes] = field(default_factory=dict)  # GET path -> body
    status: int = 200  # answer to POST
    requests: list[tuple[str, str, dict, bytes]] = field(default_factory=list)
    port: int = 0
    server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def posts(self) -> list[tuple[dict, bytes]]:
        return [(h, b) for method, _p, h, b in self.requests if method == "POST"]


def serve(state: Served) -> Served:
    """Start a server for `state` on a free loopback port (stop with `stop`)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's naming
            state.requests.append(("GET", self.path, dict(self.headers), b""))
            body = state.files.get(self.path.split("?")[0])
            self.send_response(200 if body is not None else 404)
            self.end_headers()
            self.wfile.write(body or b"")

        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            state.requests.append(("POST", self.path, dict(self.headers), body))
            self.send_response(state.status)
            self.end_headers()
            self.wfile.write(b"ok" if state.status < 300 else b"try later")

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", state.port), Handler)
    state.port, state.server = server.server_address[1], server
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return state


def stop(state: Served) -> None:
    if state.server is not None:
        state.server.shutdown()
        state.server.server_close()
        state.server = None


# --- Amazon SNS ------------------------------------------------------------------------------


@dataclass
class SnsSigner:
    """A test signing key and its self-signed certificate, as SNS would publish it."""

    key: rsa.RSAPrivateKey
    pem: bytes

    @classmethod
    def new(cls) -> SnsSigner:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.amazonaws.com")])
        now = datetime.now(UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(x509.random_serial_number())
                .not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=30))
                .sign(key, hashes.SHA256()))
        return cls(key, cert.public_bytes(serialization.Encoding.PEM))

    def message(self, cert_url: str, notification: str | None = None, *, kind="Notification",
                timestamp: datetime | None = None, version: str = "2", topic: str = TOPIC,
                message_id: str | None = None, subscribe_url: str = "") -> dict:
        """A signed SNS message carrying `notification` (the SES JSON)."""
        message = {
            "Type": kind, "MessageId": message_id or secrets.token_hex(16), "TopicArn": topic,
            "Message": notification if notification is not None else "You have chosen to subscribe",
            "Timestamp": (timestamp or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "SignatureVersion": version, "SigningCertURL": cert_url,
        }
        if kind != "Notification":
            message.update({"Token": "2336412f37fb687f5d51e6e241d09c805a5a57b30d712f79",
                            "SubscribeURL": subscribe_url})
        fields = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type") \
            if kind == "Notification" else ("Message", "MessageId", "SubscribeURL", "Timestamp",
                                            "Token", "TopicArn", "Type")
        canonical = "".join(f"{f}\n{message[f]}\n" for f in fields if f in message)
        algorithm = hashes.SHA256() if version == "2" else hashes.SHA1()  # noqa: S303 - SNS v1
        message["Signature"] = base64.b64encode(
            self.key.sign(canonical.encode(), padding.PKCS1v15(), algorithm)).decode()
        return message


# --- SendGrid --------------------------------------------------------------------------------


@dataclass
class SendGridSigner:
    """A test P-256 key; `public` is the base64 DER SendGrid shows in its settings."""

    key: ec.EllipticCurvePrivateKey
    public: str

    @classmethod
    def new(cls) -> SendGridSigner:
        key = ec.generate_private_key(ec.SECP256R1())
        der = key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
        return cls(key, base64.b64encode(der).decode())

    def headers(self, body: bytes, timestamp: int | None = None) -> dict[str, str]:
        stamp = str(timestamp if timestamp is not None else int(datetime.now(UTC).timestamp()))
        signature = self.key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {"X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
                "X-Twilio-Email-Event-Webhook-Timestamp": stamp}


# --- Mailgun ---------------------------------------------------------------------------------


def mailgun_body(name: str, values: dict[str, str], *, key: str = MAILGUN_KEY,
                 timestamp: int | None = None, token: str | None = None) -> bytes:
    """A Mailgun sample signed with `key`."""
    stamp = str(timestamp if timestamp is not None else int(datetime.now(UTC).timestamp()))
    token = token or secrets.token_hex(25)
    signature = hmac.new(key.encode(), (stamp + token).encode(), hashlib.sha256).hexdigest()
    return sample(name, TIMESTAMP=stamp, TOKEN=token, SIGNATURE=signature, **values).encode()


# --- what a request may change ---------------------------------------------------------------


def snapshot(app) -> dict:
    """Every row a provider event could add or change."""
    with app.app_context():
        session = db.session
        counts = {model.__tablename__: session.scalar(select(func.count()).select_from(model))
                  for model in (InboundMessage, BounceEvent, Suppression, ConsentEvent)}
        counts["subscribers"] = sorted(
            (s.id, s.status.value, s.bounce_score) for s in session.scalars(select(Subscriber)))
        counts["subscriptions"] = sorted(
            (s.subscriber_id, s.list_id, s.status.value) for s in session.scalars(select(Subscription)))
        db.session.remove()
        return counts


def post_json(client, url: str, body: bytes | str, headers: dict | None = None, **kwargs):
    data = body.encode() if isinstance(body, str) else body
    return client.post(url, data=data, headers={"Content-Type": "application/json",
                                                **(headers or {})}, **kwargs)


def dumps(value) -> str:
    return json.dumps(value)
