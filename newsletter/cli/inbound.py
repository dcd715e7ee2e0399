"""`flask newsletter inbound poll|classify` (DESIGN.md section 9)."""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup

from newsletter.cli.group import newsletter_cli

inbound_cli = AppGroup("inbound", help="The reply mailbox: replies, bounces, complaints.")
newsletter_cli.add_command(inbound_cli)


@inbound_cli.command("poll")
def poll_command() -> None:
    """One pass over the configured mailbox (NEWSLETTER_INBOUND)."""
    from newsletter.extensions import db
    from newsletter.inbound.mailbox import SourceError
    from newsletter.inbound.poll import poll

    try:
        result = poll(db.session, current_app.config)
    except SourceError as exc:
        raise click.ClickException(str(exc)) from None
    except Exception as exc:  # noqa: BLE001 - e.g. the IMAP connection dropped mid-pass
        db.session.rollback()
        raise click.ClickException(f"the pass stopped ({type(exc).__name__}: {exc}); what was "
                                   "committed is kept, the rest is read again next time") from None
    _send_queued_mail()
    click.echo(result.summary())


def _send_queued_mail() -> None:
    """Confirmations and verification links go out now; the worker retries what fails."""
    from newsletter.extensions import db
    from newsletter.models import utcnow
    from newsletter.sending import mailer

    mailer.send_committed(db.session, current_app.config, None, utcnow())


@inbound_cli.command("classify")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def classify_command(files: tuple[str, ...], as_json: bool) -> None:
    """Print the verdict for each message file; touches no database."""
    from newsletter.inbound.classify import classify

    max_bytes = current_app.config.get("NEWSLETTER_INBOUND_MAX_BYTES", 25 * 1024 * 1024)
    failed = False
    for path in files:
        try:
            with open(path, "rb") as fh:
                raw = fh.read()
        except OSError as exc:
            click.echo(f"{path}: cannot read: {exc.strerror}", err=True)
            failed = True
            continue
        verdict = classify(raw, max_bytes=max_bytes)
        if as_json:
            click.echo(json.dumps({"path": path, **verdict.to_json()}, ensure_ascii=False))
        else:
            click.echo(f"{path}: {verdict.kind.value} {verdict.recipient or '-'}  "
                       f"({'; '.join(verdict.reasons)})")
    if failed:
        raise SystemExit(1)


@inbound_cli.command("export-labelled")
@click.argument("directory", type=click.Path(file_okay=False))
def export_labelled(directory: str) -> None:
    """Write messages a person reclassified as .eml files plus an expected.tsv table."""
    from pathlib import Path

    from newsletter.extensions import db
    from newsletter.inbound.inbox import labelled_examples

    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    rows = labelled_examples(db.session)
    lines = ["path\tverdict\tnote"]
    for row in rows:
        name = f"inbound-{row.id}.eml"
        (target / name).write_bytes(row.raw)
        lines.append(f"{name}\t{row.human_verdict}\tclassified {row.verdict}, relabelled by "
                     f"{row.handled_by or 'a person'}")
    (target / "expected.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    click.echo(len(rows))
