"""Campaign lifecycle: draft, schedule, recurring, dispatch -> queue, pause/resume/cancel.

Domain code: a session, plain values and `now` in; CampaignError out when an action is refused.
Claiming and sending live in worker.py and store.py; the SQL of dispatch in dispatch.py.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, object_session

from newsletter.integrations import webhooks
from newsletter.models import (
    Campaign,
    CampaignStatus,
    Delivery,
    DeliveryStatus,
    MailingList,
    Purpose,
    Subscriber,
)
from newsletter.models.campaigns import ArchiveCopy
from newsletter.sending import compose, dispatch, layouts, readers, recurrence

log = logging.getLogger(__name__)

EDITABLE = {CampaignStatus.draft, CampaignStatus.scheduled, CampaignStatus.recurring,
            CampaignStatus.welcome}
PARKED = datetime(9000, 1, 1, tzinfo=UTC)  # next_attempt_at of a paused campaign's rows
# An occurrence missed by more than this (the scheduler was down) is skipped, not sent late.
OCCURRENCE_GRACE = timedelta(hours=6)
# A send time this little in the past is "now": the form picks whole minutes, and a request
# takes a moment. Anything older is a mistake ("2020-01-01" once mailed a whole list at once).
PAST_SEND_AT_GRACE = timedelta(minutes=2)


class CampaignError(ValueError):
    """A campaign action is refused (bad input, or not allowed in the campaign's state)."""


@dataclass(frozen=True)
class CampaignStats:
    """What the campaign page shows."""

    total: int
    queued: int
    sending: int
    sent: int
    failed: int
    bounced: int
    skipped: int
    rate_per_minute: float  # sent so far / the campaign's own sending time so far
    eta_seconds: float | None
    failures: list[tuple[str, str]]  # (address, last SMTP reply), newest first
    elapsed_seconds: float | None = None  # since it started; its duration once finished
    finished: bool = False
    waiting_since: datetime | None = None  # the mail server has failed every try since then
    waiting_reply: str | None = None
    paused_reason: str | None = None

    @property
    def done(self) -> int:
        """Deliveries that reached a final state."""
        return self.sent + self.failed + self.bounced + self.skipped

    @property
    def percent(self) -> int:
        """Progress, 0-100."""
        return int(100 * self.done / self.total) if self.total else 0


# --- editing ---------------------------------------------------------------------------------------


def _lists(session: Session, list_ids: list[int]) -> list[MailingList]:
    if not list_ids:
        raise CampaignError("choose at least one list")
    lists = list(session.scalars(select(MailingList).where(MailingList.id.in_(list_ids))))
    if len(lists) != len(set(list_ids)):
        raise CampaignError("unknown list")
    return lists


def _check_content(session: Session, subject: str, body: str, body_format: str,
                   lists: list[MailingList], name: str, limits: compose.Limits | None,
                   layout_id: int | None) -> int | None:
    """Refuse at save time what would fail (or inject a header, or run away) at send time;
    return the layout choice, checked.

    The one check create() and edit() share: every template, each list's layout included, is
    rendered for sample readers and real subscribers of the lists, under the same limits as at
    send time.
    """
    samples = readers.sample_readers(session, lists)
    try:
        layout_id = layouts.chosen_for(session, layout_id, [m.id for m in lists])
        compose.validate(subject, body, body_format, samples=samples, limits=limits)
        compose.refuse_header_breaks("name", name)
        for mailing_list in lists:
            html = layouts.html_for(session, layout_id, mailing_list)
            if html is not None:
                compose.check_layout(f"layout of list {mailing_list.slug}", html, samples, limits)
    except (compose.TemplateProblem, layouts.LayoutError) as exc:
        raise CampaignError(str(exc)) from None
    return layout_id


def create(session: Session, *, subject: str, body: str, list_ids: list[int], now: datetime,
           body_format: str = "markdown", name: str = "", send_at: datetime | None = None,
           cron: str | None = None, timezone: str = "UTC", created_by: str = "",
           limits: compose.Limits | None = None, purpose_id: int | None = None,
           segment_id: int | None = None, layout_id: int | None = None) -> Campaign:
    """A draft, a scheduled campaign (send_at) or a recurring series (cron + timezone).

    `limits` are the template limits (compose.Limits.from_config); None means the defaults.
    With `purpose_id` it goes only to subscribers with effective consent to that purpose;
    `segment_id` narrows the lists to a saved filter (subscribers/segments.py).
    """
    lists = _lists(session, list_ids)
    try:  # also a one-off's: its send time is shown on that wall clock
        recurrence.timezone(timezone)
    except recurrence.RecurrenceError as exc:
        raise CampaignError(str(exc)) from None
    if purpose_id is not None and session.get(Purpose, purpose_id) is None:
        raise CampaignError("unknown purpose")
    layout_id = _check_content(session, subject, body, body_format, lists, name, limits,
                               layout_id)
    campaign = Campaign(name=name or subject[:200], subject=subject, body=body,
                        body_format=body_format, created_at=now, created_by=created_by,
                        timezone=timezone, status=CampaignStatus.draft, purpose_id=purpose_id,
                        segment_id=segment_id, layout_id=layout_id)
    campaign.lists = lists
    session.add(campaign)
    if cron:
        make_recurring(campaign, cron, timezone, now)
    elif send_at is not None:
        schedule(campaign, send_at, now)
    session.flush()
    return campaign


def edit(session: Session, campaign: Campaign, *, subject: str, body: str, body_format: str,
         list_ids: list[int], name: str = "", limits: compose.Limits | None = None,
         layout_id: int | None = None) -> Campaign:
    """Change a campaign's content; refused once it has started sending."""
    if campaign.status not in EDITABLE:
        raise CampaignError(f"a {campaign.status.value} campaign cannot be edited")
    lists = _lists(session, list_ids)
    campaign.layout_id = _check_content(session, subject, body, body_format, lists, name, limits,
                                        layout_id)
    campaign.subject, campaign.body, campaign.body_format = subject, body, body_format
    campaign.name = name or subject[:200]
    campaign.lists = lists
    return campaign


def duplicate(session: Session, campaign: Campaign, *, now: datetime,
              created_by: str = "") -> Campaign:
    """A new draft with the campaign's content, lists, segment and purpose (never its schedule)."""
    copy = Campaign(name=f"Copy of {campaign.name or campaign.subject}"[:200],
                    subject=campaign.subject, body=campaign.body,
                    body_format=campaign.body_format, created_at=now, created_by=created_by,
                    timezone=campaign.timezone, status=CampaignStatus.draft,
                    purpose_id=campaign.purpose_id, segment_id=campaign.segment_id,
                    layout_id=campaign.layout_id)
    copy.lists = list(campaign.lists)
    session.add(copy)
    session.flush()
    return copy


def schedule(campaign: Campaign, send_at: datetime, now: datetime) -> Campaign:
    """Send at a time in the future (one minute or two ago counts as now; older is refused)."""
    if campaign.status not in (CampaignStatus.draft, CampaignStatus.scheduled):
        raise CampaignError(f"a {campaign.status.value} campaign cannot be scheduled")
    if send_at.tzinfo is None:
        raise CampaignError("send_at must carry a timezone")
    try:
        send_at = send_at.astimezone(UTC)
    except OverflowError:
        raise CampaignError("send_at is out of range") from None
    if send_at < now - PAST_SEND_AT_GRACE:
        raise CampaignError(f"the send time {_wall_clock(send_at, campaign.timezone)} is in the "
                            f"past (it is now {_wall_clock(now, campaign.timezone)}); choose a "
                            "later time, or Send now")
    campaign.send_at = max(send_at, now)
    campaign.status = CampaignStatus.scheduled
    return campaign


def _wall_clock(moment: datetime, tz_name: str | None) -> str:
    """A time as the marketer reads it: on the campaign's clock, with the zone named."""
    try:
        return f"{recurrence.utc_to_local(moment, tz_name or 'UTC'):%Y-%m-%d %H:%M} {tz_name}"
    except (recurrence.RecurrenceError, OverflowError):  # an unknown zone: say it in UTC
        return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M} UTC"


