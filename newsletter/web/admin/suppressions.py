"""Admin: the suppression list (view, check, add, lift with a required reason; audited)."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import Role, Suppression, SuppressionReason, utcnow
from newsletter.subscribers import subscriptions, suppression
from newsletter.web.admin.blueprint import actor, bp, role_required

PAGE = 100


@bp.get("/suppressions")
@role_required(Role.marketer, Role.privacy)
def suppressions():
    key = current_app.config["NEWSLETTER_SUPPRESSION_KEY"]
    checked, check = None, request.args.get("check", "").strip()
    if check:
        try:
            checked = suppression.is_suppressed(db.session, key, subscriptions.normalise_email(check))
        except subscriptions.SubscribeError as exc:
            flash(str(exc), "error")
    page = min(max(request.args.get("page", 1, type=int), 1), 1_000_000)
    rows = db.session.scalars(select(Suppression).order_by(Suppression.id.desc())
                              .limit(PAGE).offset((page - 1) * PAGE)).all()
    total = db.session.scalar(select(func.count(Suppression.id)))
    return render_template("admin/suppressions.html", rows=rows, total=total, page=page,
                           check=check, checked=checked, reasons=[r.value for r in SuppressionReason])


@bp.post("/suppressions")
@role_required(Role.marketer, Role.privacy)
def suppressions_add():
    config, now = current_app.config, utcnow()
    try:
        email = subscriptions.normalise_email(request.form.get("email", ""))
        note = subscriptions.clean_text(request.form.get("note", ""), "note", 500)
        reason = SuppressionReason(request.form.get("reason", "manual"))
    except (subscriptions.SubscribeError, ValueError) as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.suppressions")), 303
    suppression.suppress(db.session, config["NEWSLETTER_SUPPRESSION_KEY"], email, reason, now,
                         note=note, actor=actor())
    db.session.commit()
    flash("The address is suppressed: it will never be mailed.", "success")
    return redirect(url_for("admin.suppressions"))


@bp.post("/suppressions/lift")
@role_required(Role.marketer, Role.privacy)
def suppressions_lift():
    try:
        email = subscriptions.normalise_email(request.form.get("email", ""))
        reason = subscriptions.clean_text(request.form.get("reason", ""), "reason", 500)
        if not reason:
            raise ValueError("Lifting a suppression needs a reason.")
        lifted = suppression.lift(db.session, current_app.config["NEWSLETTER_SUPPRESSION_KEY"],
                                  email, actor=actor(), reason=reason, now=utcnow())
    except (subscriptions.SubscribeError, ValueError) as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.suppressions")), 303
    db.session.commit()
    flash("Suppression lifted." if lifted else "That address was not suppressed.",
          "success" if lifted else "error")
    return redirect(url_for("admin.suppressions"))
