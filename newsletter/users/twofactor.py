"""The optional second factor: TOTP (RFC 6238, pyotp) and one-time recovery codes.

Enrolment is two steps: `begin()` stores a fresh secret (not yet in force) and the page shows it as
a QR code; `confirm()` puts it in force once the user types a code from their app, and hands back
the recovery codes, shown once. Only keyed hashes of the recovery codes are stored.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime

import pyotp
import segno
from sqlalchemy.orm import Session

from newsletter.models import AdminUser
from newsletter.privacy import audit
from newsletter.users.accounts import SUBJECT, UserError

ISSUER = "newsletter"
RECOVERY_CODES = 10
# A code from the step before or after is accepted too: phone clocks drift by a few seconds.
WINDOW = 1
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or typed from paper


def begin(session: Session, user: AdminUser) -> str:
    """A new secret for the user's authenticator app; not in force until `confirm()`."""
    if user.has_totp:
        raise UserError("A second factor is already set up. Turn it off first to set up another.")
    user.totp_secret = pyotp.random_base32()
    user.totp_confirmed_at = None
    return user.totp_secret


def provisioning_uri(user: AdminUser) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(user.totp_secret).provisioning_uri(name=user.email, issuer_name=ISSUER)


def qr_data_uri(user: AdminUser) -> str:
    """The provisioning URI as an SVG QR code in a data: URI (made here: nothing leaves the machine)."""
    return segno.make(provisioning_uri(user), error="m").svg_data_uri(scale=5, border=2)


def confirm(session: Session, config: Mapping, user: AdminUser, code: str, *,
            now: datetime) -> list[str]:
    """Put the pending secret in force if `code` matches; return fresh recovery codes."""
    if user.totp_secret is None or user.has_totp:
        raise UserError("Start setting up the second factor again.")
    if not _totp_matches(user, code, now):
        raise UserError("That code is not right. Type the 6 digits your app shows now.", "code")
    user.totp_confirmed_at = now
    codes = _new_recovery_codes(config, user)
    audit.record(session, actor=f"admin:{user.email}", action="user.2fa-enable", subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return codes


def verify(session: Session, config: Mapping, user: AdminUser, code: str, *, now: datetime) -> bool:
    """True if `code` is a current TOTP code (never one seen before) or an unused recovery code."""
    if not user.has_totp:
        return False
    if _totp_matches(user, code, now):
        return True
    digest = _recovery_hash(config, user, code)
    if digest in (user.recovery_codes or []):
        user.recovery_codes = [c for c in user.recovery_codes if c != digest]
        audit.record(session, actor=f"admin:{user.email}", action="user.recovery-code-used",
                     subject_type=SUBJECT, subject_id=user.id, now=now,
                     detail={"left": len(user.recovery_codes)})
        return True
    return False


def regenerate_recovery_codes(session: Session, config: Mapping, user: AdminUser, *,
                              now: datetime) -> list[str]:
    """New recovery codes; the old ones stop working."""
    if not user.has_totp:
        raise UserError("Set up a second factor first.")
    codes = _new_recovery_codes(config, user)
    audit.record(session, actor=f"admin:{user.email}", action="user.recovery-codes", subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return codes


def disable(session: Session, user: AdminUser, *, actor: str, now: datetime) -> bool:
    """Remove the second factor (the user themself, or an admin for a user who lost their phone)."""
    if user.totp_secret is None:
        return False
    was_on = user.has_totp
    user.totp_secret = user.totp_confirmed_at = user.totp_last_step = None
    user.recovery_codes = []
    if was_on:
        audit.record(session, actor=actor, action="user.2fa-disable", subject_type=SUBJECT,
                     subject_id=user.id, now=now)
    return was_on


def _totp_matches(user: AdminUser, code: str, now: datetime) -> bool:
    code = "".join(code.split())
    if not (code.isdigit() and len(code) == 6):
        return False
    totp = pyotp.TOTP(user.totp_secret)
    for offset in range(-WINDOW, WINDOW + 1):
        moment = now.timestamp() + offset * totp.interval
        if hmac.compare_digest(totp.at(moment), code):
            step = totp.timecode(datetime.fromtimestamp(moment, tz=now.tzinfo))
            # A code already used (seen over a shoulder, or replayed) does not work twice.
            if user.totp_last_step is not None and step <= user.totp_last_step:
                return False
            user.totp_last_step = step
            return True
    return False


def _new_recovery_codes(config: Mapping, user: AdminUser) -> list[str]:
    codes = ["-".join("".join(secrets.choice(_ALPHABET) for _ in range(5)) for _ in range(2))
             for _ in range(RECOVERY_CODES)]
    user.recovery_codes = [_recovery_hash(config, user, code) for code in codes]
    return codes


def _recovery_hash(config: Mapping, user: AdminUser, code: str) -> str:
    # About 49 random bits per code and a keyed hash: a fast hash is enough, and the key means
    # a copy of the table alone does not allow guessing offline.
    normal = "".join(c for c in code.lower() if c.isalnum())
    return hmac.new(config["SECRET_KEY"].encode(), f"recovery:{user.id}:{normal}".encode(),
                    hashlib.sha256).hexdigest()
