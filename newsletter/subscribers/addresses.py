"""Email addresses as we accept them: validated, normalised, and the error a person is shown.

A leaf module (only email-validator below it), so sending/ can check a test-send address the same
way subscribe() checks a subscriber's without importing subscriptions.
"""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class SubscribeError(ValueError):
    """A subscribe request cannot be accepted; the message is shown to the person."""

    def __init__(self, message: str, field_name: str = ""):
        super().__init__(message)
        self.field_name = field_name


class InvalidEmail(SubscribeError):
    """The address is not a valid email address."""


def normalise_email(raw: str) -> str:
    """Validate and normalise an address (no DNS look-up); raise InvalidEmail.

    >>> normalise_email("  Alice@Example.ORG ")
    'alice@example.org'
    """
    if not raw.strip():
        # email-validator would answer "must have exactly one @-sign": true, but not helpful.
        raise InvalidEmail("Enter an email address.", "email")
    try:
        result = validate_email(raw.strip(), check_deliverability=False)
    except EmailNotValidError as exc:
        raise InvalidEmail(str(exc), "email") from None
    # Local parts are case-sensitive in theory; in practice nobody relies on it, and treating
    # Alice@ and alice@ as two people would let one person be subscribed twice.
    return result.normalized.lower()
