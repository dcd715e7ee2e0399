"""The admin UI (login required). One module per area; each adds its routes to `bp`
(newsletter/web/admin/blueprint.py), and importing this package imports them all."""

from __future__ import annotations

from newsletter.web.admin import (  # noqa: F401 - importing an area registers its routes
    account,
    api_tokens,
    audit,
    campaigns,
    charts,
    dashboard,
    inbox,
    layouts,
    lists,
    policy,
    privacy,
    purposes,
    segments,
    sink,
    subscribers,
    subscribers_bulk,
    suppressions,
    users,
    webhooks,
)
from newsletter.web.admin.blueprint import bp

__all__ = ["bp"]
