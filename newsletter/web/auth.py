"""Admin login and logout."""

from __future__ import annotations

from functools import cache

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from newsletter.extensions import db, limiter, login_manager
from newsletter.models import AdminUser

bp = Blueprint("auth", __name__)

# Compared against when the address is unknown, so both paths cost one hash check (no timing
# difference that would tell an attacker which addresses have accounts).
@cache
def _dummy_hash() -> str:
    return generate_password_hash("no such user")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


@login_manager.user_loader
def load_user(user_id: str) -> AdminUser | None:
    return db.session.get(AdminUser, int(user_id)) if user_id.isdigit() else None


def _login_limit() -> str:
    return current_app.config["NEWSLETTER_LOGIN_RATE_LIMIT"]


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=lambda response: response.status_code != 302)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
        if user is None:
            check_password_hash(_dummy_hash(), form.password.data)
        elif user.active and user.check_password(form.password.data):
            login_user(user)
            target = request.args.get("next", "")
            # Only local paths: an open redirect would make our login page a phishing tool.
            if not target.startswith("/") or target.startswith("//"):
                target = url_for("admin.dashboard")
            return redirect(target)
        flash("Wrong email or password.", "error")
        return render_template("admin/login.html", form=form), 401
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
def logout():
    logout_user()
    return redirect(url_for("auth.login"))
