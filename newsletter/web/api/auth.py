"""API authentication and authorisation: `Authorization: Bearer <token>`; only the token's
SHA-256 is stored (newsletter/api_tokens.py). Every API blueprint comes from `api_blueprint`,
whose before_request authenticates before flask-smorest parses a body (401 before 422)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import abort, current_app, g, request
from flask_smorest import Blueprint

from newsletter import api_tokens
from newsletter.extensions import db
from newsletter.models import Role, utcnow
from newsletter.privacy import audit

SECURITY = [{"bearerAuth": []}]
READING = frozenset({"GET", "HEAD", "OPTIONS"})


def api_blueprint(name: str, import_name: str, *, roles: Iterable[Role], **kwargs) -> Blueprint:
    """An API blueprint whose views need a live token of an admin or one of `roles`."""
    blp = Blueprint(name, import_name, **kwargs)
    blp.api_roles = frozenset(roles)
    blp.before_request(authenticate)
    return blp


def allow(*roles: Role):
    """Narrow (or widen) one view to tokens of an admin or one of `roles`."""

    def decorator(view):
        # functools.wraps copies __dict__, so flask-smorest's wrappers carry the mark outwards.
        view.api_roles = frozenset(roles)
        return view

    return decorator


def may_call(role: Role, roles: frozenset[Role], method: str) -> bool:
    """The one rule: may a token of `role` call a view open to `roles` with `method`?"""
    if role is Role.admin:
        return True
    return role in roles and (role is not Role.read_only or method in READING)


def authenticate():
    """401 unless the request carries a live bearer token; 403 if its role may not call the view."""
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        abort(401, description="Bearer token required")
    now = utcnow()
    row = api_tokens.find_live(db.session, token, now)
    if row is None:
        abort(401, description="Invalid, expired or revoked token")
    view = current_app.view_functions.get(request.endpoint)
    roles = getattr(view, "api_roles", None)
    if roles is None:
        roles = current_app.blueprints[request.blueprint].api_roles
    if not may_call(row.role, roles, request.method):
        abort(403, description=f"a {row.role.value} token may not do this")
    row.last_used_at = now
    g.api_actor = f"api:{row.name}"
    g.api_role = row.role  # for views whose rule depends on the body (bulk actions)
    audit.acting_from(db.session, request.remote_addr)
