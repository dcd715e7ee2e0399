"""API: the layout library (a list's layouts in HTML or MJML, one of them its default).

Each route is one call into newsletter/sending/layouts.py, as the admin Layouts page makes it:
every save compiles MJML and runs THE layout rule (compose.check_layout) with the list's real
subscribers as sample readers, and a refused save is a 422 with the admin form's message.
"""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from newsletter.extensions import db
from newsletter.models import Layout, LayoutFormat, MailingList, Role, utcnow
from newsletter.sending import compose, layouts, readers
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.lists import get_list_or_404
from newsletter.web.api.refusals import refused
from newsletter.web.api.schemas import MessageSchema

# GET  /lists/<slug>/layouts          the list's layouts, the default first
# POST /lists/<slug>/layouts          add one (a list's first layout becomes its default)
# GET  /layouts/<id>                  one layout: source as written and the HTML it compiled to
# PATCH /layouts/<id>                 change name, format, source; `is_default: true`
# POST /layouts/<id>/default          make it its list's default
# DELETE /layouts/<id>                remove one no unsent campaign uses (409 otherwise)

blp = api_blueprint("api_layouts", __name__, roles=[Role.marketer, Role.read_only],
                    description="Layouts: each list's library of HTML or MJML layouts")

FORMATS = [f.value for f in LayoutFormat]


class LayoutSchema(Schema):
    id = fields.Int()
    list = fields.Function(lambda layout: layout.mailing_list.slug,
                           metadata={"description": "the slug of the layout's list"})
    name = fields.Str()
    source_format = fields.Function(lambda layout: layout.source_format.value,
                                    metadata={"description": "html or mjml"})
    source = fields.Str(metadata={"description": "as written"})
    html = fields.Str(metadata={"description": "what campaigns are wrapped in (MJML compiled "
                                               "at save; Jinja tags kept)"})
    is_default = fields.Bool()
    updated_at = fields.DateTime()
    updated_by = fields.Str()


DEFAULT_DOC = {"description": "true: campaigns of the list that choose no layout are sent in "
                              "this one (the default before it stops being one)"}


class LayoutCreateSchema(Schema):
    name = fields.Str(required=True)
    source_format = fields.Str(load_default="html", validate=validate.OneOf(FORMATS))
    source = fields.Str(required=True, metadata={
        "description": "a Jinja template with {{ content }} where the campaign goes; MJML is "
                       f"compiled to HTML (at most {layouts.MAX_SOURCE:,} characters)"})
    is_default = fields.Bool(load_default=False, metadata=DEFAULT_DOC)


class LayoutUpdateSchema(Schema):
    name = fields.Str()
    source_format = fields.Str(validate=validate.OneOf(FORMATS))
    source = fields.Str()
    is_default = fields.Bool(metadata={
        "description": DEFAULT_DOC["description"] + "; a default stays one until another "
                                                    "layout is made the default"})


def _layout_or_404(layout_id: int) -> Layout:
    layout = db.session.get(Layout, layout_id)
    if layout is None:
        abort(404, message="no such layout")
    return layout


def _save(mailing_list: MailingList, data: dict, layout: Layout | None = None) -> Layout:
    """layouts.save as the admin form calls it; LayoutError -> 422 with its message."""
    with refused(layouts.LayoutError):
        saved = layouts.save(
            db.session, mailing_list=mailing_list, name=data["name"],
            source_format=data["source_format"], source=data["source"], now=utcnow(),
            actor=g.api_actor, make_default=data.get("is_default") is True,
            samples=readers.sample_readers(db.session, [mailing_list]),
            limits=compose.Limits.from_config(current_app.config), layout=layout)
    db.session.commit()
    return saved


@blp.route("/lists/<slug>/layouts")
@blp.doc(security=SECURITY)
@blp.response(200, LayoutSchema(many=True))
def list_layouts(slug: str):
    """A list's layouts, the default first, then by name."""
    return layouts.for_list(db.session, get_list_or_404(slug).id)


@blp.route("/lists/<slug>/layouts", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(LayoutCreateSchema)
@blp.response(201, LayoutSchema)
def create_layout(data: dict, slug: str):
    """Add a layout to a list: compiled (MJML) and checked as the admin form does; a list's
    first layout becomes its default."""
    return _save(get_list_or_404(slug), data)


@blp.route("/layouts/<int:layout_id>")
@blp.doc(security=SECURITY)
@blp.response(200, LayoutSchema)
def get_layout(layout_id: int):
    """One layout: its source as written and the HTML campaigns are wrapped in."""
    return _layout_or_404(layout_id)


@blp.route("/layouts/<int:layout_id>", methods=["PATCH"])
@blp.doc(security=SECURITY)
@blp.arguments(LayoutUpdateSchema)
@blp.response(200, LayoutSchema)
def update_layout(data: dict, layout_id: int):
    """Change a layout (fields left out stay as they are): every save compiles and checks it
    again."""
    layout = _layout_or_404(layout_id)
    if data.get("is_default") is False and layout.is_default:
        abort(422, message="this is the list's default layout: make another one the default "
                           "instead")
    current = {"name": layout.name, "source_format": layout.source_format.value,
               "source": layout.source}
    return _save(layout.mailing_list, {**current, **data}, layout)


@blp.route("/layouts/<int:layout_id>/default", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, LayoutSchema)
def make_default(layout_id: int):
    """Campaigns of the list that choose no layout are sent in this one from now on."""
    layout = _layout_or_404(layout_id)
    layouts.set_default(db.session, layout)
    db.session.commit()
    return layout


@blp.route("/layouts/<int:layout_id>", methods=["DELETE"])
@blp.doc(security=SECURITY)
@blp.response(204)
@blp.alt_response(409, schema=MessageSchema, description="An unsent campaign uses it")
def delete_layout(layout_id: int):
    """Remove a layout; refused (409) while a campaign still to be sent uses it."""
    layout = _layout_or_404(layout_id)
    with refused(layouts.LayoutError, status=409):
        layouts.delete(db.session, layout)
    db.session.commit()
