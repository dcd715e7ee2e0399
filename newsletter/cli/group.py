"""The `flask newsletter` command group; each module of `newsletter.cli` adds commands to it,
and the one way its options read a moment in time."""

import getpass
import socket
from datetime import UTC, datetime

import click
from flask.cli import AppGroup, with_appcontext


@with_appcontext
def _acting_from_the_shell() -> None:
    """Audit rows a command writes say where it ran: "cli:<OS user>@<host>" (the app context
    pushed here is the one the command runs in, so its session carries the origin)."""
    from newsletter.extensions import db
    from newsletter.privacy import audit

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (some containers)
        user = "unknown"
    audit.acting_from(db.session, f"cli:{user}@{socket.gethostname()}")


newsletter_cli = AppGroup("newsletter", help="Run and manage the newsletter service.",
                          callback=_acting_from_the_shell)


def parse_moment(value: str | None, label: str) -> datetime | None:
    """An ISO 8601 option as an aware UTC datetime (naive means UTC); None stays None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(f"{label}: not an ISO 8601 date or time: {value}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
