"""CLI: API tokens."""

from __future__ import annotations

import secrets

import click

from newsletter.cli import newsletter_cli
from newsletter.extensions import db
from newsletter.models import ApiToken
from newsletter.web.api import hash_token


@newsletter_cli.group("api-token")
def api_token() -> None:
    """Manage JSON API tokens."""


@api_token.command("create")
@click.argument("name")
def api_token_create(name: str) -> None:
    """Create a token; prints it once, then its id."""
    token = secrets.token_urlsafe(32)
    row = ApiToken(name=name, token_hash=hash_token(token))
    db.session.add(row)
    db.session.commit()
    click.echo(f"token (shown once): {token}")
    click.echo(row.id)
