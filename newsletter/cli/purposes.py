"""`flask newsletter purpose create|announce|list`: new uses of data (DESIGN.md section 9)."""

from __future__ import annotations

import click
from flask import current_app

from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.privacy import purposes
from newsletter.privacy.consent import OPT_IN, OPT_OUT


@newsletter_cli.group("purpose")
def purpose_cli() -> None:
    """New uses of personal data and the consent to them."""


@purpose_cli.command("create")
@click.argument("slug")
@click.option("--name", required=True, help="What the use is called (the subject of the mail).")
@click.option("--description", required=True, help="What the data will be used for.")
@click.option("--opt-in-countries",
              help="CC,CC,... where people must opt in (default: "
                   "NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES); unknown countries always opt in.")
def create(slug: str, name: str, description: str, opt_in_countries: str | None) -> None:
    """Add a purpose (never edited afterwards); prints its slug."""
    try:
        purpose = purposes.create(db.session, slug=slug, name=name, description=description,
                                  now=utcnow(), config=current_app.config, actor="cli",
                                  opt_in_countries=opt_in_countries)
    except purposes.PurposeError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"opt-in countries: {','.join(purpose.opt_in_countries) or '(none)'}")
    click.echo(purpose.slug)


@purpose_cli.command("announce")
@click.argument("slug")
def announce(slug: str) -> None:
    """Mail everyone not yet told about the purpose, once, in their mode (the worker sends the
    queue, at the configured rate)."""
    try:
        purpose = purposes.by_slug(db.session, slug)
    except purposes.PurposeError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"queued {purposes.announce(db.session, current_app.config, purpose, utcnow(), 'cli')}")


@purpose_cli.command("list")
def list_purposes() -> None:
    """Every purpose: slug, told (opt-in / opt-out), consenting now, opt-in countries, name."""
    counts = purposes.stats(db.session)
    for purpose in purposes.all_purposes(db.session):
        told = counts[purpose.id]
        click.echo(f"{purpose.slug}\ttold opt-in {told[OPT_IN]} opt-out {told[OPT_OUT]}\t"
                   f"consenting {told['consenting']}\t"
                   f"opt-in: {','.join(purpose.opt_in_countries) or '-'}\t{purpose.name}")