def send_now(campaign: Campaign, now: datetime) -> Campaign:
    """Schedule for right now; the dispatcher queues it within seconds."""
    return schedule(campaign, now, now)


def make_recurring(campaign: Campaign, cron: str, timezone: str, now: datetime) -> Campaign:
    """Turn a draft into a series; each occurrence becomes its own campaign."""
    if campaign.status not in (CampaignStatus.draft, CampaignStatus.recurring):
        raise CampaignError(f"a {campaign.status.value} campaign cannot become recurring")
    try:
        recurrence.validate(cron, timezone)
        following = recurrence.next_occurrence(cron, timezone, now)
    except recurrence.RecurrenceError as exc:
        raise CampaignError(str(exc)) from None
    if following is None:
        raise CampaignError("the cron expression never fires")
    campaign.cron, campaign.timezone = cron, timezone
    campaign.status, campaign.next_occurrence_at = CampaignStatus.recurring, following
    return campaign


def pause(session: Session, campaign: Campaign, now: datetime, reason: str | None = None) -> Campaign:
    """Stop sending (workers notice within a second); refused once sent or cancelled. `reason`
    says why when the system paused it (a mail-server outage), shown on the dashboard."""
    if campaign.status not in (CampaignStatus.sending, CampaignStatus.scheduled,
                               CampaignStatus.recurring, CampaignStatus.welcome):
        raise CampaignError(f"a {campaign.status.value} campaign cannot be paused")
    campaign.status, campaign.paused_reason = CampaignStatus.paused, reason
    # Park the queued rows far in the future so the workers' claim query does not walk over
    # them; resume() makes them due again.
    session.execute(update(Delivery).where(
        Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.queued,
    ).values(next_attempt_at=PARKED))
    return campaign


