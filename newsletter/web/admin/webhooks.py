"""Admin: outgoing event webhooks (admin role). Register a URL, its events and a secret (shown
once), remove one, and see the latest deliveries with their last answer."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.integrations import webhooks
from newsletter.models import Webhook, utcnow
from newsletter.web.admin.blueprint import actor, bp, role_required

# GET  /admin/webhooks                  the webhooks and their latest deliveries
# POST /admin/webhooks                  register one (url, events, optional secret)
# POST /admin/webhooks/<id>/delete      remove one and its queue


def _render(new_secret: str | None = None):
    return render_template(
        "admin/webhooks.html", events=list(webhooks.Event), new_secret=new_secret,
        hooks=db.session.scalars(select(Webhook).order_by(Webhook.id)).all(),
        deliveries=webhooks.recent(db.session))


@bp.get("/webhooks")
@role_required()
def webhooks_page():
    return _render()


@bp.post("/webhooks")
@role_required()
def webhooks_create():
    now = utcnow()
    try:
        registered = webhooks.register(
            db.session, url=request.form.get("url", ""), events=request.form.getlist("events"),
            secret=request.form.get("secret", "").strip() or None, actor=actor(), now=now,
            config=current_app.config)
    except webhooks.WebhookError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.webhooks_page")), 303
    db.session.commit()
    # Rendered, not flashed: the secret must not sit in the session cookie.
    return _render(registered.secret)


@bp.post("/webhooks/<int:webhook_id>/delete")
@role_required()
def webhooks_delete(webhook_id: int):
    if not webhooks.remove(db.session, webhook_id, actor=actor(), now=utcnow()):
        abort(404)
    db.session.commit()
    flash("Webhook removed.", "success")
    return redirect(url_for("admin.webhooks_page"))
