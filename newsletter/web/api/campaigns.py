"""API: campaigns (create, read, duplicate, schedule, send, pause, resume, cancel, stats)."""

from __future__ import annotations

from types import SimpleNamespace

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Campaign, MailingList, Purpose, Role, utcnow
from newsletter.models.base import MAX_ID
from newsletter.privacy import purposes
from newsletter.sending import analytics, campaigns, compose
from newsletter.subscribers import segments
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.refusals import refused

blp = api_blueprint("api_campaigns", __name__, roles=[Role.marketer, Role.read_only],
                    url_prefix="/campaigns", description="Campaigns")

SLUG = validate.Regexp(r"^[a-z0-9][a-z0-9-]{0,63}$")


class CampaignSchema(Schema):
    id = fields.Int()
    name = fields.Str()
    subject = fields.Str()
    body = fields.Str()
    body_format = fields.Str()
    status = fields.Function(lambda c: c.status.value)
    lists = fields.Function(lambda c: [lst.slug for lst in c.lists])
    segment_id = fields.Int(allow_none=True)
    layout_id = fields.Int(allow_none=True, metadata={
        "description": "the chosen layout of one of its lists; null: each list's default"})
    send_at = fields.DateTime(allow_none=True)
    cron = fields.Str(allow_none=True)
    timezone = fields.Str()
    next_occurrence_at = fields.DateTime(allow_none=True)
    parent_id = fields.Int(allow_none=True)
    occurrence_at = fields.DateTime(allow_none=True)
    started_at = fields.DateTime(allow_none=True)
    finished_at = fields.DateTime(allow_none=True)
    purpose = fields.Function(lambda c: _purpose_slug(c.purpose_id), allow_none=True,
                              metadata={"description": "slug of the purpose, or null"})


def _purpose_slug(purpose_id: int | None) -> str | None:
    return None if purpose_id is None else db.session.get(Purpose, purpose_id).slug


class CampaignCreateSchema(Schema):
    subject = fields.Str(required=True, validate=validate.Length(min=1, max=998))
    body = fields.Str(required=True, validate=validate.Length(max=1_000_000))
    body_format = fields.Str(load_default="markdown", validate=validate.OneOf(["markdown", "html"]))
    name = fields.Str(load_default="", validate=validate.Length(max=200))
    lists = fields.List(fields.Str(validate=SLUG), load_default=list,
                        validate=validate.Length(max=50),
                        metadata={"description": "List slugs; give these or a segment."})
    segment = fields.Str(load_default=None, validate=SLUG,
                         metadata={"description": "Only this segment (of its list)."})
    send_at = fields.AwareDateTime(load_default=None, metadata={"description": "ISO 8601, with offset"})
    cron = fields.Str(load_default=None, validate=validate.Length(max=100))
    timezone = fields.Str(load_default="UTC", validate=validate.Length(min=1, max=64))
    purpose = fields.Str(load_default=None, validate=SLUG, metadata={
        "description": "a purpose slug: sent only to subscribers with effective consent to it"})
    layout_id = fields.Int(load_default=None, allow_none=True, validate=validate.Range(0, MAX_ID),
                           metadata={"description": "a layout of one of the campaign's lists "
                                                    "(the admin Layouts page shows their ids); "
                                                    "default: each list's default layout"})


class ScheduleSchema(Schema):
    send_at = fields.AwareDateTime(required=True)


class StatsSchema(Schema):
    total = fields.Int()
    queued = fields.Int()
    sending = fields.Int()
    sent = fields.Int()
    failed = fields.Int()
    bounced = fields.Int()
    skipped = fields.Int()
    percent = fields.Int()
    rate_per_minute = fields.Float()
    eta_seconds = fields.Float(allow_none=True)
    elapsed_seconds = fields.Float(allow_none=True)
    finished = fields.Bool()
    waiting_since = fields.AwareDateTime(allow_none=True)
    waiting_reply = fields.Str(allow_none=True)
    paused_reason = fields.Str(allow_none=True)
    waiting = fields.Function(
        lambda s: (f"waiting for the mail server since {s.waiting_since:%H:%M} UTC "
                   f"(last reply: {s.waiting_reply or 'none'})") if s.waiting_since else None)
    failures = fields.Function(lambda s: [{"email": e, "reply": r} for e, r in s.failures])
    analytics = fields.Dict(metadata={"description": (
        "delivered, bounced (hard/soft), complaints, unsubscribes attributed to the campaign "
        "(one-click, link or reply within 7 days of its copy), replies, and their rates; "
        "no opens or clicks are tracked")})


def _campaign_or_404(campaign_id: int) -> Campaign:
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None:
        abort(404, message="no such campaign")
    return campaign


