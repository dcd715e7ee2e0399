"""`flask newsletter campaign create|duplicate|send|pause|resume|cancel|status|test|welcome`."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click
from flask import current_app
from sqlalchemy import select

from newsletter.cli.group import newsletter_cli
from newsletter.extensions import db
from newsletter.models import Campaign, MailingList, utcnow
from newsletter.privacy import purposes
from newsletter.sending import analytics, campaigns, compose, proofs, recurrence
from newsletter.subscribers import segments


@newsletter_cli.group("campaign")
def campaign_cli() -> None:
    """Write, schedule and watch newsletters."""


def _campaign(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        raise click.ClickException(f"no campaign {campaign_id}")
    return campaign


def _list_ids(slugs: tuple[str, ...]) -> list[int]:
    ids = []
    for slug in slugs:
        list_id = db.session.scalar(select(MailingList.id).where(MailingList.slug == slug))
        if list_id is None:
            raise click.ClickException(f"no list {slug!r}")
        ids.append(list_id)
    return ids


def _parse_time(value: str, tz_name: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.ClickException(f"--send-at must be ISO 8601, got {value!r}") from None
    if moment.tzinfo is None:
        try:
            return recurrence.local_to_utc(moment, tz_name)
        except recurrence.RecurrenceError as exc:
            raise click.ClickException(str(exc)) from None
    return moment.astimezone(UTC)


@campaign_cli.command("create")
@click.option("--list", "slugs", multiple=True, help="List slug (repeatable).")
@click.option("--segment", "segment_slug", help="Only this segment (of its list).")
@click.option("--subject", required=True)
@click.option("--body-file", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--format", "body_format", type=click.Choice(["markdown", "html"]), default=None,
              help="Default: html for .html files, else markdown.")
@click.option("--name", default="")
@click.option("--send-at", help="ISO 8601; without an offset it is read in --timezone.")
@click.option("--cron", help="Recurring: five-field cron expression.")
@click.option("--timezone", "tz_name", default="UTC", show_default=True)
@click.option("--purpose", "purpose_slug", help="Send only to those who consent to this purpose.")
def create(slugs, segment_slug, subject, body_file, body_format, name, send_at, cron,
           tz_name, purpose_slug) -> None:
    """Create a draft, a scheduled campaign or a recurring series; prints how many it would
    reach now, then its id."""
    if send_at and cron:
        raise click.ClickException("give --send-at or --cron, not both")
    purpose_id = None
    if purpose_slug:
        try:
            purpose_id = purposes.by_slug(db.session, purpose_slug).id
        except purposes.PurposeError as exc:
            raise click.ClickException(str(exc)) from None
    list_ids, segment_id = _list_ids(slugs), None
    if segment_slug:
        segment = segments.find(db.session, segment_slug)
        if segment is None:
            raise click.ClickException(f"no segment {segment_slug!r}")
        if list_ids and list_ids != [segment.list_id]:
            raise click.ClickException(f"the segment {segment.slug!r} is part of the list "
                                       f"{segment.mailing_list.slug!r}: give that list or none")
        list_ids, segment_id = [segment.list_id], segment.id
    if not list_ids:
        raise click.ClickException("give --list or --segment")
    body = Path(body_file).read_text()
    body_format = body_format or ("html" if body_file.endswith((".html", ".htm")) else "markdown")
    now = utcnow()
    try:
        campaign = campaigns.create(
            db.session, subject=subject, body=body, body_format=body_format,
            list_ids=list_ids, now=now, name=name, cron=cron, timezone=tz_name,
            send_at=_parse_time(send_at, tz_name) if send_at else None, created_by="cli",
            limits=compose.Limits.from_config(current_app.config), segment_id=segment_id,
            purpose_id=purpose_id)
    except campaigns.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    reach = segments.audience(db.session, list_ids, segment_id, campaign.purpose_id)
    click.echo(f"campaign {campaign.id}: {campaign.status.value}; {reach} recipient(s) now")
    click.echo(campaign.id)


def _act(campaign_id: int, action) -> Campaign:
    campaign = _campaign(campaign_id)
    try:
        action(campaign)
    except campaigns.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    return campaign


@campaign_cli.command("duplicate")
@click.argument("campaign_id", type=int)
def duplicate(campaign_id: int) -> None:
    """Copy a campaign into a new draft (same subject, body, lists, segment, purpose)."""
    copy = campaigns.duplicate(db.session, _campaign(campaign_id), now=utcnow(),
                               created_by="cli")
    db.session.commit()
    click.echo(f"campaign {copy.id}: draft, copied from {campaign_id}")
    click.echo(copy.id)


@campaign_cli.command("send")
@click.argument("campaign_id", type=int)
def send(campaign_id: int) -> None:
    """Send now: queue every eligible subscriber (workers do the sending)."""
    now = utcnow()
    _act(campaign_id, lambda c: campaigns.send_now(c, now))
    queued = campaigns.dispatch_due_campaigns(
        db.session, current_app.config["NEWSLETTER_SUPPRESSION_KEY"], now)
    click.echo(f"queued {queued}")
    click.echo(campaign_id)


@campaign_cli.command("pause")
@click.argument("campaign_id", type=int)
def pause(campaign_id: int) -> None:
    """Stop sending for now."""
    campaign = _act(campaign_id, lambda c: campaigns.pause(db.session, c, utcnow()))
    click.echo(f"campaign {campaign.id}: {campaign.status.value}")


@campaign_cli.command("resume")
@click.argument("campaign_id", type=int)
def resume(campaign_id: int) -> None:
    """Carry on sending a paused campaign."""
    campaign = _act(campaign_id, lambda c: campaigns.resume(db.session, c, utcnow()))
    click.echo(f"campaign {campaign.id}: {campaign.status.value}")


@campaign_cli.command("cancel")
@click.argument("campaign_id", type=int)
def cancel(campaign_id: int) -> None:
    """Stop for good; queued messages are skipped."""
    campaign = _act(campaign_id, lambda c: campaigns.cancel(db.session, c, utcnow()))
    click.echo(f"campaign {campaign.id}: {campaign.status.value}")


@campaign_cli.command("status")
@click.argument("campaign_id", type=int)
def status(campaign_id: int) -> None:
    """Status and delivery counts."""
    campaign = _campaign(campaign_id)
    figures = campaigns.stats(db.session, campaign.id, utcnow())
    click.echo(f"campaign {campaign.id} {campaign.name!r}: {campaign.status.value}")
    if campaign.send_at:
        click.echo(f"send_at {campaign.send_at.isoformat()}")
    if campaign.next_occurrence_at:
        click.echo(f"next occurrence {campaign.next_occurrence_at.isoformat()}")
    click.echo(f"total {figures.total} queued {figures.queued} sending {figures.sending} "
               f"sent {figures.sent} failed {figures.failed} bounced {figures.bounced} "
               f"skipped {figures.skipped} rate {figures.rate_per_minute:.0f}/min")
    for address, reply in figures.failures[:5]:
        click.echo(f"failed {address}: {reply}")
    seen = analytics.for_campaign(db.session, campaign.id)
    click.echo(f"delivered {seen.delivered} bounced hard {seen.bounced_hard} "
               f"soft {seen.bounced_soft} complaints {seen.complaints} "
               f"unsubscribes {seen.unsubscribes} replies {seen.replies}")


@campaign_cli.command("test")
@click.argument("campaign_id", type=int)
@click.option("--to", "addresses", multiple=True, required=True)
@click.option("--as", "as_email", default=None,
              help="render it with this subscriber's data (audited); it still goes to --to")
def test_send(campaign_id: int, addresses: tuple[str, ...], as_email: str | None) -> None:
    """Send a test copy to the given addresses."""
    campaign = _campaign(campaign_id)
    try:
        reader = proofs.reader(db.session, campaign, as_email) if as_email else None
        count = proofs.test_send(db.session, campaign, list(addresses), current_app.config,
                                 utcnow(), as_subscriber=reader, actor="cli")
    except campaigns.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"queued {count} test message(s)")


@campaign_cli.command("welcome")
@click.argument("campaign_id", type=int)
@click.option("--list", "slug", required=True)
def welcome(campaign_id: int, slug: str) -> None:
    """Make a draft the list's welcome message (sent once to each new subscriber)."""
    campaign = _campaign(campaign_id)
    mailing_list = db.session.get(MailingList, _list_ids((slug,))[0])
    try:
        campaigns.set_welcome(db.session, mailing_list, campaign)
    except campaigns.CampaignError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(campaign.id)
