"""CLI: API tokens (create with a role and an expiry, list, revoke)."""

from __future__ import annotations

from datetime import datetime, timedelta

import click
from sqlalchemy import select

from newsletter import api_tokens
from newsletter.cli.group import newsletter_cli, parse_moment
from newsletter.extensions import db
from newsletter.models import ApiToken, Role, utcnow


@newsletter_cli.group("api-token")
def api_token() -> None:
    """Manage JSON API tokens."""


def _expiry(expires: str | None, days: int | None, now: datetime) -> datetime | None:
    if expires and days is not None:
        raise click.ClickException("give --expires or --days, not both")
    if days is not None:
        if days < 1:
            raise click.ClickException("--days must be at least 1")
        return now + timedelta(days=days)
    return parse_moment(expires or None, "--expires")


@api_token.command("create")
@click.argument("name")
@click.option("--role", type=click.Choice([r.value for r in Role]), default=Role.admin.value,
              show_default=True, help="What the token may do.")
@click.option("--expires", help="ISO 8601 date or time (UTC unless it has an offset).")
@click.option("--days", type=int, help="Expires this many days from now.")
def api_token_create(name: str, role: str, expires: str | None, days: int | None) -> None:
    """Create a token; prints it once, then its id."""
    now = utcnow()
    try:
        row, token = api_tokens.create(db.session, name, actor="cli", now=now, role=Role(role),
                                       expires_at=_expiry(expires, days, now))
    except api_tokens.ApiTokenError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"token (shown once): {token}")
    click.echo(row.id)


@api_token.command("list")
def api_token_list() -> None:
    """Every token: id, name, role, state, expiry, last use (never the secret)."""
    now = utcnow()
    for row in db.session.scalars(select(ApiToken).order_by(ApiToken.id)):
        expiry = f"{row.expires_at:%Y-%m-%d %H:%M}" if row.expires_at else "never"
        used = f"{row.last_used_at:%Y-%m-%d %H:%M}" if row.last_used_at else "never"
        click.echo(f"{row.id}\t{row.name}\t{row.role.value}\t{api_tokens.state(row, now)}"
                   f"\texpires {expiry}\tlast used {used}")


@api_token.command("revoke")
@click.argument("token_id", type=int)
def api_token_revoke(token_id: int) -> None:
    """Revoke a token by id; it stops working at once."""
    row = db.session.get(ApiToken, token_id) if 0 < token_id < 2**31 else None
    if row is None:
        raise click.ClickException(f"no API token {token_id}")
    if api_tokens.revoke(db.session, row, actor="cli", now=utcnow()):
        db.session.commit()
        click.echo(f"revoked {row.id} ({row.name})")
    else:
        click.echo(f"{row.id} ({row.name}) was already revoked")