def resume(session: Session, campaign: Campaign, now: datetime) -> Campaign:
    """Carry on where the campaign stopped (nobody gets it twice: each Delivery is sent once)."""
    if campaign.status is not CampaignStatus.paused:
        raise CampaignError(f"a {campaign.status.value} campaign is not paused")
    campaign.paused_reason = campaign.waiting_since = campaign.waiting_reply = None
    if campaign.cron and campaign.parent_id is None:
        campaign.status = CampaignStatus.recurring
    elif _is_welcome(session, campaign):
        campaign.status = CampaignStatus.welcome
    elif campaign.started_at is not None:
        campaign.status = CampaignStatus.sending
    else:
        campaign.status = CampaignStatus.scheduled
    session.execute(update(Delivery).where(
        Delivery.campaign_id == campaign.id, Delivery.status == DeliveryStatus.queued,
        Delivery.next_attempt_at >= PARKED,
    ).values(next_attempt_at=now))
    return campaign


def cancel(session: Session, campaign: Campaign, now: datetime) -> Campaign:
    """Stop for good: every row not sent yet is skipped, those a worker holds too. A worker that
    is sending one of them right now still marks it sent when the server accepts it (that is
    what happened); it never puts a skipped row back in the queue (see store.py)."""
    if campaign.status in (CampaignStatus.sent, CampaignStatus.cancelled):
        raise CampaignError(f"a {campaign.status.value} campaign cannot be cancelled")
    campaign.status, campaign.finished_at = CampaignStatus.cancelled, now
    campaign.waiting_since = campaign.waiting_reply = None
    session.execute(update(Delivery).where(
        Delivery.campaign_id == campaign.id,
        Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.sending]),
    ).values(status=DeliveryStatus.skipped, smtp_response="campaign cancelled",
             claimed_by=None, claimed_until=None))
    return campaign


# --- welcome messages ------------------------------------------------------------------------------


def _is_welcome(session: Session, campaign: Campaign) -> bool:
    return session.scalar(select(func.count(MailingList.id)).where(
        MailingList.welcome_campaign_id == campaign.id)) > 0


def set_welcome(session: Session, mailing_list: MailingList, campaign: Campaign | None) -> None:
    """Make a campaign the list's welcome message (None: no welcome message)."""
    if campaign is not None:
        if campaign.status not in (CampaignStatus.draft, CampaignStatus.welcome):
            raise CampaignError("only a draft can become a welcome message")
        campaign.status = CampaignStatus.welcome
        mailing_list.welcome_campaign_id = campaign.id
    else:
        mailing_list.welcome_campaign_id = None


