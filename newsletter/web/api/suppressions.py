"""API: the suppression list (list, check, add, lift with a reason; audited)."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import Role, Suppression, SuppressionReason, utcnow
from newsletter.subscribers import subscriptions, suppression
from newsletter.web.api.auth import SECURITY, allow, api_blueprint
from newsletter.web.api.schemas import PageArgs, Text

blp = api_blueprint("api_suppressions", __name__, roles=[Role.marketer, Role.privacy, Role.read_only],
                    url_prefix="/suppressions",
                    description="Addresses that must never be mailed (kept as keyed hashes)")


class SuppressionSchema(Schema):
    email_hash = fields.Str()
    reason = fields.Function(lambda s: s.reason.value)
    created_at = fields.DateTime()
    note = fields.Str()


class CheckSchema(Schema):
    email = fields.Str()
    suppressed = fields.Bool()


class AddSchema(Schema):
    email = Text(required=True, max_length=254)
    reason = fields.Str(load_default="manual", validate=validate.OneOf(
        [r.value for r in SuppressionReason]))
    note = Text(load_default="", max_length=500)


class AddressSchema(Schema):
    email = Text(required=True, max_length=254)


class LiftSchema(Schema):
    email = Text(required=True, max_length=254)
    reason = Text(required=True, max_length=500, min_length=1)


def _email(raw: str) -> str:
    try:
        return subscriptions.normalise_email(raw)
    except subscriptions.SubscribeError as exc:
        abort(422, message=str(exc))


@blp.route("")
@blp.doc(security=SECURITY)
@blp.arguments(PageArgs, location="query")
@blp.response(200, SuppressionSchema(many=True))
def list_suppressions(args: dict):
    """Suppression entries, newest first (addresses are not stored, only their keyed hash)."""
    offset = (args["page"] - 1) * args["per_page"]
    return db.session.scalars(select(Suppression).order_by(Suppression.id.desc())
                              .limit(args["per_page"]).offset(offset)).all()


@blp.route("/check", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(AddressSchema)
@blp.response(200, CheckSchema)
def check_suppression(data: dict):
    """Whether one address is suppressed."""
    email = _email(data["email"])
    key = current_app.config["NEWSLETTER_SUPPRESSION_KEY"]
    return {"email": email, "suppressed": suppression.is_suppressed(db.session, key, email)}


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(AddSchema)
@blp.response(201, SuppressionSchema)
def add_suppression(data: dict):
    """Suppress an address (idempotent)."""
    email, now = _email(data["email"]), utcnow()
    row = suppression.suppress(db.session, current_app.config["NEWSLETTER_SUPPRESSION_KEY"], email,
                               SuppressionReason(data["reason"]), now, note=data["note"],
                               actor=g.api_actor)
    db.session.commit()
    return row


@blp.route("/lift", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(LiftSchema)
@blp.response(200, CheckSchema)
@allow(Role.privacy)  # mailing someone who asked never to be mailed again is not a marketer's call
def lift_suppression(data: dict):
    """Lift a suppression; the reason is kept in the audit trail. 404 if it was not suppressed."""
    email = _email(data["email"])
    if not data["reason"].strip():
        abort(422, message="lifting a suppression needs a reason")
    lifted = suppression.lift(db.session, current_app.config["NEWSLETTER_SUPPRESSION_KEY"], email,
                              actor=g.api_actor, reason=data["reason"], now=utcnow())
    if not lifted:
        abort(404, message="that address is not suppressed")
    db.session.commit()
    return {"email": email, "suppressed": False}
