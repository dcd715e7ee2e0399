"""Admin: API tokens (admin role). Shown once at creation; only the hash is stored."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from newsletter import api_tokens as tokens_domain
from newsletter.extensions import db
from newsletter.models import ApiToken, Role, utcnow
from newsletter.subscribers import subscriptions
from newsletter.web.admin.blueprint import actor, bp, role_required


def _render(new_token: str | None):
    rows = db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()
    now = utcnow()
    return render_template("admin/api_tokens.html", new_token=new_token, roles=list(Role),
                           tokens=[(row, tokens_domain.state(row, now)) for row in rows])


@bp.get("/api-tokens")
@role_required()
def api_tokens():
    return _render(None)


@bp.post("/api-tokens")
@role_required()
def api_tokens_create():
    try:
        name = subscriptions.clean_text(request.form.get("name", ""), "name", 100)
    except subscriptions.SubscribeError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.api_tokens")), 303
    if not name:
        flash("Give the token a name that says who uses it.", "error")
        return redirect(url_for("admin.api_tokens")), 303
    role = request.form.get("role", Role.admin.value)
    days = request.form.get("days", "").strip()
    if role not in {r.value for r in Role} or not (days == "" or days.isdigit() and 0 < int(days) <= 3650):
        flash("Choose a role, and a lifetime of 1 to 3650 days (or none).", "error")
        return redirect(url_for("admin.api_tokens")), 303
    now = utcnow()
    _row, token = tokens_domain.create(db.session, name, actor=actor(), now=now, role=Role(role),
                                       expires_at=now + timedelta(days=int(days)) if days else None)
    db.session.commit()
    # Rendered, not flashed: the session cookie is readable by the browser and kept around.
    return _render(token)


@bp.post("/api-tokens/<int:token_id>/revoke")
@role_required()
def api_tokens_revoke(token_id: int):
    row = db.session.get(ApiToken, token_id) or abort(404)
    if tokens_domain.revoke(db.session, row, actor=actor(), now=utcnow()):
        db.session.commit()
    flash(f"Token {row.name} revoked.", "success")
    return redirect(url_for("admin.api_tokens"))