def queue_welcome(session: Session, subscriber: Subscriber, mailing_list: MailingList,
                  now: datetime) -> None:
    """Queue the list's welcome newsletter for a subscriber who just confirmed (if it has one)."""
    if mailing_list.welcome_campaign_id is None:
        return
    session.flush()  # the subscriber needs its id
    # Unique (campaign, subscriber): confirming twice, or on a second list, sends it once.
    dispatch.queue_one(session, mailing_list.welcome_campaign_id, subscriber.id, now)


# --- the dispatcher's work --------------------------------------------------------------------------


def spawn_occurrences(session: Session, now: datetime) -> list[Campaign]:
    """For each recurring series whose next occurrence is due, create that occurrence."""
    spawned = []
    due = session.scalars(select(Campaign).where(
        Campaign.status == CampaignStatus.recurring, Campaign.next_occurrence_at <= now)).all()
    for series in due:
        occurrence = series.next_occurrence_at
        while occurrence is not None and occurrence <= now:
            if now - occurrence <= OCCURRENCE_GRACE:
                child = _spawn(session, series, occurrence)
                if child is not None:
                    spawned.append(child)
            else:
                log.warning("campaign %s: occurrence %s missed, skipped", series.id, occurrence)
            occurrence = recurrence.next_occurrence(series.cron, series.timezone, occurrence)
        series.next_occurrence_at = occurrence
        session.commit()
    return spawned


def _spawn(session: Session, series: Campaign, occurrence: datetime) -> Campaign | None:
    local = recurrence.utc_to_local(occurrence, series.timezone)
    child = Campaign(
        name=f"{series.name} ({local:%Y-%m-%d %H:%M})", subject=series.subject, body=series.body,
        body_format=series.body_format, status=CampaignStatus.scheduled, send_at=occurrence,
        timezone=series.timezone, parent_id=series.id, occurrence_at=occurrence,
        created_at=occurrence, created_by=series.created_by, purpose_id=series.purpose_id,
        segment_id=series.segment_id, layout_id=series.layout_id,
    )
    child.lists = list(series.lists)
    try:
        with session.begin_nested():  # uq_campaign_occurrence: another scheduler was faster
            session.add(child)
    except IntegrityError:
        return None
    return child


def start_due(session: Session, now: datetime) -> list[int]:
    """Scheduled campaigns whose time has come become `sending`; returns their ids."""
    ids = list(session.scalars(select(Campaign.id).where(
        Campaign.status == CampaignStatus.scheduled, Campaign.send_at <= now)))
    if ids:
        session.execute(update(Campaign).where(Campaign.id.in_(ids),
                                               Campaign.status == CampaignStatus.scheduled)
                        .values(status=CampaignStatus.sending, started_at=now))
        session.commit()
    return ids


def dispatch_due_campaigns(session: Session, suppression_key: str, now: datetime) -> int:
    """Spawn due occurrences, start due campaigns, queue their deliveries, close finished ones."""
    spawn_occurrences(session, now)
    start_due(session, now)
    queued = 0
    pending = session.scalars(select(Campaign).where(
        Campaign.status == CampaignStatus.sending, Campaign.dispatched_at.is_(None))).all()
    for campaign in pending:
        queued += dispatch.dispatch(session, campaign, suppression_key, now)
    finish_sent(session, now)
    return queued


def finish_sent(session: Session, now: datetime) -> int:
    """Sending campaigns with nothing left in the outbox are sent."""
    open_rows = select(Delivery.id).where(
        Delivery.campaign_id == Campaign.id,
        Delivery.status.in_([DeliveryStatus.queued, DeliveryStatus.sending])).exists()
    done = session.execute(update(Campaign).where(
        Campaign.status == CampaignStatus.sending, Campaign.dispatched_at.is_not(None), ~open_rows,
    ).values(status=CampaignStatus.sent, finished_at=now).returning(Campaign.id, Campaign.subject)
        .execution_options(synchronize_session=False)).all()
    for campaign_id, subject in done:
        webhooks.emit(session, webhooks.Event.campaign_finished,
                      {"campaign_id": campaign_id, "subject": subject}, now)
    session.commit()
    return len(done)


# --- watching and testing -----------------------------------------------------------------------


