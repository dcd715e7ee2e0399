"""API: inbound items (replies, bounces, complaints) and the person's verdicts on them.

Reclassified items are labelled examples: `GET /inbound?labelled=true` lists them and
`GET /inbound/<id>/raw` returns the message bytes, so they can grow the test corpus.
"""

from __future__ import annotations

from flask import Response, current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.inbound import inbox
from newsletter.inbound.classify import Kind
from newsletter.models import InboundMessage, InboundStatus, Role, utcnow
from newsletter.privacy.audit import viewed
from newsletter.web.api.auth import SECURITY, allow, api_blueprint
from newsletter.web.api.schemas import PageArgs

blp = api_blueprint("api_inbound", __name__, roles=[Role.marketer, Role.privacy, Role.read_only],
                    url_prefix="/inbound",
                    description="Inbound mail: replies, bounces, complaints")

VERDICTS = [k.value for k in Kind]


class InboundItemSchema(Schema):
    id = fields.Int()
    message_key = fields.Str()
    received_at = fields.DateTime()
    sender = fields.Str()
    subject = fields.Str()
    verdict = fields.Str()
    human_verdict = fields.Str(allow_none=True)
    reasons = fields.List(fields.Str())
    status = fields.Function(lambda m: m.status.value)
    action = fields.Str()
    subscriber_id = fields.Int(allow_none=True)
    campaign_id = fields.Int(allow_none=True)
    recipient_domain = fields.Str(allow_none=True)
    handled_by = fields.Str(allow_none=True)


class InboundArgs(PageArgs):
    status = fields.Str(validate=validate.OneOf([s.value for s in InboundStatus]))
    verdict = fields.Str(validate=validate.OneOf(VERDICTS))
    labelled = fields.Bool(load_default=False)


class ReclassifySchema(Schema):
    verdict = fields.Str(required=True, validate=validate.OneOf(VERDICTS))


def _item_or_404(item_id: int) -> InboundMessage:
    item = db.session.get(InboundMessage, item_id)
    if item is None:
        abort(404, message="no such inbound item")
    return item


@blp.route("")
@blp.doc(security=SECURITY)
@blp.arguments(InboundArgs, location="query")
@blp.response(200, InboundItemSchema(many=True))
def list_items(args: dict):
    """Inbound items, newest first; filter by status, verdict, or labelled by a person."""
    statement = select(InboundMessage)
    if args.get("status"):
        statement = statement.where(InboundMessage.status == InboundStatus(args["status"]))
    if args.get("verdict"):
        statement = statement.where(InboundMessage.verdict == args["verdict"])
    if args["labelled"]:
        statement = statement.where(InboundMessage.human_verdict.is_not(None))
    offset = (args["page"] - 1) * args["per_page"]
    return db.session.scalars(statement.order_by(InboundMessage.id.desc())
                              .limit(args["per_page"]).offset(offset)).all()


@blp.route("/<int:item_id>")
@blp.doc(security=SECURITY)
@blp.response(200, InboundItemSchema)
def get_item(item_id: int):
    """One inbound item."""
    return _item_or_404(item_id)


@blp.route("/<int:item_id>/raw")
@blp.doc(security=SECURITY, responses={"200": {"description": "The message (message/rfc822)"}})
@allow(Role.privacy)  # a person's whole mail: not for marketer or read-only tokens
def get_raw(item_id: int):
    """The message bytes as received (headers only for a message over the size limit)."""
    item = _item_or_404(item_id)
    if not item.raw:
        abort(410, message="the message bytes are no longer kept")
    viewed(db.session, actor=g.api_actor, subject_type="inbound_message", subject_id=item.id,
           now=utcnow(), what="view-raw")
    db.session.commit()
    return Response(item.raw, mimetype="message/rfc822")


@blp.route("/<int:item_id>/reclassify", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(ReclassifySchema)
@blp.response(200, InboundItemSchema)
def reclassify_item(data: dict, item_id: int):
    """Set a person's verdict (kept as a labelled example) and do what it means."""
    item = _item_or_404(item_id)
    inbox.reclassify(db.session, item, Kind(data["verdict"]), actor=g.api_actor,
                     config=current_app.config, now=utcnow())
    db.session.commit()
    return item
