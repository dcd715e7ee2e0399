"""API: privacy-policy versions (publish, list, show; a published version is never edited)."""

from __future__ import annotations

from datetime import UTC

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from newsletter.extensions import db
from newsletter.models import PolicyVersion, Role, utcnow
from newsletter.privacy import policy
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.refusals import refused
from newsletter.web.api.schemas import Text

blp = api_blueprint("api_policy_versions", __name__, roles=[Role.privacy, Role.read_only],
                    url_prefix="/policy-versions", description="Privacy-policy versions")


class PolicyVersionSchema(Schema):
    id = fields.Int()
    version = fields.Str()
    published_at = fields.DateTime()
    effective_at = fields.DateTime()
    material = fields.Bool()
    summary = fields.Str()
    body = fields.Str()
    notice_deadline = fields.DateTime(allow_none=True)
    # Told in a newsletter, by standalone mail, and still owed by active subscribers.
    notices = fields.Dict(keys=fields.Str(), values=fields.Int())


class PolicyPublishSchema(Schema):
    body = fields.Str(required=True, validate=validate.Length(min=1, max=500_000))
    summary = Text(required=True, max_length=2000)
    material = fields.Bool(load_default=False)
    effective_at = fields.AwareDateTime(default_timezone=UTC, load_default=None)
    notice_deadline = fields.AwareDateTime(default_timezone=UTC, load_default=None)


FIELDS = ("id", "version", "published_at", "effective_at", "material", "summary", "body",
          "notice_deadline")


def _dump(versions):
    """Versions as dicts with their notice counts (the schema dumps them)."""
    stats = policy.stats(db.session)

    def one(version: PolicyVersion) -> dict:
        counts = stats.get(version.id, {})
        return {**{name: getattr(version, name) for name in FIELDS},
                "notices": {key: counts.get(key, 0) for key in ("newsletter", "standalone", "owed")}}

    return [one(v) for v in versions] if isinstance(versions, list) else one(versions)


@blp.route("")
@blp.doc(security=SECURITY)
@blp.response(200, PolicyVersionSchema(many=True))
def list_versions():
    """Every version, newest first, with how many were told and how many still owe."""
    return _dump(policy.versions(db.session))


@blp.route("/<int:version_id>")
@blp.doc(security=SECURITY)
@blp.response(200, PolicyVersionSchema)
def get_version(version_id: int):
    """One version."""
    version = db.session.get(PolicyVersion, version_id)
    if version is None:
        abort(404, message="no such policy version")
    return _dump(version)


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(PolicyPublishSchema)
@blp.response(201, PolicyVersionSchema)
def publish(data: dict):
    """Publish a version; a material one makes every active subscriber owe a notice."""
    with refused(policy.PolicyError):
        version = policy.publish(
            db.session, body=data["body"], summary=data["summary"], material=data["material"],
            now=utcnow(), config=current_app.config, actor=g.api_actor,
            effective_at=data["effective_at"], deadline=data["notice_deadline"])
    db.session.commit()
    return _dump(version)
