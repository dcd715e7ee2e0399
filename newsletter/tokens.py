"""Every signed token the service hands out (itsdangerous).

Each purpose has its own salt, so a token signed for one purpose is refused for another (a confirm
token cannot unsubscribe). Tokens carry a format version so the shape can change later.

- unsubscribe: subscriber + list, never expires and is never revoked: a link in any message ever
  sent keeps working (RFC 8058 expects the List-Unsubscribe URL to stay valid).
- preferences: subscriber + token_version; bumping Subscriber.token_version revokes them all.
- purpose choice: subscriber + purpose + token_version (the opt-in / opt-out link of a purpose).
- confirm: subscription, expires (NEWSLETTER_CONFIRM_MAX_AGE_DAYS).
- invite, password reset: admin user + password fingerprint, expire, work once.
- address tokens (reply+/bounce+/unsubscribe+ local parts) are short and lowercase, because mail
  systems may change the case of a local part; they use a compact base32 MAC.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, SignatureExpired, URLSafeSerializer, URLSafeTimedSerializer

FORMAT = 1


class TokenError(Exception):
    """A token is tampered, truncated, signed for another purpose, or expired."""

    def __init__(self, message: str, expired: bool = False, payload: object = None):
        super().__init__(message)
        self.expired = expired
        self.payload = payload


@dataclass(frozen=True)
class Purpose:
    """A token purpose: its salt and whether (and how long) it expires."""

    salt: str
    expires: bool = False


UNSUBSCRIBE = Purpose("newsletter.unsubscribe.v1")
PREFERENCES = Purpose("newsletter.preferences.v1")
CONFIRM = Purpose("newsletter.confirm.v1", expires=True)
PRIVACY_VERIFY = Purpose("newsletter.privacy-verify.v1", expires=True)
UNDO_UNSUBSCRIBE = Purpose("newsletter.undo-unsubscribe.v1", expires=True)
# The link about one use of data (a purpose): subscriber + purpose + token_version, so bumping
# Subscriber.token_version revokes it like the preference links.
PURPOSE_CHOICE = Purpose("newsletter.purpose-choice.v1")
# The link to one's data export: names an access request, expires (NEWSLETTER_EXPORT_DAYS).
EXPORT_DOWNLOAD = Purpose("newsletter.export-download.v1", expires=True)
# Admin users (users/accounts.py): user + a fingerprint of the password hash, so a link stops
# working once a password has been set with it (or changed since it was sent).
INVITE = Purpose("newsletter.admin-invite.v1", expires=True)
PASSWORD_RESET = Purpose("newsletter.password-reset.v1", expires=True)


def sign(secret_key: str, purpose: Purpose, payload: list | dict) -> str:
    """Sign a payload for one purpose."""
    serializer = _serializer(secret_key, purpose)
    return serializer.dumps({"v": FORMAT, "p": payload})


def load(secret_key: str, purpose: Purpose, token: str, max_age: int | None = None):
    """Return the payload of a token signed for `purpose`, or raise TokenError."""
    serializer = _serializer(secret_key, purpose)
    try:
        if purpose.expires:
            data = serializer.loads(token, max_age=max_age)
        else:
            data = serializer.loads(token)
    except SignatureExpired as exc:
        # The signature was good, only old: itsdangerous hands back the still-encoded payload.
        try:
            decoded = serializer.load_payload(exc.payload) if exc.payload is not None else None
        except BadSignature:
            decoded = None
        payload = decoded.get("p") if isinstance(decoded, dict) else None
        raise TokenError("This link has expired.", expired=True, payload=payload) from None
    except BadSignature:
        raise TokenError("This link is not valid. It may have been cut short or altered.") from None
    if not isinstance(data, dict) or data.get("v") != FORMAT or "p" not in data:
        raise TokenError("This link is not valid.")
    return data["p"]


@functools.lru_cache(maxsize=64)
def _serializer(secret_key: str, purpose: Purpose):
    # Kept per key and purpose: a delivery worker signs three tokens per message, and building
    # the serializer (and its signer) anew each time cost as much as signing.
    cls = URLSafeTimedSerializer if purpose.expires else URLSafeSerializer
    return cls(secret_key, salt=purpose.salt)


# --- Address tokens: reply+TOKEN@, bounce+TOKEN@, unsubscribe+TOKEN@ --------------------------
# Local parts are case-insensitive in practice and limited to 64 characters, so these tokens are
# lowercase base32: "<kind><subscriber>.<campaign-or-list>.<mac>" with a truncated HMAC-SHA256.

_ADDRESS_KINDS = {"reply": "r", "bounce": "b", "unsubscribe": "u"}


def address_token(secret_key: str, kind: str, subscriber_id: int, ref_id: int = 0) -> str:
    """A compact signed token for a VERP-style address local part (kind + subscriber + ref)."""
    body = f"{_ADDRESS_KINDS[kind]}{subscriber_id:x}.{ref_id:x}"
    return f"{body}.{_address_mac(secret_key, body)}"


def load_address_token(secret_key: str, token: str) -> tuple[str, int, int]:
    """Return (kind, subscriber_id, ref_id) of an address token, or raise TokenError."""
    token = token.strip().lower()
    try:
        body, mac = token.rsplit(".", 1)
        kind_code, rest = body[0], body[1:]
        subscriber_hex, ref_hex = rest.split(".", 1)
        kind = {v: k for k, v in _ADDRESS_KINDS.items()}[kind_code]
        subscriber_id, ref_id = int(subscriber_hex, 16), int(ref_hex, 16)
    except (ValueError, KeyError, IndexError):
        raise TokenError("malformed address token") from None
    if not hmac.compare_digest(mac, _address_mac(secret_key, body)):
        raise TokenError("address token signature mismatch")
    return kind, subscriber_id, ref_id


def _address_mac(secret_key: str, body: str) -> str:
    digest = hmac.new(
        f"newsletter.address.v1:{secret_key}".encode(), body.encode(), hashlib.sha256
    ).digest()
    return base64.b32encode(digest[:10]).decode().lower()
