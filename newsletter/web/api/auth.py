"""API authentication: `Authorization: Bearer <token>`; only the token's SHA-256 is stored
(newsletter/api_tokens.py)."""

from __future__ import annotations

from functools import wraps

from flask import abort, g, request

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