def stats(session: Session, campaign_id: int, now: datetime) -> CampaignStats:
    """Counts by status, the rate and ETA from the campaign's own sending time so far (a window
    of the last minute misleads at both ends of a send), its duration once finished, whether it
    waits for the mail server, and the last failures."""
    campaign = session.get(Campaign, campaign_id)
    counts = dict(session.execute(
        select(Delivery.status, func.count()).where(Delivery.campaign_id == campaign_id)
        .group_by(Delivery.status)).all())
    failures = session.execute(
        select(Subscriber.email, Delivery.smtp_response).join(
            Subscriber, Subscriber.id == Delivery.subscriber_id)
        .where(Delivery.campaign_id == campaign_id,
               Delivery.status.in_([DeliveryStatus.failed, DeliveryStatus.bounced]))
        .order_by(Delivery.id.desc()).limit(20)).all()
    remaining = counts.get(DeliveryStatus.queued, 0) + counts.get(DeliveryStatus.sending, 0)
    sent = counts.get(DeliveryStatus.sent, 0)
    finished = campaign is not None and campaign.status in (CampaignStatus.sent,
                                                            CampaignStatus.cancelled)
    elapsed = None
    if campaign is not None and campaign.started_at is not None:
        end = campaign.finished_at if finished and campaign.finished_at else now
        elapsed = max((end - campaign.started_at).total_seconds(), 0.0)
    rate = sent / elapsed * 60 if elapsed and sent else 0.0
    return CampaignStats(
        total=sum(counts.values()),
        queued=counts.get(DeliveryStatus.queued, 0),
        sending=counts.get(DeliveryStatus.sending, 0),
        sent=counts.get(DeliveryStatus.sent, 0),
        failed=counts.get(DeliveryStatus.failed, 0),
        bounced=counts.get(DeliveryStatus.bounced, 0),
        skipped=counts.get(DeliveryStatus.skipped, 0),
        rate_per_minute=rate,
        eta_seconds=(remaining / rate * 60) if rate and remaining and not finished else None,
        failures=[(email, reply or "") for email, reply in failures],
        elapsed_seconds=elapsed,
        finished=finished,
        waiting_since=campaign.waiting_since if campaign is not None else None,
        waiting_reply=campaign.waiting_reply if campaign is not None else None,
        paused_reason=campaign.paused_reason if campaign is not None else None,
    )


def content_for(campaign: Campaign, mailing_list: MailingList) -> compose.CampaignContent:
    """The plain values compose needs, for one of the campaign's lists (its layout there)."""
    # The rows' own session (a campaign built in memory, as a bench or test does: the list's).
    session = object_session(campaign) or object_session(mailing_list)
    layout = None if session is None else layouts.html_for(session, campaign.layout_id,
                                                           mailing_list)
    return compose.CampaignContent(
        campaign_id=campaign.id, subject=campaign.subject, body=campaign.body,
        body_format=campaign.body_format, list_id=mailing_list.id, list_slug=mailing_list.slug,
        list_name=mailing_list.name, sender_name=mailing_list.sender_name,
        sender_address=mailing_list.sender_address, layout=layout,
        archive=mailing_list.public_archive, count_clicks=mailing_list.count_clicks,
        language=mailing_list.default_language or "en",
        postal_address=mailing_list.postal_address or "",
    )


# Stored instead of the issue when its template cannot render (past a limit): the archive
# then answers at once for good, instead of trying again on every visit.
UNRENDERABLE_ISSUE = "<!doctype html><p>This issue cannot be shown.</p>"


def archive_copy(session: Session, campaign: Campaign, mailing_list: MailingList,
                 config: Mapping, now: datetime) -> str:
    """The issue as the archive shows it: rendered on its first view, stored, then served.

    A sent campaign cannot be edited, so the stored copy never goes stale.
    """
    stored = session.get(ArchiveCopy, (campaign.id, mailing_list.id))
    if stored is not None:
        return stored.html
    try:
        html = compose.compile_campaign(content_for(campaign, mailing_list), config).archive_copy()
    except Exception:  # noqa: BLE001 - a template fault must not be retried per visit
        log.exception("campaign %s: archive copy cannot render", campaign.id)
        html = UNRENDERABLE_ISSUE
    try:
        with session.begin_nested():  # two first visits at once: the other one stored it
            session.add(ArchiveCopy(campaign_id=campaign.id, list_id=mailing_list.id,
                                    html=html, rendered_at=now))
    except IntegrityError:
        pass
    return html
