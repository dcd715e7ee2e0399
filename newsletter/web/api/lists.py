"""API: mailing lists (list, create, read, update)."""

from __future__ import annotations

from flask_smorest import abort
from marshmallow import Schema, fields, post_dump, validate
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.i18n import LANGUAGES
from newsletter.models import MailingList, Role, utcnow
from newsletter.subscribers import form_fields, lists
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.refusals import refused
from newsletter.web.api.schemas import SLUG_PATTERN, Slug, Text

blp = api_blueprint("api_lists", __name__, roles=[Role.marketer, Role.read_only],
                    url_prefix="/lists", description="Mailing lists")


class FormFieldSchema(Schema):
    name = fields.Str(required=True, metadata={
        "description": "The attribute the answer is kept as (subscriber.attributes.NAME)."})
    label = fields.Str(required=True, metadata={"description": "Shown as written."})
    type = fields.Str(required=True, validate=validate.OneOf(form_fields.TYPES))
    required = fields.Bool(load_default=False)


class ListSchema(Schema):
    id = fields.Int(dump_only=True)
    slug = Slug(required=True)
    name = Text(required=True)
    description = Text(max_length=2000)
    sender_name = Text()
    sender_address = Text(max_length=254)
    public = fields.Bool()
    archive = fields.Bool()
    double_opt_in = fields.Bool(load_default=True)
    count_clicks = fields.Bool(metadata={
        "description": "Count clicks per link of each campaign (the same link for every "
                       "reader, no per-person tracking; said in the mail's footer). Off by "
                       "default."})
    postal_address = Text(max_length=500, metadata={
        "description": "One line, in the footer of every newsletter of the list (CAN-SPAM asks "
                       "for a physical postal address); empty: NEWSLETTER_POSTAL_ADDRESS."})
    default_language = fields.Str(validate=validate.OneOf(LANGUAGES), metadata={
        "description": "Pages and system mail for subscribers who chose no language."})
    form_fields = fields.List(fields.Nested(FormFieldSchema), validate=validate.Length(
        max=form_fields.MAX_FIELDS), metadata={
        "description": "Extra questions on the list's public form, its snippet and "
                       "/api/public/subscribe (`attributes`); replaced as a whole."})

    @post_dump
    def _no_fields_is_an_empty_list(self, data: dict, **kwargs) -> dict:
        # A list that never had a field stores NULL; the document promises an array.
        if data.get("form_fields") is None:
            data["form_fields"] = []
        return data


class ListUpdateSchema(ListSchema):
    class Meta:
        exclude = ("slug",)

    name = Text()
    double_opt_in = fields.Bool()


def _fields(data: dict) -> lists.ListFields:
    return lists.ListFields(**{k: v for k, v in data.items() if k not in ("slug", "form_fields")})


def _set_form_fields(mailing_list: MailingList, data: dict) -> None:
    if "form_fields" in data:
        form_fields.set_fields(mailing_list, data["form_fields"])


def get_list_or_404(slug: str) -> MailingList:
    """The list with this slug, or a 404 (also for strings that cannot be a slug)."""
    mailing_list = None
    if SLUG_PATTERN.match(slug):
        mailing_list = lists.find_list(db.session, slug)
    if mailing_list is None:
        abort(404, message=f"no list {slug!r}")
    return mailing_list


@blp.route("")
@blp.doc(security=SECURITY)
@blp.response(200, ListSchema(many=True))
def list_lists():
    """All mailing lists."""
    return db.session.scalars(select(MailingList).order_by(MailingList.slug)).all()


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(ListSchema)
@blp.response(201, ListSchema)
@blp.alt_response(409, description="The slug is taken")
def create_list(data: dict):
    """Create a list (double opt-in unless `double_opt_in` is false)."""
    try:
        mailing_list = lists.create_list(db.session, data["slug"], _fields(data), now=utcnow())
        _set_form_fields(mailing_list, data)
    except lists.ListError as exc:
        db.session.rollback()
        abort(409 if "already exists" in str(exc) else 422, message=str(exc))
    db.session.commit()
    return mailing_list


@blp.route("/<slug>")
@blp.doc(security=SECURITY)
@blp.response(200, ListSchema)
def get_list(slug: str):
    """One list."""
    return get_list_or_404(slug)


@blp.route("/<slug>", methods=["PATCH"])
@blp.doc(security=SECURITY)
@blp.arguments(ListUpdateSchema)
@blp.response(200, ListSchema)
def update_list(data: dict, slug: str):
    """Change a list's fields (the slug stays: it is in every link ever mailed)."""
    mailing_list = get_list_or_404(slug)
    with refused(lists.ListError):
        lists.update_list(db.session, mailing_list, _fields(data))
        _set_form_fields(mailing_list, data)
    db.session.commit()
    return mailing_list
