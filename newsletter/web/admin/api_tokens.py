"""Admin: API tokens (admin role). Shown once at creation; only the hash is stored."""

from __future__ import annotations

import secrets

from flask import abort, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import ApiToken, AuditEvent, utcnow
from newsletter.subscribers import subscriptions
from newsletter.web.admin import actor, bp, role_required
from newsletter.web.api import hash_token


def _tokens():
    return db.session.scalars(select(ApiToken).order_by(ApiToken.id.desc())).all()


@bp.get("/api-tokens")
@role_required()
def api_tokens():
    return render_template("admin/api_tokens.html", tokens=_tokens(), new_token=None)


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
    token = secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token), created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    db.session.add(AuditEvent(at=utcnow(), actor=actor(), action="api_token.create",
                              subject_type="api_token", subject_id=str(row.id), detail={"name": name}))
    db.session.commit()
    # Rendered, not flashed: the session cookie is readable by the browser and kept around.
    return render_template("admin/api_tokens.html", tokens=_tokens(), new_token=token)


@bp.post("/api-tokens/<int:token_id>/revoke")
@role_required()
def api_tokens_revoke(token_id: int):
    row = db.session.get(ApiToken, token_id) or abort(404)
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.session.add(AuditEvent(at=utcnow(), actor=actor(), action="api_token.revoke",
                                  subject_type="api_token", subject_id=str(row.id)))
        db.session.commit()
    flash(f"Token {row.name} revoked.", "success")
    return redirect(url_for("admin.api_tokens"))
