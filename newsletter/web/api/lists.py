"""API: mailing lists."""

from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList
from newsletter.web.api import SECURITY, token_required

blp = Blueprint("api_lists", __name__, url_prefix="/lists", description="Mailing lists")


class ListSchema(Schema):
    id = fields.Int(dump_only=True)
    slug = fields.Str(required=True)
    name = fields.Str(required=True)
    description = fields.Str()
    sender_name = fields.Str()
    sender_address = fields.Str()
    public = fields.Bool()
    archive = fields.Bool()
    double_opt_in = fields.Bool()


@blp.route("")
@blp.doc(security=SECURITY)
@blp.response(200, ListSchema(many=True))
@token_required
def list_lists():
    """All mailing lists."""
    return db.session.scalars(select(MailingList).order_by(MailingList.slug)).all()
