"""`flask newsletter policy ...`: publish, list and show privacy-policy versions; sweep the
notices whose deadline has passed (DESIGN.md section 9)."""

from __future__ import annotations

from pathlib import Path

import click
from flask import current_app

from newsletter.cli.group import newsletter_cli, parse_moment
from newsletter.extensions import db
from newsletter.models import PolicyVersion, utcnow
from newsletter.privacy import policy


@newsletter_cli.group("policy")
def policy_cli() -> None:
    """Privacy-policy versions and the notices owed about them."""


@policy_cli.command("publish")
@click.option("--file", "path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The policy text (Markdown).")
@click.option("--summary", required=True, help="What changed, as the notice will say it.")
@click.option("--material", is_flag=True, help="A material change: every subscriber is told.")
@click.option("--effective-at", help="When it takes effect (ISO 8601, UTC if no offset).")
@click.option("--deadline", help="Notice deadline (default: NEWSLETTER_POLICY_NOTICE_DAYS).")
def publish(path: str, summary: str, material: bool, effective_at: str | None,
            deadline: str | None) -> None:
    """Publish a new version (never edited afterwards); prints its id."""
    try:
        version = policy.publish(
            db.session, body=Path(path).read_text(encoding="utf-8"), summary=summary,
            material=material, now=utcnow(), config=current_app.config, actor="cli",
            effective_at=parse_moment(effective_at, "--effective-at"),
            deadline=parse_moment(deadline, "--deadline"))
    except policy.PolicyError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(version.id)


@policy_cli.command("list")
def list_versions() -> None:
    """Every version, newest first, with how many were told and how many still owe."""
    counts = policy.stats(db.session)
    for version in policy.versions(db.session):
        told = counts.get(version.id, {})
        click.echo(f"{version.id}\tv{version.version}\t{version.published_at:%Y-%m-%d %H:%M}\t"
                   f"effective {version.effective_at:%Y-%m-%d %H:%M}\t"
                   f"{'material' if version.material else 'minor'}\t"
                   f"newsletter {told.get('newsletter', 0)} standalone "
                   f"{told.get('standalone', 0)} owed {told.get('owed', 0)}\t{version.summary}")


@policy_cli.command("show")
@click.argument("version_id", type=int)
def show(version_id: int) -> None:
    """One version: dates, summary and the full text."""
    version = db.session.get(PolicyVersion, version_id)
    if version is None:
        raise click.ClickException(f"no policy version {version_id}")
    click.echo(f"version {version.version} (id {version.id})\n"
               f"published {version.published_at:%Y-%m-%d %H:%M} UTC by {version.published_by}\n"
               f"effective {version.effective_at:%Y-%m-%d %H:%M} UTC\n"
               f"material: {'yes' if version.material else 'no'}\n"
               f"notice deadline: {version.notice_deadline:%Y-%m-%d %H:%M} UTC\n"
               f"summary: {version.summary}\n\n{version.body}")


@policy_cli.command("sweep")
def sweep() -> None:
    """One pass: queue a standalone notice for whoever still owes one past its deadline (the
    worker sends the queue, at the configured rate)."""
    click.echo(f"queued {policy.sweep(db.session, current_app.config, utcnow())}")
