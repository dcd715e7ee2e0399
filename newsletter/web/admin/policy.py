"""Admin: privacy-policy versions (privacy role): publish one, and per version how many were
told in a newsletter, by standalone mail, and how many still owe the notice."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import current_app, flash, redirect, render_template, request, url_for

from newsletter.extensions import db
from newsletter.models import Role, utcnow
from newsletter.privacy import policy
from newsletter.web.admin.blueprint import actor, bp, role_required


def _moment(value: str, label: str) -> datetime | None:
    """A datetime-local field, read as UTC; empty means the default."""
    if not value.strip():
        return None
    try:
        return datetime.fromisoformat(value.strip()).replace(tzinfo=UTC)
    except ValueError:
        raise policy.PolicyError(f"{label}: not a date and time") from None


def _page(form: dict, status: int = 200):
    return render_template("admin/policy.html", versions=policy.versions(db.session),
                           stats=policy.stats(db.session), now=utcnow(), form=form,
                           notice_days=current_app.config["NEWSLETTER_POLICY_NOTICE_DAYS"]), status


@bp.get("/policy")
@role_required(Role.privacy)
def policy_versions():
    return _page({})


@bp.post("/policy")
@role_required(Role.privacy)
def policy_publish():
    form = request.form
    try:
        version = policy.publish(
            db.session, body=form.get("body", ""), summary=form.get("summary", "")[:2000],
            material=form.get("material") == "on", now=utcnow(), config=current_app.config,
            actor=actor(), effective_at=_moment(form.get("effective_at", ""), "Effective"),
            deadline=_moment(form.get("deadline", ""), "Notice deadline"))
    except policy.PolicyError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _page(form, 400)
    db.session.commit()
    flash(f"Version {version.version} published.", "success")
    return redirect(url_for("admin.policy_versions")), 303
