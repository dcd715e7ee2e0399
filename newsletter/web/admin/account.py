"""Admin: one's own account (every role): password, second factor, sessions."""

from __future__ import annotations

from zoneinfo import available_timezones

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.users import accounts, twofactor
from newsletter.users import sessions as user_sessions
from newsletter.web import auth
from newsletter.web.admin.blueprint import bp

TIMEZONES = sorted(available_timezones() - {"localtime", "Factory"})


class PasswordForm(FlaskForm):
    current = PasswordField("Current password", validators=[DataRequired("Enter your current password.")])
    password = PasswordField("New password", validators=[DataRequired("Choose a new password."),
                                                         Length(max=accounts.MAX_PASSWORD)])
    repeat = PasswordField("The new password again",
                           validators=[DataRequired("Type the new password a second time.")])


class CodeForm(FlaskForm):
    code = StringField("Code from your app", validators=[DataRequired("Enter the 6-digit code."),
                                                         Length(max=32)])


class ConfirmPasswordForm(FlaskForm):
    current = PasswordField("Your password", validators=[DataRequired("Enter your password.")])


def _render(status: int = 200, **forms):
    forms.setdefault("password_form", PasswordForm(formdata=None))
    forms.setdefault("off_form", ConfirmPasswordForm(formdata=None))
    key = session.get(auth.SESSION_KEY)
    rows = [(row, user_sessions.is_key(row, key)) for row in user_sessions.live(db.session, current_user)]
    return render_template("admin/account.html", sessions=rows, timezones=TIMEZONES,
                           required=accounts.two_factor_required(db.session),
                           min_length=accounts.MIN_PASSWORD, **forms), status


@bp.get("/account")
def account():
    return _render()


@bp.post("/account/password")
def account_password():
    form = PasswordForm()
    if not form.validate_on_submit():
        return _render(400, password_form=form)
    try:
        accounts.change_password(db.session, current_user, current=form.current.data,
                                 new=form.password.data, repeated=form.repeat.data, now=utcnow())
    except accounts.UserError as exc:
        db.session.rollback()
        getattr(form, exc.field_name, form.password).errors.append(str(exc))
        return _render(400, password_form=form)
    db.session.commit()
    # A new password ends every session, this one too; the person who just typed both
    # passwords goes on in a fresh one.
    auth.log_in(current_user._get_current_object())
    flash("Your password is changed. Your other sessions have ended.", "success")
    return redirect(url_for("admin.account"))


@bp.post("/account/timezone")
def account_timezone():
    try:
        accounts.set_timezone(db.session, current_user, request.form.get("timezone", ""), now=utcnow())
    except accounts.UserError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.account"))
    db.session.commit()
    flash(f"Times are now shown in {current_user.timezone}.", "success")
    return redirect(url_for("admin.account"))


@bp.post("/account/2fa/begin")
def account_2fa_begin():
    try:
        twofactor.begin(db.session, current_user)
    except accounts.UserError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.account"))
    db.session.commit()
    return _enrol_page(CodeForm(formdata=None))


def _enrol_page(form: CodeForm, status: int = 200):
    return render_template("admin/account_2fa.html", form=form, secret=current_user.totp_secret,
                           qr=twofactor.qr_data_uri(current_user), codes=None), status


@bp.post("/account/2fa/confirm")
def account_2fa_confirm():
    if current_user.totp_secret is None or current_user.has_totp:
        return redirect(url_for("admin.account"))
    form = CodeForm()
    if not form.validate_on_submit():
        return _enrol_page(form, 400)
    try:
        codes = twofactor.confirm(db.session, current_app.config, current_user, form.code.data,
                                  now=utcnow())
    except accounts.UserError as exc:
        db.session.commit()  # the replay guard
        form.code.errors.append(str(exc))
        return _enrol_page(form, 400)
    db.session.commit()
    # Rendered, never flashed: the codes are shown once and kept nowhere but in the user's hands.
    return render_template("admin/account_2fa.html", codes=codes, form=None)


@bp.post("/account/2fa/recovery-codes")
def account_recovery_codes():
    try:
        codes = twofactor.regenerate_recovery_codes(db.session, current_app.config, current_user,
                                                    now=utcnow())
    except accounts.UserError as exc:
        flash(str(exc), "error")
        return redirect(url_for("admin.account"))
    db.session.commit()
    return render_template("admin/account_2fa.html", codes=codes, form=None)


@bp.post("/account/2fa/off")
def account_2fa_off():
    form = ConfirmPasswordForm()
    if not form.validate_on_submit() or not current_user.check_password(form.current.data):
        if form.current.data:
            form.current.errors.append("That is not your password.")
        return _render(400, off_form=form)
    if accounts.two_factor_required(db.session):
        flash("Every user must have a second factor here, so it cannot be turned off.", "error")
        return redirect(url_for("admin.account"))
    twofactor.disable(db.session, current_user, actor=f"admin:{current_user.email}", now=utcnow())
    db.session.commit()
    flash("The second factor is off. You log in with your password alone.", "success")
    return redirect(url_for("admin.account"))


@bp.post("/account/sessions/<int:session_id>/end")
def account_session_end(session_id: int):
    if user_sessions.end(db.session, current_user, session_id, now=utcnow()):
        db.session.commit()
        flash("That session has ended.", "success")
    return redirect(url_for("admin.account"))
