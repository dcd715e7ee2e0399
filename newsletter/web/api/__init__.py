"""The JSON API under /api/v1 (flask-smorest: the OpenAPI document is generated from the code).

Authentication: `Authorization: Bearer <token>`; tokens are created in the admin UI or with
`flask newsletter api-token create`, and only their SHA-256 is stored.
"""

from __future__ import annotations

from functools import wraps

from flask import abort, g, request
from flask_smorest import Api, Blueprint

from newsletter import api_tokens
from newsletter.extensions import db
from newsletter.models import utcnow

SECURITY = [{"bearerAuth": []}]


def token_required(view):
    """Refuse the request unless it carries a live bearer token."""

    @wraps(view)
    def wrapped(*args, **kwargs):
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            abort(401, description="Bearer token required")
        row = api_tokens.find_live(db.session, token)
        if row is None:
            abort(401, description="Invalid or revoked token")
        row.last_used_at = utcnow()
        g.api_actor = f"api:{row.name}"
        return view(*args, **kwargs)

    return wrapped


def blueprints() -> list[Blueprint]:
    """Every API blueprint, in the order the OpenAPI document lists them."""
    from newsletter.web.api import (
        campaigns,
        inbound,
        lists,
        privacy_requests,
        subscribers,
        suppressions,
    )

    return [lists.blp, subscribers.blp, suppressions.blp, campaigns.blp, inbound.blp,
            privacy_requests.blp]


def register(api: Api) -> None:
    """Register the API blueprints and the bearer security scheme."""
    api.spec.components.security_scheme(
        "bearerAuth", {"type": "http", "scheme": "bearer"}
    )
    for blp in blueprints():
        api.register_blueprint(blp, url_prefix=f"/api/v1{blp.url_prefix or ''}")
