"""A self-hosted proof-of-work challenge for sign-ups from other sites (ALTCHA, protocol v1).

The browser fetches a challenge (a salt with an expiry, a SHA-256 hash and our HMAC of it),
tries numbers until sha256(salt + number) matches, and posts the answer with the form; we check
the HMAC, the hash and the expiry. No third party sees anything: the challenge, the solver
(static/pow.js) and the check are all ours. It costs a browser a second of work and a bot that
posts thousands of forms thousands of seconds; double opt-in stays the real protection.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import altcha

VALID_FOR = timedelta(minutes=10)


def _key(secret_key: str) -> str:
    # A purpose-specific key: an answer to this challenge proves nothing anywhere else.
    return hashlib.sha256(f"proof-of-work:{secret_key}".encode()).hexdigest()


def challenge(secret_key: str, difficulty: int, now: datetime) -> dict:
    """A fresh challenge as the browser reads it (algorithm, challenge, maxNumber, salt,
    signature)."""
    return altcha.create_challenge_v1(hmac_key=_key(secret_key), max_number=difficulty,
                                      expires=now + VALID_FOR).to_dict()


def verify(secret_key: str, payload: str) -> str | None:
    """The challenge an answer solves (to refuse a second use of it), or None if the answer
    is missing, wrong, forged or expired."""
    if not payload or len(payload) > 2000:
        return None
    valid, _error = altcha.verify_solution_v1(payload, _key(secret_key), check_expires=True)
    if not valid:
        return None
    return altcha.PayloadV1.from_base64(payload).challenge
