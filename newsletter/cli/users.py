"""CLI: admin users (list, invite by mail, deactivate and reactivate)."""

from __future__ import annotations

import click
from flask import current_app
from sqlalchemy import select

from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.models import AdminUser, Role, utcnow
from newsletter.sending import mailer
from newsletter.users import accounts


@newsletter_cli.group("users")
def users() -> None:
    """Manage the people who use the admin UI."""


def _user(email: str) -> AdminUser:
    user = accounts.by_email(db.session, email)
    if user is None:
        raise click.ClickException(f"no admin user {email}")
    return user


@users.command("list")
def users_list() -> None:
    """Every user: email, role, state, second factor, last login."""
    for user in db.session.scalars(select(AdminUser).order_by(AdminUser.email)):
        state = "deactivated" if not user.active else "invited" if not user.password_hash else "active"
        login = f"{user.last_login_at:%Y-%m-%d %H:%M}" if user.last_login_at else "never"
        click.echo(f"{user.email}\t{user.role.value}\t{state}\t2fa {'on' if user.has_totp else 'off'}"
                   f"\tlast login {login}")


@users.command("invite")
@click.argument("email")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.marketer.value,
              show_default=True)
def users_invite(email: str, role: str) -> None:
    """Create a user and mail them a link to choose a password; prints their id."""
    now = utcnow()
    try:
        user, mail = accounts.invite(db.session, current_app.config, email=email, role=Role(role),
                                     actor="cli", now=now)
    except accounts.UserError as exc:
        raise click.ClickException(str(exc)) from None
    sent = mailer.commit_and_send(db.session, current_app.config, [mail], now)
    click.echo(f"invited {user.email} as {role}" + ("" if sent else " (the mail is queued for the worker)"))
    click.echo(user.id)


@users.command("deactivate")
@click.argument("email")
def users_deactivate(email: str) -> None:
    """The user can no longer log in; their sessions end at once."""
    user = _user(email)
    try:
        changed = accounts.deactivate(db.session, user, actor="cli", now=utcnow())
    except accounts.UserError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"deactivated {user.email}" if changed else f"{user.email} was already deactivated")


@users.command("reactivate")
@click.argument("email")
def users_reactivate(email: str) -> None:
    """The user may log in again."""
    user = _user(email)
    changed = accounts.reactivate(db.session, user, actor="cli", now=utcnow())
    db.session.commit()
    click.echo(f"reactivated {user.email}" if changed else f"{user.email} was already active")
