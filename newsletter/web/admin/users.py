"""Admin: the users (admin role): invite, roles, deactivate and reactivate, the 2FA rule."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import AdminUser, Role, utcnow
from newsletter.sending import mailer
from newsletter.users import accounts, twofactor
from newsletter.web.admin.blueprint import actor, bp, role_required


def _render(status: int = 200, errors: dict | None = None, values: dict | None = None):
    users = db.session.scalars(select(AdminUser).order_by(AdminUser.email)).all()
    return render_template("admin/users.html", users=users, roles=list(Role), errors=errors or {},
                           values=values or {}, required=accounts.two_factor_required(db.session)), status


def _user(user_id: int) -> AdminUser:
    return db.session.get(AdminUser, user_id) or abort(404)


@bp.get("/users")
@role_required()
def users():
    return _render()


@bp.post("/users/invite")
@role_required()
def users_invite():
    email, role = request.form.get("email", ""), request.form.get("role", "")
    if role not in {r.value for r in Role}:
        return _render(400, {"role": "Choose a role for the new user."}, request.form)
    now = utcnow()
    try:
        user, mail = accounts.invite(db.session, current_app.config, email=email, role=Role(role),
                                     actor=actor(), now=now)
    except accounts.UserError as exc:
        db.session.rollback()
        return _render(400, {exc.field_name or "email": str(exc)}, request.form)
    mailer.commit_and_send(db.session, current_app.config, [mail], now)
    flash(f"Invitation sent to {user.email}.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/invite")
@role_required()
def users_reinvite(user_id: int):
    now = utcnow()
    try:
        mail = accounts.resend_invite(db.session, current_app.config, _user(user_id), actor=actor(),
                                      now=now)
    except accounts.UserError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    mailer.commit_and_send(db.session, current_app.config, [mail], now)
    flash("A new invitation is on its way.", "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<int:user_id>/role")
@role_required()
def users_role(user_id: int):
    user, role = _user(user_id), request.form.get("role", "")
    if role not in {r.value for r in Role}:
        flash("Choose one of the roles.", "error")
        return redirect(url_for("admin.users"))
    return _act(lambda: accounts.set_role(db.session, user, Role(role), actor=actor(), now=utcnow()),
                f"{user.email} is now {role}. Their sessions have ended.")


@bp.post("/users/<int:user_id>/deactivate")
@role_required()
def users_deactivate(user_id: int):
    user = _user(user_id)
    return _act(lambda: accounts.deactivate(db.session, user, actor=actor(), now=utcnow()),
                f"{user.email} is deactivated and logged out everywhere.")


@bp.post("/users/<int:user_id>/reactivate")
@role_required()
def users_reactivate(user_id: int):
    user = _user(user_id)
    return _act(lambda: accounts.reactivate(db.session, user, actor=actor(), now=utcnow()),
                f"{user.email} may log in again.")


@bp.post("/users/<int:user_id>/2fa/reset")
@role_required()
def users_2fa_reset(user_id: int):
    user = _user(user_id)
    return _act(lambda: twofactor.disable(db.session, user, actor=actor(), now=utcnow()),
                f"{user.email} logs in with their password alone until they set up a new second factor.")


@bp.post("/users/require-2fa")
@role_required()
def users_require_2fa():
    on = request.form.get("on") == "1"
    accounts.require_two_factor(db.session, on, actor=actor(), now=utcnow())
    db.session.commit()
    flash("Every user now needs a second factor." if on else "A second factor is now optional.",
          "success")
    return redirect(url_for("admin.users"))


def _act(change, done: str):
    try:
        changed = change()
    except accounts.UserError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.users"))
    if changed:
        db.session.commit()
        flash(done, "success")
    return redirect(url_for("admin.users"))
