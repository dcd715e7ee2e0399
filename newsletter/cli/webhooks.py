"""CLI: outgoing event webhooks (add, list, remove, send one pass now)."""

from __future__ import annotations

import sys

import click
from flask import current_app
from sqlalchemy import select

from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.integrations import webhooks
from newsletter.models import Webhook, utcnow


@newsletter_cli.group("webhook")
def webhook() -> None:
    """Outgoing event webhooks."""


@webhook.command("add")
@click.argument("url")
@click.option("--event", "events", multiple=True, required=True,
              type=click.Choice([e.value for e in webhooks.Event]), help="Repeat for each event.")
@click.option("--secret-stdin", is_flag=True, help="Read the signing secret from standard input.")
def webhook_add(url: str, events: tuple[str, ...], secret_stdin: bool) -> None:
    """Register URL for the events; prints the secret (unless given), then the id."""
    secret = sys.stdin.readline().strip() if secret_stdin else None
    now = utcnow()
    try:
        registered = webhooks.register(db.session, url=url, events=list(events), secret=secret,
                                       actor="cli", now=now, config=current_app.config)
    except webhooks.WebhookError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    if not secret_stdin:
        click.echo(f"secret: {registered.secret}")
    click.echo(registered.webhook.id)


@webhook.command("list")
def webhook_list() -> None:
    """One line per webhook: id, URL, events."""
    for row in db.session.scalars(select(Webhook).order_by(Webhook.id)):
        click.echo(f"{row.id}\t{row.url}\t{','.join(row.events)}")


@webhook.command("remove")
@click.argument("webhook_id", type=int)
def webhook_remove(webhook_id: int) -> None:
    """Remove a webhook and its queue."""
    if not webhooks.remove(db.session, webhook_id, actor="cli", now=utcnow()):
        raise click.ClickException(f"no webhook {webhook_id}")
    db.session.commit()
    click.echo(f"removed {webhook_id}")


@webhook.command("send")
def webhook_send() -> None:
    """Send due deliveries now (what the scheduler does every 10 seconds)."""
    click.echo(f"accepted {webhooks.send_due(db.session, current_app.config, utcnow())}")
