"""The URLs and addresses we put in mail, built in one place so every message agrees.

All take the app config (a mapping) rather than reading Flask globals, so workers and the
scheduler build the same links as requests do.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from newsletter import tokens


def unsubscribe_token(config: Mapping, subscriber_id: int, list_id: int) -> str:
    """Never expires, never revoked (RFC 8058 links in old mail keep working)."""
    return tokens.sign(config["SECRET_KEY"], tokens.UNSUBSCRIBE, [subscriber_id, list_id])


def preferences_token(config: Mapping, subscriber_id: int, token_version: int) -> str:
    """Revoked by bumping Subscriber.token_version."""
    return tokens.sign(config["SECRET_KEY"], tokens.PREFERENCES, [subscriber_id, token_version])


def unsubscribe_url(config: Mapping, subscriber_id: int, list_id: int) -> str:
    """GET shows the one-button page; POST (also RFC 8058 one-click) unsubscribes."""
    return f"{config['NEWSLETTER_BASE_URL']}/u/{unsubscribe_token(config, subscriber_id, list_id)}"


def preferences_url(config: Mapping, subscriber_id: int, token_version: int) -> str:
    """The preference centre."""
    token = preferences_token(config, subscriber_id, token_version)
    return f"{config['NEWSLETTER_BASE_URL']}/preferences/{token}"


def confirm_url(config: Mapping, subscriber_id: int, list_ids: list[int]) -> str:
    """Double opt-in: GET shows a page with one button, POST confirms; expires (tokens.CONFIRM)."""
    token = tokens.sign(config["SECRET_KEY"], tokens.CONFIRM, [subscriber_id, list_ids])
    return f"{config['NEWSLETTER_BASE_URL']}/confirm/{token}"


def purpose_url(config: Mapping, subscriber_id: int, purpose_id: int, token_version: int) -> str:
    """Opt in to, or out of, one use of data: GET shows a page with a button, POST acts."""
    token = tokens.sign(config["SECRET_KEY"], tokens.PURPOSE_CHOICE,
                        [subscriber_id, purpose_id, token_version])
    return f"{config['NEWSLETTER_BASE_URL']}/purpose/{token}"


def archive_url(config: Mapping, list_slug: str) -> str:
    """The public archive of a list."""
    return f"{config['NEWSLETTER_BASE_URL']}/archive/{list_slug}"


def policy_url(config: Mapping, version_id: int | None = None) -> str:
    """The privacy policy: the version in force, or one version (as linked from a notice)."""
    base = f"{config['NEWSLETTER_BASE_URL']}/privacy"
    return base if version_id is None else f"{base}/v/{version_id}"


def privacy_request_url(config: Mapping) -> str:
    """Where anyone asks to see or delete their data; every mail footer and public page links it."""
    return f"{config['NEWSLETTER_BASE_URL']}/privacy/request"


def reply_address(config: Mapping, subscriber_id: int, campaign_id: int = 0) -> str:
    """Reply-To: replies carry who they are about in the address itself."""
    token = tokens.address_token(config["SECRET_KEY"], "reply", subscriber_id, campaign_id)
    return f"reply+{token}@{config['NEWSLETTER_REPLY_DOMAIN']}"


def bounce_address(config: Mapping, subscriber_id: int, campaign_id: int = 0) -> str:
    """VERP envelope sender (Return-Path): bounces name the recipient and campaign."""
    token = tokens.address_token(config["SECRET_KEY"], "bounce", subscriber_id, campaign_id)
    return f"bounce+{token}@{config['NEWSLETTER_BOUNCE_DOMAIN']}"


def unsubscribe_mailto(config: Mapping, subscriber_id: int, list_id: int) -> str:
    """The mailto of List-Unsubscribe: any mail to it unsubscribes from that list."""
    token = tokens.address_token(config["SECRET_KEY"], "unsubscribe", subscriber_id, list_id)
    return f"mailto:unsubscribe+{token}@{config['NEWSLETTER_REPLY_DOMAIN']}?subject=unsubscribe"


def delivery_message_id(config: Mapping, campaign_id: int, subscriber_id: int) -> str:
    """The Message-ID of one campaign's copy for one subscriber: the same on every attempt, so a
    copy sent again after a crash is a duplicate that mail clients can drop. Keyed, so the ids
    of other subscribers cannot be derived from one's own."""
    digest = hmac.new(f"message-id:{config['SECRET_KEY']}".encode(),
                      f"{campaign_id}:{subscriber_id}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"<{digest}.{campaign_id}@{config['NEWSLETTER_MAIL_DOMAIN']}>"
