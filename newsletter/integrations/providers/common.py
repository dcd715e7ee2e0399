"""What every provider module needs: the request as plain values, JSON and age checks."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from newsletter.integrations.events import Malformed, Refused

DEFAULT_MAX_AGE_SECONDS = 900


@dataclass(frozen=True)
class Incoming:
    """An HTTP request as the provider modules see it (no Flask objects in the domain)."""

    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)  # case-insensitive in practice
    url_secret: str | None = None  # the last path segment, for services that put a secret there
    username: str | None = None  # HTTP basic auth
    password: str | None = None


def load_json(body: bytes) -> object:
    """The parsed body, or Malformed."""
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Malformed(f"the body is not JSON: {exc}") from None


def check_age(config: Mapping, sent_at: float, now: datetime, what: str) -> None:
    """Refuse a signed timestamp too far from now: an old request captured and sent again."""
    limit = float(config.get("NEWSLETTER_PROVIDER_MAX_AGE_SECONDS", DEFAULT_MAX_AGE_SECONDS))
    if abs(now.timestamp() - sent_at) > limit:
        raise Refused(f"{what} timestamp is more than {limit:.0f} seconds from now")
