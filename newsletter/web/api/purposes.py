"""API: purposes, new uses of data (create, list, show, announce; a purpose is never edited)."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from newsletter.extensions import db
from newsletter.models import Purpose, Role, utcnow
from newsletter.privacy import purposes
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.refusals import refused
from newsletter.web.api.schemas import Slug, Text

blp = api_blueprint("api_purposes", __name__, roles=[Role.privacy, Role.read_only],
                    url_prefix="/purposes", description="Purposes: new uses of personal data")


class PurposeSchema(Schema):
    id = fields.Int()
    slug = fields.Str()
    name = fields.Str()
    description = fields.Str()
    opt_in_countries = fields.List(fields.Str(), metadata={
        "description": "where people must opt in (and wherever the country is unknown)"})
    created_at = fields.DateTime()
    # Told in each mode, and active subscribers whose consent is in effect now.
    counts = fields.Dict(keys=fields.Str(), values=fields.Int())


class PurposeCreateSchema(Schema):
    slug = Slug(required=True)
    name = Text(required=True, min_length=1, max_length=200)
    description = fields.Str(required=True, validate=validate.Length(min=1, max=5000))
    opt_in_countries = fields.List(fields.Str(validate=validate.Length(equal=2)),
                                   load_default=None, validate=validate.Length(max=300),
                                   metadata={"description": "ISO 3166 alpha-2 codes; default "
                                             "NEWSLETTER_PURPOSE_OPT_IN_COUNTRIES"})


class AnnounceSchema(Schema):
    queued = fields.Int(metadata={"description": "announcements queued now (0 on a repeat)"})
    remaining = fields.Int(metadata={"description": "active subscribers still to be told: the "
                                     "scheduler queues them within minutes (a large audience)"})


FIELDS = ("id", "slug", "name", "description", "opt_in_countries", "created_at")


def _dump(purpose: Purpose, stats: dict) -> dict:
    return {**{name: getattr(purpose, name) for name in FIELDS},
            "counts": stats.get(purpose.id, {})}


def _purpose_or_404(slug: str) -> Purpose:
    try:
        return purposes.by_slug(db.session, slug)
    except purposes.PurposeError:
        abort(404, message="no such purpose")


@blp.route("")
@blp.doc(security=SECURITY)
@blp.response(200, PurposeSchema(many=True))
def list_purposes():
    """Every purpose, oldest first, with how many were told and how many consent."""
    stats = purposes.stats(db.session)
    return [_dump(p, stats) for p in purposes.all_purposes(db.session)]


@blp.route("/<slug>")
@blp.doc(security=SECURITY)
@blp.response(200, PurposeSchema)
def get_purpose(slug: str):
    """One purpose."""
    return _dump(_purpose_or_404(slug), purposes.stats(db.session))


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(PurposeCreateSchema)
@blp.response(201, PurposeSchema)
def create_purpose(data: dict):
    """Add a purpose; an existing slug is refused (422)."""
    with refused(purposes.PurposeError):
        purpose = purposes.create(db.session, slug=data["slug"], name=data["name"],
                                  description=data["description"], now=utcnow(),
                                  config=current_app.config, actor=g.api_actor,
                                  opt_in_countries=data["opt_in_countries"])
    db.session.commit()
    return _dump(purpose, purposes.stats(db.session))


@blp.route("/<slug>/announce", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, AnnounceSchema)
def announce_purpose(slug: str):
    """Mail every active subscriber not yet told, once, in their mode (idempotent)."""
    purpose = _purpose_or_404(slug)
    queued = purposes.announce(db.session, current_app.config, purpose, utcnow(), g.api_actor,
                               seconds=current_app.config["NEWSLETTER_ANNOUNCE_REQUEST_SECONDS"])
    return {"queued": queued, "remaining": purposes.untold(db.session, purpose)}
