"""`flask newsletter segments create|list`: saved filters on a list."""

from __future__ import annotations

import click
from sqlalchemy import select

from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.models import MailingList, utcnow
from newsletter.subscribers import segments


@newsletter_cli.group("segments")
def segments_cli() -> None:
    """Saved filters: who on a list a campaign goes to."""


@segments_cli.command("create")
@click.argument("slug")
@click.option("--list", "list_slug", required=True, help="The list's slug.")
@click.option("--filter", "filters", multiple=True,
              help="FIELD=VALUE (also !=, <, >, 'FIELD contains VALUE', 'FIELD is set', "
                   "'FIELD is not set'); FIELD is country, attributes.NAME, subscribed, "
                   "last_mailed (days as YYYY-MM-DD), bounce (hard|soft|none) or bounce_score. "
                   "Repeatable: all must hold.")
@click.option("--name", default="")
def create(slug: str, list_slug: str, filters: tuple[str, ...], name: str) -> None:
    """Save a segment; prints how many it reaches now, then its slug."""
    mailing_list = db.session.scalar(select(MailingList).where(MailingList.slug == list_slug))
    if mailing_list is None:
        raise click.ClickException(f"no list {list_slug!r}")
    try:
        rules = [segments.parse_filter(text) for text in filters]
        segment = segments.create(db.session, slug, mailing_list, rules, name=name, actor="cli",
                                  now=utcnow())
    except segments.SegmentError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    reach = segments.audience(db.session, [mailing_list.id], segment.id)
    click.echo(f"{segment.slug}: {mailing_list.slug} where {segments.describe(segment)}; "
               f"{reach} recipient(s) now")
    click.echo(segment.slug)


@segments_cli.command("list")
def list_segments() -> None:
    """Every segment: slug, list, filters, how many it reaches now."""
    for segment in segments.all_segments(db.session):
        reach = segments.audience(db.session, [segment.list_id], segment.id)
        click.echo(f"{segment.slug}\t{segment.mailing_list.slug}\t{segments.describe(segment)}\t"
                   f"{reach}")
