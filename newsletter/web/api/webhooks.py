"""API: outgoing event webhooks, as the admin Webhooks page (admin tokens only, as that page is
for admins only): list, register (the signing secret is in the answer once and never again),
remove, and each webhook's delivery log. Registering and removing are audited by
newsletter/integrations/webhooks.py.
"""

from __future__ import annotations

from types import SimpleNamespace

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.integrations import webhooks
from newsletter.models import Webhook, utcnow
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.refusals import refused

# GET    /webhooks                     every webhook (never its secret)
# POST   /webhooks                     register one: the answer holds the secret, once
# DELETE /webhooks/<id>                remove one and its queue
# GET    /webhooks/<id>/deliveries     its latest deliveries, newest first

blp = api_blueprint("api_webhooks", __name__, roles=[], url_prefix="/webhooks",
                    description="Outgoing event webhooks (admin tokens)")

EVENTS = [e.value for e in webhooks.Event]


class WebhookSchema(Schema):
    id = fields.Int()
    url = fields.Str()
    events = fields.List(fields.Str())
    enabled = fields.Bool()
    created_at = fields.DateTime()
    created_by = fields.Str()


class RegisteredSchema(WebhookSchema):
    secret = fields.Str(metadata={
        "description": "the HMAC key of X-Newsletter-Signature: shown now, never again"})


class WebhookCreateSchema(Schema):
    # Checked by webhooks.register (the admin form's messages); only the shape is parsed here.
    url = fields.Str(required=True, metadata={
        "description": "http(s), at most 2000 characters, resolving to public addresses only"})
    events = fields.List(fields.Str(validate=validate.OneOf(EVENTS)), required=True,
                         validate=validate.Length(max=100))
    secret = fields.Str(load_default=None, metadata={
        "description": "the signing secret (16 to 200 characters); left out, one is generated"})


class DeliveryArgs(Schema):
    limit = fields.Int(load_default=50, validate=validate.Range(min=1, max=500))


class DeliverySchema(Schema):
    id = fields.Int()
    event = fields.Str()
    status = fields.Str(metadata={"description": "queued, sent, failed or cancelled"})
    attempts = fields.Int()
    created_at = fields.DateTime()
    next_attempt_at = fields.DateTime(metadata={"description": "while queued"})
    sent_at = fields.DateTime(allow_none=True)
    last_status = fields.Int(allow_none=True, metadata={
        "description": "HTTP status of the last attempt (null: no answer)"})
    last_response = fields.Str(allow_none=True, metadata={
        "description": "the start of the receiver's answer, or the error"})


@blp.route("")
@blp.doc(security=SECURITY)
@blp.response(200, WebhookSchema(many=True))
def list_webhooks():
    """Every webhook, oldest first (secrets are never listed)."""
    return db.session.scalars(select(Webhook).order_by(Webhook.id)).all()


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(WebhookCreateSchema)
@blp.response(201, RegisteredSchema)
def register_webhook(data: dict):
    """Register a URL for the chosen events; the answer carries the signing secret, once."""
    with refused(webhooks.WebhookError):
        registered = webhooks.register(
            db.session, url=data["url"], events=data["events"], secret=data["secret"],
            actor=g.api_actor, now=utcnow(), config=current_app.config)
    db.session.commit()
    hook = registered.webhook
    return SimpleNamespace(**{name: getattr(hook, name) for name in WebhookSchema().fields},
                           secret=registered.secret)


@blp.route("/<int:webhook_id>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
def remove_webhook(webhook_id: int):
    """Remove a webhook and what is still queued for it."""
    if not webhooks.remove(db.session, webhook_id, actor=g.api_actor, now=utcnow()):
        abort(404, message="no such webhook")
    db.session.commit()


@blp.route("/<int:webhook_id>/deliveries")
@blp.doc(security=SECURITY)
@blp.arguments(DeliveryArgs, location="query")
@blp.response(200, DeliverySchema(many=True))
def list_deliveries(args: dict, webhook_id: int):
    """A webhook's latest deliveries, newest first, with the receiver's last answer."""
    if db.session.get(Webhook, webhook_id) is None:
        abort(404, message="no such webhook")
    return webhooks.recent(db.session, args["limit"], webhook_id=webhook_id)
