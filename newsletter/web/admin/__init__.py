"""The admin UI (login required). One module per area; each adds its routes to `bp`."""

from __future__ import annotations

from functools import wraps

from flask import Blueprint, abort
from flask_login import current_user, login_required

from newsletter.models import Role

bp = Blueprint("admin", __name__, url_prefix="/admin")


@bp.before_request
@login_required
def _require_login():
    """Every admin page needs a logged-in user."""


def role_required(*roles: Role):
    """Allow only users with one of `roles` (admins may do everything)."""

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if current_user.role is not Role.admin and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        return wrapped

    return decorator


def actor() -> str:
    """How the audit trail names the logged-in user."""
    return f"admin:{current_user.email}"


# Importing the area modules registers their routes on `bp`.
from newsletter.web.admin import (  # noqa: E402,F401
    api_tokens,
    campaigns,
    dashboard,
    inbox,
    lists,
    privacy,
    sink,
    subscribers,
    suppressions,
)
