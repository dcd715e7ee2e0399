"""The admin blueprint: every page needs a login, some a role (admins may do everything).

Area modules add their routes to `bp`; `newsletter.web.admin` imports them all.
"""

from __future__ import annotations

from datetime import datetime
from functools import wraps
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, abort, redirect, request, url_for
from flask_login import current_user, login_required

from newsletter.extensions import db
from newsletter.models import Role
from newsletter.users import accounts

bp = Blueprint("admin", __name__, url_prefix="/admin")
# Reachable while a required second factor is still missing (account.py).
ENROLMENT_ENDPOINTS = frozenset({"admin.account", "admin.account_2fa_begin", "admin.account_2fa_confirm"})


@bp.before_request
@login_required
def _require_login():
    """Every admin page needs a logged-in user, and one with a second factor if that is required."""
    if (not current_user.has_totp and request.endpoint not in ENROLMENT_ENDPOINTS
            and accounts.two_factor_required(db.session)):
        return redirect(url_for("admin.account"))


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


@bp.app_template_filter("when")
def when(moment: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A time on an admin page, in the logged-in user's timezone (UTC before login); a format
    with a time of day names the zone, so a reader never guesses."""
    if moment is None:
        return ""
    name = getattr(current_user, "timezone", None) or "UTC"
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")
    if "%H" in fmt and "%Z" not in fmt:
        fmt += " %Z"
    return moment.astimezone(zone).strftime(fmt)
