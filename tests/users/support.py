"""Helpers for the user tests: the link in a received mail, a current TOTP code."""

from __future__ import annotations

import re
import time

import pyotp

LINK_RE = re.compile(r"https?://\S+/(?:invite|password/reset)/\S+")


def link_in(received) -> str:
    """The invitation or reset link in a message the SMTP server received."""
    body = received.message.get_body(("plain",)).get_content()
    match = LINK_RE.search(body)
    assert match, body
    return match.group(0)


def code(secret: str, steps_ahead: int = 0) -> str:
    """The TOTP code for now (or a step later: still accepted, and not the one used before)."""
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)
