"""API: access and erasure requests (open one: a verification mail goes to the address)."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from newsletter.extensions import db
from newsletter.models import PrivacyRequestKind, PrivacyRequestStatus, Role, utcnow
from newsletter.privacy import data_requests
from newsletter.sending import mailer
from newsletter.subscribers import subscriptions
from newsletter.subscribers.addresses import InvalidEmail
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.schemas import Text

blp = api_blueprint("api_privacy_requests", __name__, roles=[Role.privacy, Role.read_only],
                    url_prefix="/privacy-requests",
                    description="Data-subject requests (access, erasure)")


class PrivacyRequestSchema(Schema):
    id = fields.Int()
    kind = fields.Function(lambda r: r.kind.value)
    status = fields.Function(lambda r: r.status.value)
    source = fields.Str()
    subscriber_id = fields.Int(allow_none=True)
    created_at = fields.DateTime()
    due_at = fields.DateTime()
    verified_at = fields.DateTime(allow_none=True)
    completed_at = fields.DateTime(allow_none=True)


class PrivacyArgs(Schema):
    status = fields.Str(validate=validate.OneOf([s.value for s in PrivacyRequestStatus]))


class PrivacyCreateSchema(Schema):
    email = Text(required=True, max_length=254)
    kind = fields.Str(required=True, validate=validate.OneOf([k.value for k in PrivacyRequestKind]))


@blp.route("")
@blp.doc(security=SECURITY)
@blp.arguments(PrivacyArgs, location="query")
@blp.response(200, PrivacyRequestSchema(many=True))
def list_requests(args: dict):
    """Requests, the nearest legal deadline first."""
    rows = data_requests.list_requests(db.session)
    if args.get("status"):
        rows = [r for r in rows if r.status.value == args["status"]]
    return rows


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(PrivacyCreateSchema)
@blp.response(202, PrivacyRequestSchema)
def create_request(data: dict):
    """Open a request; the address receives a verification link (nothing happens before)."""
    try:
        email = subscriptions.normalise_email(data["email"])
    except InvalidEmail as exc:
        abort(422, message=str(exc))
    now = utcnow()
    request, mail = data_requests.open_request(db.session, kind=PrivacyRequestKind(data["kind"]),
                                         email=email, source="api", now=now,
                                         config=current_app.config, actor=g.api_actor)
    mailer.commit_and_send(db.session, current_app.config, [mail], now)
    return request
