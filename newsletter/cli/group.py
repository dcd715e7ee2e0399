"""The `flask newsletter` command group; each module of `newsletter.cli` adds commands to it,
and the one way its options read a moment in time."""

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

newsletter_cli = AppGroup("newsletter", help="Run and manage the newsletter service.")


def parse_moment(value: str | None, label: str) -> datetime | None:
    """An ISO 8601 option as an aware UTC datetime (naive means UTC); None stays None."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(f"{label}: not an ISO 8601 date or time: {value}") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)