@blp.route("")
@blp.doc(security=SECURITY)
@blp.response(200, CampaignSchema(many=True))
def list_campaigns():
    """The latest 200 campaigns, newest first."""
    return db.session.scalars(select(Campaign).order_by(Campaign.id.desc()).limit(200)).all()


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(CampaignCreateSchema)
@blp.response(201, CampaignSchema)
def create_campaign(data):
    """Create a draft, a scheduled campaign (send_at) or a recurring series (cron + timezone)."""
    if data["send_at"] and data["cron"]:
        abort(422, message="give send_at or cron, not both")
    list_ids, segment_id = [], None
    for slug in data["lists"]:
        list_id = db.session.scalar(select(MailingList.id).where(MailingList.slug == slug))
        if list_id is None:
            abort(422, message=f"no list {slug!r}")
        list_ids.append(list_id)
    purpose_id = None
    if data["purpose"]:
        try:
            purpose_id = purposes.by_slug(db.session, data["purpose"]).id
        except purposes.PurposeError as exc:
            abort(422, message=str(exc))
    if data["segment"]:
        segment = segments.find(db.session, data["segment"])
        if segment is None:
            abort(422, message=f"no segment {data['segment']!r}")
        if list_ids and list_ids != [segment.list_id]:
            abort(422, message="a segment is part of one list: give that list or none")
        list_ids, segment_id = [segment.list_id], segment.id
    if not list_ids:
        abort(422, message="give lists or a segment")
    with refused(campaigns.CampaignError):
        campaign = campaigns.create(
            db.session, subject=data["subject"], body=data["body"],
            body_format=data["body_format"], name=data["name"], list_ids=list_ids, now=utcnow(),
            send_at=data["send_at"], cron=data["cron"], timezone=data["timezone"],
            created_by=g.api_actor, limits=compose.Limits.from_config(current_app.config),
            purpose_id=purpose_id, segment_id=segment_id, layout_id=data["layout_id"])
    db.session.commit()
    return campaign


@blp.route("/<int:campaign_id>")
@blp.doc(security=SECURITY)
@blp.response(200, CampaignSchema)
def get_campaign(campaign_id: int):
    """One campaign."""
    return _campaign_or_404(campaign_id)


@blp.route("/<int:campaign_id>/stats")
@blp.doc(security=SECURITY)
@blp.response(200, StatsSchema)
def campaign_stats(campaign_id: int):
    """Delivery counts, progress, rate, the latest failures and the campaign's analytics."""
    campaign_id = _campaign_or_404(campaign_id).id
    figures = campaigns.stats(db.session, campaign_id, utcnow())
    return SimpleNamespace(**vars(figures), percent=figures.percent,
                           analytics=analytics.for_campaign(db.session, campaign_id).as_dict())


@blp.route("/<int:campaign_id>/duplicate", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(201, CampaignSchema)
def duplicate_campaign(campaign_id: int):
    """A new draft with the same subject, body, lists, segment and purpose."""
    copy = campaigns.duplicate(db.session, _campaign_or_404(campaign_id), now=utcnow(),
                               created_by=g.api_actor)
    db.session.commit()
    return copy


def _act(campaign_id: int, action) -> Campaign:
    campaign = _campaign_or_404(campaign_id)
    with refused(campaigns.CampaignError, status=409):
        action(campaign)
    db.session.commit()
    return campaign


@blp.route("/<int:campaign_id>/schedule", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(ScheduleSchema)
@blp.response(200, CampaignSchema)
def schedule_campaign(data, campaign_id: int):
    """Send at a given time (with offset); a time in the past is refused (409), naming the time now."""
    return _act(campaign_id, lambda c: campaigns.schedule(c, data["send_at"], utcnow()))


@blp.route("/<int:campaign_id>/send", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, CampaignSchema)
def send_campaign(campaign_id: int):
    """Send now (the dispatcher queues it within seconds)."""
    return _act(campaign_id, lambda c: campaigns.send_now(c, utcnow()))


@blp.route("/<int:campaign_id>/pause", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, CampaignSchema)
def pause_campaign(campaign_id: int):
    """Stop sending for now (refused once sent)."""
    return _act(campaign_id, lambda c: campaigns.pause(db.session, c, utcnow()))


@blp.route("/<int:campaign_id>/resume", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, CampaignSchema)
def resume_campaign(campaign_id: int):
    """Carry on sending a paused campaign."""
    return _act(campaign_id, lambda c: campaigns.resume(db.session, c, utcnow()))


@blp.route("/<int:campaign_id>/cancel", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, CampaignSchema)
def cancel_campaign(campaign_id: int):
    """Stop for good; what is still queued is skipped."""
    return _act(campaign_id, lambda c: campaigns.cancel(db.session, c, utcnow()))



