"""`flask newsletter audit verify` (DESIGN.md section 9): check the audit hash chain."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from newsletter.cli.group import newsletter_cli

audit_cli = AppGroup("audit", help="The audit trail and its hash chain.")
newsletter_cli.add_command(audit_cli)


@audit_cli.command("verify")
def verify_command() -> None:
    """Seal new rows, recompute the chain; exit 1 naming the first row that does not match."""
    from newsletter.extensions import db
    from newsletter.privacy import audit

    result = audit.verify(db.session, current_app.config["NEWSLETTER_SUPPRESSION_KEY"])
    db.session.commit()  # keep what was sealed, even when a row further on is broken
    if result.problem:
        raise click.ClickException(result.problem)
    click.echo(f"{result.rows} rows verified; head seq {result.head_seq}")
    # The last line is the head: write it down elsewhere, and a cut-off tail shows too.
    click.echo(result.head_hash)
