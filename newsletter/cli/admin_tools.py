"""CLI: API tokens."""

from __future__ import annotations

import click

from newsletter import api_tokens
from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.models import utcnow


@newsletter_cli.group("api-token")
def api_token() -> None:
    """Manage JSON API tokens."""


@api_token.command("create")
@click.argument("name")
def api_token_create(name: str) -> None:
    """Create a token; prints it once, then its id."""
    row, token = api_tokens.create(db.session, name, actor="cli", now=utcnow())
    db.session.commit()
    click.echo(f"token (shown once): {token}")
    click.echo(row.id)
