"""`flask newsletter ...`: the command line (DESIGN.md section 9).

Commands that create something print its id or slug as their last line; failures exit non-zero
with one clear line on stderr (click.ClickException does exactly that).
"""

from __future__ import annotations

import secrets
import sys

import click
from flask import current_app
from sqlalchemy import select

from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.models import AdminUser, Role, utcnow
from newsletter.privacy import audit as audit_trail
from newsletter.users import accounts


@newsletter_cli.command("create-admin")
@click.argument("email")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--role", type=click.Choice([r.value for r in Role]), default="admin", show_default=True)
@click.option("--if-missing", is_flag=True, help="Do nothing when the address already has an account.")
def create_admin(email: str, password_stdin: bool, role: str, if_missing: bool) -> None:
    """Create an admin user; prints a generated password unless one is given."""
    from newsletter.subscribers.addresses import InvalidEmail, normalise_email

    try:
        email = normalise_email(email)
    except InvalidEmail as exc:
        raise click.ClickException(f"not a valid email address: {exc}") from None
    existing = db.session.scalar(select(AdminUser).where(AdminUser.email == email))
    if existing is not None:
        if if_missing:
            click.echo(existing.id)
            return
        raise click.ClickException(f"an admin user {email} already exists")
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
        if len(password) < 10:
            raise click.ClickException("the password must have at least 10 characters")
    else:
        password = secrets.token_urlsafe(12)
        click.echo(f"Generated password for {email} (shown once): {password}")
    user = AdminUser(email=email, role=Role(role))
    user.set_password(password)
    db.session.add(user)
    db.session.flush()
    audit_trail.record(db.session, actor="cli", action="user.create", subject_type="admin_user",
                 subject_id=user.id, now=utcnow(), detail={"role": role})
    db.session.commit()
    click.echo(user.id)


def _admin_user(email: str) -> AdminUser:
    user = db.session.scalar(select(AdminUser).where(AdminUser.email == email.strip().lower()))
    if user is None:
        raise click.ClickException(f"no admin user {email}")
    return user


@newsletter_cli.command("set-password")
@click.argument("email")
def set_password(email: str) -> None:
    """Give an admin user a new password (read from standard input); ends their sessions."""
    user = _admin_user(email)
    password = sys.stdin.readline().rstrip("\n")
    if len(password) < 10:
        raise click.ClickException("the password must have at least 10 characters")
    user.set_password(password)
    audit_trail.record(db.session, actor="cli", action="user.password", subject_type="admin_user",
                 subject_id=user.id, now=utcnow())
    db.session.commit()
    click.echo(user.id)


@newsletter_cli.command("set-role")
@click.argument("email")
@click.argument("role", type=click.Choice([r.value for r in Role]))
def set_role(email: str, role: str) -> None:
    """Change an admin user's role; ends their sessions."""
    user = _admin_user(email)
    try:
        accounts.set_role(db.session, user, Role(role), actor="cli", now=utcnow())
    except accounts.UserError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(user.id)


@newsletter_cli.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, threads: int) -> None:
    """Web app (waitress) + scheduler + one delivery worker, in one process."""
    import threading

    from waitress import serve as waitress_serve

    from newsletter import scheduler
    from newsletter.sending.process import run_worker

    app = current_app._get_current_object()
    stop = threading.Event()
    sched = scheduler.start(app, blocking=False)
    worker = threading.Thread(
        target=run_worker, args=(app, stop), name="delivery-worker", daemon=True
    )
    worker.start()
    click.echo(f"newsletter serving on http://{host}:{port} (scheduler and worker running)")
    try:
        waitress_serve(app, host=host, port=port, threads=threads, ident="newsletter")
    finally:
        stop.set()
        if sched is not None:
            sched.shutdown(wait=False)


@newsletter_cli.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit.")
def worker(once: bool) -> None:
    """Run a delivery worker (any number may run, on any machine)."""
    import signal
    import threading

    from newsletter.sending import process

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    app = current_app._get_current_object()
    sent = process.run_worker(app, stop, once=once)
    if once:
        click.echo(f"sent {sent}")


@newsletter_cli.command("scheduler")
def run_scheduler() -> None:
    """Run the scheduler in the foreground (one is active per deployment; others stand by)."""
    from newsletter import scheduler

    scheduler.start(current_app._get_current_object(), blocking=True)


# Each domain adds its own sub-commands.
from newsletter.cli import (  # noqa: E402,F401
    admin_tools,
    audit,
    campaigns,
    inbound,
    policy,
    privacy,
    purposes,
    segments,
    subscribers,
    users,
    webhooks,
)
