"""Admin accounts: invite, set a password by mailed link, roles, deactivation, password change
and reset, and the one setting "every user needs a second factor".

Each function takes a session, the config and `now`, flushes, and writes its audit row; the
caller commits and says who acted. The mail (invitation, reset link) is only queued here
(sending/mailer.py): a request that talked SMTP would answer slower for a known address than for
an unknown one, and the reset form must not tell which addresses have accounts.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import render_template
from sqlalchemy import select
from sqlalchemy.orm import Session

from newsletter import tokens
from newsletter.models import AdminSetting, AdminUser, OutboundMail, Role
from newsletter.privacy import audit
from newsletter.sending import mailer
from newsletter.subscribers.addresses import InvalidEmail, normalise_email

MIN_PASSWORD = 10
MAX_PASSWORD = 1024
INVITE_KIND = "admin-invite"
RESET_KIND = "password-reset"
RESETS_PER_HOUR = 3  # reset mails to one address per hour: the form cannot flood a mailbox
REQUIRE_2FA = "require_2fa"
SUBJECT = "admin_user"


class UserError(ValueError):
    """A request about an account cannot be carried out; the message is shown to the person."""

    def __init__(self, message: str, field_name: str = ""):
        super().__init__(message)
        self.field_name = field_name


def by_email(session: Session, email: str) -> AdminUser | None:
    """The account with this address (as typed, normalised loosely), or None."""
    return session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()[:254]))


def check_password_rules(password: str, repeated: str | None = None) -> None:
    """Raise UserError unless the new password is long enough (and typed the same twice)."""
    if len(password) < MIN_PASSWORD:
        raise UserError(f"Choose a password of at least {MIN_PASSWORD} characters.", "password")
    if len(password) > MAX_PASSWORD:
        raise UserError(f"Choose a password of at most {MAX_PASSWORD} characters.", "password")
    if repeated is not None and repeated != password:
        raise UserError("The two passwords are not the same. Type the new password twice.", "repeat")


def fingerprint(user: AdminUser) -> str:
    """Changes whenever the password does: a link carrying it works until a password is set."""
    return hashlib.sha256(f"{user.id}:{user.password_hash}".encode()).hexdigest()[:16]


# -- invitation -----------------------------------------------------------------------------

def invite(session: Session, config: Mapping, *, email: str, role: Role, actor: str,
           now: datetime) -> tuple[AdminUser, OutboundMail]:
    """Create an account without a password and queue the mail with its set-password link."""
    try:
        email = normalise_email(email)
    except InvalidEmail:
        raise UserError("Enter the email address of the person to invite, like name@example.org.",
                        "email") from None
    if by_email(session, email) is not None:
        raise UserError(f"{email} already has an account.", "email")
    user = AdminUser(email=email, role=role, password_hash="", invited_at=now, active=True)
    session.add(user)
    session.flush()
    audit.record(session, actor=actor, action="user.invite", subject_type=SUBJECT,
                 subject_id=user.id, now=now, detail={"role": role.value})
    return user, _queue_invite(session, config, user, now)


def resend_invite(session: Session, config: Mapping, user: AdminUser, *, actor: str,
                  now: datetime) -> OutboundMail:
    """A fresh invitation mail for an account that has not set a password yet."""
    if user.password_hash:
        raise UserError(f"{user.email} has already set a password.")
    audit.record(session, actor=actor, action="user.invite-resend", subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return _queue_invite(session, config, user, now)


def _queue_invite(session: Session, config: Mapping, user: AdminUser, now: datetime) -> OutboundMail:
    days = config["NEWSLETTER_INVITE_MAX_AGE_DAYS"]
    url = _link(config, tokens.INVITE, "invite", user)
    text = render_template("email/admin_invite.txt", user=user, url=url, days=days,
                           base_url=config["NEWSLETTER_BASE_URL"])
    mail = mailer.build_message(config, to=user.email, subject="You are invited to the newsletter admin",
                                text=text, now=now)
    return mailer.queue(session, kind=INVITE_KIND, mail=mail, now=now)


# -- the mailed links -------------------------------------------------------------------------

def _link(config: Mapping, purpose: tokens.Purpose, path: str, user: AdminUser) -> str:
    token = tokens.sign(config["SECRET_KEY"], purpose, [user.id, fingerprint(user)])
    return f"{config['NEWSLETTER_BASE_URL']}/{path}/{token}"


def read_link(session: Session, config: Mapping, purpose: tokens.Purpose, token: str) -> AdminUser:
    """The account a mailed link (invite or reset) is for, while it is valid; else UserError."""
    days = config["NEWSLETTER_INVITE_MAX_AGE_DAYS" if purpose is tokens.INVITE
                  else "NEWSLETTER_PASSWORD_RESET_MAX_AGE_MINUTES"]
    max_age = days * 86400 if purpose is tokens.INVITE else days * 60
    try:
        user_id, mark = tokens.load(config["SECRET_KEY"], purpose, token, max_age=max_age)
    except (tokens.TokenError, TypeError, ValueError) as exc:
        expired = isinstance(exc, tokens.TokenError) and exc.expired
        raise UserError("This link has expired. Ask for a new one." if expired
                        else "This link is not valid. It may have been cut short.") from None
    user = session.get(AdminUser, user_id) if isinstance(user_id, int) else None
    if user is None or not user.active or fingerprint(user) != mark:
        raise UserError("This link has already been used, or the account was changed since.")
    return user


def set_password_by_link(session: Session, config: Mapping, purpose: tokens.Purpose, token: str,
                         *, password: str, repeated: str, now: datetime) -> AdminUser:
    """Set the password of the account a valid invite or reset link names; the link is spent."""
    user = read_link(session, config, purpose, token)
    check_password_rules(password, repeated)
    user.set_password(password)  # also ends every session (models/admin.py)
    action = "user.invite-accept" if purpose is tokens.INVITE else "user.password-reset"
    audit.record(session, actor=f"admin:{user.email}", action=action, subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return user


# -- password -------------------------------------------------------------------------------

def change_password(session: Session, user: AdminUser, *, current: str, new: str, repeated: str,
                    now: datetime) -> None:
    """A user changes their own password; the current one is asked for."""
    if not user.check_password(current):
        raise UserError("That is not your current password.", "current")
    check_password_rules(new, repeated)
    user.set_password(new)
    audit.record(session, actor=f"admin:{user.email}", action="user.password-change",
                 subject_type=SUBJECT, subject_id=user.id, now=now)


def request_reset(session: Session, config: Mapping, *, email: str, now: datetime) -> OutboundMail | None:
    """Queue a reset link if the address has an active account (and few were sent lately).

    The caller answers the same whatever this returns: the form must not tell who has an account.
    """
    user = by_email(session, email)
    if user is None or not user.active:
        return None
    since = now - timedelta(hours=1)
    if mailer.queued_since(session, to=user.email, kind=RESET_KIND, since=since) >= RESETS_PER_HOUR:
        return None
    minutes = config["NEWSLETTER_PASSWORD_RESET_MAX_AGE_MINUTES"]
    url = _link(config, tokens.PASSWORD_RESET, "password/reset", user)
    text = render_template("email/password_reset.txt", user=user, url=url, minutes=minutes)
    mail = mailer.build_message(config, to=user.email, subject="Reset your newsletter admin password",
                                text=text, now=now)
    audit.record(session, actor="link", action="user.password-reset-mail", subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return mailer.queue(session, kind=RESET_KIND, mail=mail, now=now)


# -- roles and deactivation -------------------------------------------------------------------

def set_role(session: Session, user: AdminUser, role: Role, *, actor: str, now: datetime) -> bool:
    """Give a user another role (their sessions end); False if it was already theirs."""
    if user.role is role:
        return False
    _keep_an_admin(session, user, "change the role of")
    old = user.role
    user.role = role
    audit.record(session, actor=actor, action="user.role", subject_type=SUBJECT, subject_id=user.id,
                 now=now, detail={"from": old.value, "to": role.value})
    return True


def deactivate(session: Session, user: AdminUser, *, actor: str, now: datetime) -> bool:
    """The user can no longer log in, and every session of theirs ends at once."""
    if not user.active:
        return False
    _keep_an_admin(session, user, "deactivate")
    user.active = False
    user.end_sessions()
    audit.record(session, actor=actor, action="user.deactivate", subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return True


def reactivate(session: Session, user: AdminUser, *, actor: str, now: datetime) -> bool:
    """The user may log in again with their password."""
    if user.active:
        return False
    user.active = True
    audit.record(session, actor=actor, action="user.reactivate", subject_type=SUBJECT,
                 subject_id=user.id, now=now)
    return True


def _keep_an_admin(session: Session, user: AdminUser, what: str) -> None:
    """Refuse to leave the service without an active admin (nobody could manage users then)."""
    if user.role is not Role.admin or not user.active:
        return
    others = session.scalars(select(AdminUser.id).where(
        AdminUser.role == Role.admin, AdminUser.active.is_(True), AdminUser.id != user.id)).first()
    if others is None:
        raise UserError(f"You cannot {what} the last active admin. Make someone else an admin first.")


def set_timezone(session: Session, user: AdminUser, name: str, *, now: datetime) -> None:
    """The IANA zone the user reads times in; UserError for a name that is not one."""
    name = name.strip()
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError("Choose a timezone from the list, like Europe/Berlin.", "timezone") from None
    user.timezone = name
    audit.record(session, actor=f"admin:{user.email}", action="user.timezone", subject_type=SUBJECT,
                 subject_id=user.id, now=now, detail={"timezone": name})


# -- settings ---------------------------------------------------------------------------------

def two_factor_required(session: Session) -> bool:
    """True when an admin has required a second factor of every user."""
    row = session.get(AdminSetting, REQUIRE_2FA)
    return bool(row and row.value.get("on"))


def require_two_factor(session: Session, on: bool, *, actor: str, now: datetime) -> None:
    """Require (or stop requiring) a second factor of every user."""
    row = session.get(AdminSetting, REQUIRE_2FA)
    if row is None:
        row = AdminSetting(name=REQUIRE_2FA)
        session.add(row)
    row.value, row.updated_at = {"on": on}, now
    audit.record(session, actor=actor, action="settings.require-2fa", subject_type="setting",
                 subject_id=REQUIRE_2FA, now=now, detail={"on": on})
