"""`flask newsletter privacy export|erase EMAIL` and `flask newsletter retention run` (DESIGN.md
section 9)."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from newsletter.cli.group import newsletter_cli

privacy_cli = AppGroup("privacy", help="Access and erasure of a person's data.")
newsletter_cli.add_command(privacy_cli)


@privacy_cli.command("erase")
@click.argument("email")
@click.confirmation_option(prompt="Erase every personal trace of this address?")
def erase_command(email: str) -> None:
    """Erase an address now (no mailed link: the operator answers for the proof)."""
    from newsletter.extensions import db
    from newsletter.models import utcnow
    from newsletter.privacy import erasure
    from newsletter.sending import mailer
    from newsletter.subscribers.addresses import InvalidEmail, normalise_email

    try:
        email = normalise_email(email)
    except InvalidEmail as exc:
        raise click.ClickException(f"not a valid email address: {exc}") from None
    now = utcnow()
    outcome = erasure.erase(db.session, email, config=current_app.config, now=now, actor="cli")
    mailer.commit_and_send(db.session, current_app.config, [outcome.mail], now)
    if outcome.noop:
        click.echo("already erased: nothing changed")
    else:
        rows = ", ".join(f"{table} {n}" for table, n in outcome.changed.items()) or "no rows"
        click.echo(f"erased ({rows}); the confirmation mail is queued")
    click.echo(outcome.email_hash[:16])


@privacy_cli.command("export")
@click.argument("email")
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="Where to write the zip.")
def export_command(email: str, output: str) -> None:
    """Write everything held about an address into a zip (JSON and CSV); audited."""
    from newsletter.extensions import db
    from newsletter.models import utcnow
    from newsletter.privacy import export
    from newsletter.subscribers.addresses import InvalidEmail, normalise_email

    try:
        email = normalise_email(email)
    except InvalidEmail as exc:
        raise click.ClickException(f"not a valid email address: {exc}") from None
    with open(output, "wb") as out:
        counts = export.export(db.session, email, out, config=current_app.config, now=utcnow(),
                               actor="cli")
    db.session.commit()
    click.echo(", ".join(f"{table} {n}" for table, n in counts.items() if n) or "nothing held")
    click.echo(output)


retention_cli = AppGroup("retention", help="Retention periods (privacy/retention.py).")
newsletter_cli.add_command(retention_cli)


@retention_cli.command("run")
def retention_run_command() -> None:
    """One retention pass now (as the scheduler's hourly job); prints what each period removed."""
    from newsletter.extensions import db
    from newsletter.models import utcnow
    from newsletter.privacy import retention

    removed = retention.run(db.session, utcnow(), current_app.config)
    db.session.commit()
    for period, count in removed.items():
        click.echo(f"{period} {count}")
