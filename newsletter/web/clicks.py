"""GET /c/<token>: a counted link in a newsletter (sending/clicks.py). Counts one click of that
link of that campaign, then redirects; nothing about the person is read or kept."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, redirect

from newsletter.extensions import db
from newsletter.sending import clicks

bp = Blueprint("clicks", __name__)


@bp.get("/c/<token>")
def follow(token: str):
    try:
        url = clicks.follow(db.session, current_app.config, token)
    except clicks.ClickError:
        abort(404)
    db.session.commit()
    response = redirect(url, 302)
    response.headers["Cache-Control"] = "no-store"  # every click reaches us once
    return response
