"""Admin login (password, then the second factor when the user has one) and logout.

A login is an AdminSession row (users/sessions.py); the cookie keeps its random key under
`SESSION_KEY`, and `load_user` accepts the cookie only while that row is live.
"""

from __future__ import annotations

import unicodedata
from functools import cache
from urllib.parse import unquote, urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from werkzeug.security import check_password_hash, generate_password_hash
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Length

from newsletter.extensions import db, limiter, login_manager
from newsletter.models import MAX_ID, AdminUser, utcnow
from newsletter.users import sessions, twofactor

bp = Blueprint("auth", __name__)

SESSION_KEY = "admin_session"
PENDING = "pending_2fa"  # between the password and the code: who, which version, since when
PENDING_SECONDS = 300

# Compared against when the address is unknown, so both paths cost one hash check (no timing
# difference that would tell an attacker which addresses have accounts).
@cache
def _dummy_hash() -> str:
    return generate_password_hash("no such user")


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired("Enter your password."),
                                                     Length(max=1024)])


class CodeForm(FlaskForm):
    code = StringField("Code", validators=[DataRequired("Enter the code from your app."),
                                           Length(max=32)])


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
    # And the one login this cookie belongs to must not have been ended from the sessions page.
    if sessions.current(db.session, user, session.get(SESSION_KEY), utcnow()) is None:
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
            # Only local paths: an open redirect would make our login page a phishing tool.
            target = safe_next(request.args.get("next", "")) or url_for("admin.dashboard")
            if user.has_totp:
                session[PENDING] = {"user": user.id, "version": user.session_version,
                                    "at": utcnow().timestamp(), "next": target}
                return redirect(url_for("auth.login_code"))
            log_in(user)
            return redirect(target)
        flash("Wrong email or password.", "error")
        return render_template("admin/login.html", form=form), 401
    return render_template("admin/login.html", form=form)


def _code_key() -> str:
    """The per-account limit of the code step: guessing codes from many addresses is limited."""
    return f"login-code:{(session.get(PENDING) or {}).get('user')}"


@bp.route("/login/code", methods=["GET", "POST"])
@limiter.limit(_login_limit, methods=["POST"], deduct_when=_failed)
@limiter.limit(_account_limit, methods=["POST"], deduct_when=_failed, key_func=_code_key)
def login_code():
    """The second step for a user with TOTP: a code from the app, or a recovery code."""
    pending = session.get(PENDING) or {}
    user = db.session.get(AdminUser, pending["user"]) if isinstance(pending.get("user"), int) else None
    if (user is None or not user.active or user.session_version != pending.get("version")
            or utcnow().timestamp() - pending.get("at", 0) > PENDING_SECONDS):
        session.pop(PENDING, None)
        flash("Log in again: the time to type the code ran out.", "error")
        return redirect(url_for("auth.login"))
    form = CodeForm()
    if form.validate_on_submit():
        now = utcnow()
        if twofactor.verify(db.session, current_app.config, user, form.code.data, now=now):
            session.pop(PENDING, None)
            log_in(user)
            return redirect(safe_next(pending.get("next", "")) or url_for("admin.dashboard"))
        db.session.commit()  # the replay guard (totp_last_step) is kept even on a wrong code
        form.code.errors.append("That code is not right. Type the 6 digits your app shows now, "
                                "or one of your recovery codes.")
        return render_template("admin/login_code.html", form=form), 401
    return render_template("admin/login_code.html", form=form)


def log_in(user: AdminUser) -> None:
    """Start a recorded session for a user who has proved who they are (and commit)."""
    key = sessions.start(db.session, user, ip=request.remote_addr,
                         user_agent=request.user_agent.string, now=utcnow())
    db.session.commit()
    login_user(user)
    session[SESSION_KEY] = key


@bp.post("/logout")
def logout():
    if current_user.is_authenticated:
        # Ends this login server-side: a copied cookie stops working too.
        sessions.end_key(db.session, session.get(SESSION_KEY), utcnow())
        db.session.commit()
    session.pop(SESSION_KEY, None)
    logout_user()
    return redirect(url_for("auth.login"))
