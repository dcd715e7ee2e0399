"""CLI: lists, subscribing and importing (DESIGN.md section 9)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.models import ConsentMethod, MailingList, utcnow
from newsletter.sending import mailer
from newsletter.subscribers import exports, imports, lists, segments, subscriptions


@newsletter_cli.group("lists")
def lists_group() -> None:
    """Manage mailing lists."""


@lists_group.command("create")
@click.argument("slug")
@click.option("--name", required=True)
@click.option("--description", default="")
@click.option("--sender-name", default="")
@click.option("--sender-address", default="")
@click.option("--no-double-opt-in", is_flag=True, help="Subscribe without a confirmation mail.")
@click.option("--public", is_flag=True, help="Offer the list on the public pages.")
@click.option("--if-no-lists", is_flag=True, help="Do nothing when any list exists (first start).")
@click.option("--default-language", default=None,
              help="Pages and system mail for subscribers who chose no language (default en).")
@click.option("--postal-address", default="",
              help="One line in every newsletter's footer (default NEWSLETTER_POSTAL_ADDRESS).")
def lists_create(slug: str, name: str, description: str, sender_name: str, sender_address: str,
                 no_double_opt_in: bool, public: bool, if_no_lists: bool,
                 default_language: str | None, postal_address: str) -> None:
    """Create a list; prints its slug."""
    if if_no_lists and db.session.scalar(select(MailingList.id).limit(1)) is not None:
        return
    try:
        mailing_list = lists.create_list(db.session, slug, lists.ListFields(
            name=name, description=description, sender_name=sender_name,
            sender_address=sender_address, public=public, double_opt_in=not no_double_opt_in,
            default_language=default_language, postal_address=postal_address,
        ), now=utcnow())
    except lists.ListError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(mailing_list.slug)


def _list_or_fail(slug: str):
    mailing_list = lists.find_list(db.session, slug)
    if mailing_list is None:
        raise click.ClickException(f"no list with the slug {slug!r}")
    return mailing_list


@newsletter_cli.command("subscribe")
@click.argument("email")
@click.option("--list", "slug", required=True, help="The list's slug.")
@click.option("--name", default="")
@click.option("--country", default="", help="ISO 3166 code, e.g. DE.")
def subscribe(email: str, slug: str, name: str, country: str) -> None:
    """Subscribe an address; sends the confirmation mail (double opt-in lists). Prints its id."""
    mailing_list = _list_or_fail(slug)
    try:
        outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email=email, lists=[mailing_list], method=ConsentMethod.cli, name=name,
            country=country or None, wording="Subscribed by an operator on the command line.",
            actor="cli"), now=utcnow(), config=current_app.config)
    except subscriptions.SubscribeError as exc:
        raise click.ClickException(str(exc)) from None
    if outcome.suppressed:
        raise click.ClickException("the address is on the suppression list; nothing was done")
    subscriber_id = outcome.subscriber.id
    sent = mailer.commit_and_send(db.session, current_app.config, outcome.mails, utcnow())
    state = "pending confirmation" if outcome.pending else "active"
    click.echo(f"{email}: {state}; {sent} of {len(outcome.mails)} mail(s) sent now")
    click.echo(subscriber_id)


@newsletter_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--list", "slug", required=True, help="The list's slug.")
@click.option("--consent-basis", type=click.Choice(imports.CONSENT_BASES), default="double-opt-in",
              show_default=True, help="existing: consent was given before (no confirmation mail).")
@click.option("--dry-run", is_flag=True, help="Check every row and report; change nothing.")
@click.option("--batch-size", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--encoding", default=None,
              help="The file's encoding (e.g. cp1252); default: detected, refused when unclear.")
def import_command(file: Path, slug: str, consent_basis: str, dry_run: bool, batch_size: int,
                   encoding: str | None) -> None:
    """Import a CSV file (email, optional name, country, any other column an attribute; or a
    Mailchimp, listmonk, Sendy or Substack export as it is) into a list."""
    mailing_list = _list_or_fail(slug)

    def on_error(line: int, message: str) -> None:
        click.echo(f"{file.name}:{line}: {message}", err=True)

    with file.open("rb") as binary:
        try:
            stream = imports.open_csv(binary, encoding)
            report = imports.import_csv(
                db.session, stream, mailing_list.id, consent_basis=consent_basis, now=utcnow(),
                config=current_app.config, dry_run=dry_run, batch_size=batch_size,
                source=file.name, on_error=on_error, actor="cli")
        except imports.ImportFormatError as exc:
            raise click.ClickException(str(exc)) from None
    db.session.commit()  # the audit row of the import
    verb = "would be" if dry_run else "were"
    click.echo(f"{report.rows} rows: {report.subscribed} {verb} subscribed, {report.pending} "
               f"{verb} asked to confirm, {report.unchanged} unchanged, {report.suppressed} "
               f"suppressed, {report.skipped} skipped, {report.failed} bad")
    click.echo(f"read as {report.format} export; attributes: {', '.join(report.attributes) or '-'}")
    if not dry_run and report.mails_queued:
        click.echo(f"{report.mails_queued} confirmation mail(s) queued; the worker sends them")
    if report.failed:
        raise click.ClickException(f"{report.failed} row(s) could not be imported (see above)")


@newsletter_cli.command("export")
@click.option("--list", "slug", default=None, help="The list's slug.")
@click.option("--segment", "segment_slug", default=None,
              help="A segment's slug instead: the members of its list whom its filters match.")
@click.option("--output", type=click.Path(dir_okay=False, writable=True, path_type=Path),
              help="Write to this file (default: standard output).")
def export_command(slug: str | None, segment_slug: str | None, output: Path | None) -> None:
    """A list's (or a segment's) subscribers as CSV (cells that would start a formula are
    escaped)."""
    if (slug is None) == (segment_slug is None):
        raise click.ClickException("name one of --list or --segment")
    if segment_slug is not None:
        segment = segments.find(db.session, segment_slug)
        if segment is None:
            raise click.ClickException(f"no segment {segment_slug!r}")
        lines = exports.export_segment(db.session, segment, actor="cli", now=utcnow())
    else:
        lines = exports.export_list(db.session, _list_or_fail(slug), actor="cli", now=utcnow())
    db.session.commit()  # the audit row, before a byte leaves
    if output is None:
        for line in lines:
            click.echo(line, nl=False)
        return
    with output.open("w", encoding="utf-8", newline="") as out:
        out.writelines(lines)
    click.echo(str(output))
