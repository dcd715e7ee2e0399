"""Admin login and logout."""

from __future__ import annotations

import unicodedata
from functools import cache
from urllib.parse import unquote, urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length

from newsletter.extensions import db, limiter, login_manager
from newsletter.models import MAX_ID, AdminUser

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
def load_user(session_id: str) -> AdminUser | None:
    """The user a session cookie names, if the session has not been ended since it was made."""
    user_id, _, version = session_id.partition(":")
    if not (user_id.isdigit() and version.isdigit()) or int(user_id) > MAX_ID:
        return None
    user = db.session.get(AdminUser, int(user_id))
    # A stale version: the user logged out, or the password or role changed, after this login.
    if user is None or user.session_version != int(version):
        return None
    return user


def safe_next(target: str) -> str | None:
    r"""`target` if a browser would read it as a path on this site, else None.

    Browsers drop tab, CR and LF anywhere in a URL and read a backslash as a slash, so
    `/\t/evil.example` and `/\evil.example` both mean `//evil.example`: another site.
    The value is checked as given and once more percent-decoded.

    >>> safe_next("/admin/campaigns?page=2")
    '/admin/campaigns?page=2'
    >>> [safe_next(t) for t in ("/\t/evil.example", "/%09/evil.example", "//evil.example",
    ...                         "/\\evil.example", "https://evil.example/", "admin/")]
    [None, None, None, None, None, None]
    """
    for candidate in (target, unquote(target)):
        if "\\" in candidate or any(unicodedata.category(c) == "Cc" for c in candidate):
            return None
        if not candidate.startswith("/") or candidate.startswith("//"):
            return None
    parts = urlsplit(target)
    return target if not (parts.scheme or parts.netloc) else None


def _login_limit() -> str:
    return current_app.config["NEWSLETTER_LOGIN_RATE_LIMIT"]


def _account_limit() -> str:
    return current_app.config["NEWSLETTER_LOGIN_ACCOUNT_RATE_LIMIT"]


def _account_key() -> str:
    """The per-account limit's key: the address as typed (normalised), known or not, so a limited
    answer does not tell whether the account exists."""
    return "login-account:" + request.form.get("email", "").strip().lower()[:254]


def _failed(response) -> bool:
    return response.status_code != 302


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
# Beside the per-IP limit: guessing one account's password from many addresses is limited too.
@limiter.limit(_account_limit, methods=["POST"], deduct_when=_failed, key_func=_account_key)
def login():
    form = LoginForm()
    if form.validate_on_submit():
        email = form.email.data.strip().lower()
        user = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
        if user is None:
            check_password_hash(_dummy_hash(), form.password.data)
        elif user.active and user.check_password(form.password.data):
            login_user(user)
            # Only local paths: an open redirect would make our login page a phishing tool.
            target = safe_next(request.args.get("next", "")) or url_for("admin.dashboard")
            return redirect(target)
        flash("Wrong email or password.", "error")
        return render_template("admin/login.html", form=form), 401
    return render_template("admin/login.html", form=form)


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        # Ends every session of this user server-side: a copied cookie stops working too.
        current_user.end_sessions()
        db.session.commit()
    logout_user()
    return redirect(url_for("auth.login"))
