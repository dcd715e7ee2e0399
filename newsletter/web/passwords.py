"""Passwords by mailed link: the invitation, "forgot my password" and the reset (blueprint
`password`). The forms answer the same for every address; the mail is only queued here."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, url_for
from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from newsletter import tokens
from newsletter.extensions import db, limiter
from newsletter.models import utcnow
from newsletter.users import accounts

bp = Blueprint("password", __name__)


class ForgotForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter the email address of your account."),
                                            Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired("Choose a password."),
                                                         Length(max=accounts.MAX_PASSWORD)])
    repeat = PasswordField("The new password again",
                           validators=[DataRequired("Type the new password a second time.")])


def _limit() -> str:
    return current_app.config["NEWSLETTER_LOGIN_RATE_LIMIT"]


@bp.route("/password/forgot", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def forgot():
    form = ForgotForm()
    if form.validate_on_submit():
        accounts.request_reset(db.session, current_app.config, email=form.email.data, now=utcnow())
        # Queued, never sent from here, and the same page whatever happened: the answer does
        # not tell whether the address has an account (the worker sends the mail).
        db.session.commit()
        return render_template("admin/password_forgot.html", form=None, sent_to=form.email.data)
    return render_template("admin/password_forgot.html", form=form, sent_to=None)


@bp.route("/password/reset/<token>", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def reset(token: str):
    return _set_password(tokens.PASSWORD_RESET, token, "Choose a new password")


@bp.route("/invite/<token>", methods=["GET", "POST"])
@limiter.limit(_limit, methods=["POST"])
def invite(token: str):
    return _set_password(tokens.INVITE, token, "Welcome: choose your password")


def _set_password(purpose: tokens.Purpose, token: str, title: str):
    try:
        user = accounts.read_link(db.session, current_app.config, purpose, token)
    except accounts.UserError as exc:
        return render_template("error.html", code=400, title="This link does not work",
                               message=f"{exc} You can ask for a new link on the login page."), 400
    form = NewPasswordForm()
    if form.validate_on_submit():
        try:
            accounts.set_password_by_link(db.session, current_app.config, purpose, token,
                                          password=form.password.data, repeated=form.repeat.data,
                                          now=utcnow())
        except accounts.UserError as exc:
            db.session.rollback()
            getattr(form, exc.field_name, form.password).errors.append(str(exc))
        else:
            db.session.commit()
            flash("Your password is set. Log in with it now.", "success")
            return redirect(url_for("auth.login"))
    return render_template("admin/password_set.html", form=form, title=title, email=user.email,
                           min_length=accounts.MIN_PASSWORD), 200 if not form.errors else 400
