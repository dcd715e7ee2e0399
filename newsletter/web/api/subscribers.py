"""API: subscribers (search, create = double opt-in unless told otherwise, read, edit,
unsubscribe)."""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, fields, validate
from sqlalchemy.orm import selectinload

from newsletter.extensions import db, limiter
from newsletter.i18n import LANGUAGES
from newsletter.models import (
    ConsentMethod,
    Role,
    Subscriber,
    SubscriberStatus,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from newsletter.privacy.audit import viewed
from newsletter.sending import mailer
from newsletter.subscribers import attributes, preferences, subscriptions
from newsletter.subscribers.search import SubscriberFilter
from newsletter.web import client
from newsletter.web.api.auth import SECURITY, api_blueprint
from newsletter.web.api.lists import get_list_or_404
from newsletter.web.api.refusals import refused
from newsletter.web.api.schemas import Country, MessageSchema, PageArgs, Slug, Text

blp = api_blueprint("api_subscribers", __name__, roles=[Role.marketer, Role.privacy, Role.read_only],
                    url_prefix="/subscribers", description="Subscribers")

CONSENT_BASES = ("double-opt-in", "existing")


class SubscriptionSchema(Schema):
    list = fields.Function(lambda s: s.mailing_list.slug)
    status = fields.Function(lambda s: s.status.value)
    source = fields.Str()
    created_at = fields.DateTime()
    confirmed_at = fields.DateTime(allow_none=True)
    unsubscribed_at = fields.DateTime(allow_none=True)


LANGUAGE_DOC = {"description": "Language of public pages and system mail (" + ", ".join(LANGUAGES)
                + "); null: the list's default language."}


class SubscriberSchema(Schema):
    id = fields.Int()
    email = fields.Str()
    name = fields.Str()
    country = fields.Str(allow_none=True)
    language = fields.Str(allow_none=True, metadata=LANGUAGE_DOC)
    status = fields.Function(lambda s: s.status.value)
    attributes = fields.Function(lambda s: s.attributes or {})
    created_at = fields.DateTime()
    subscriptions = fields.List(fields.Nested(SubscriptionSchema))


ATTRIBUTES_DOC = {"description": "Custom attributes (subscriber.attributes.NAME in templates): "
                                 "names [a-z][a-z0-9_]*, values text, number or true/false; "
                                 "null removes a name."}


class SubscriberCreateSchema(Schema):
    email = Text(required=True, max_length=254)
    name = Text(load_default="")
    country = Country(load_default=None)
    language = fields.Str(load_default=None, allow_none=True, validate=validate.OneOf(LANGUAGES),
                          metadata=LANGUAGE_DOC)
    lists = fields.List(Slug(), required=True, validate=validate.Length(min=1, max=50))
    consent_basis = fields.Str(load_default="double-opt-in", validate=validate.OneOf(CONSENT_BASES))
    wording = Text(load_default="", max_length=2000)
    attributes = fields.Dict(keys=fields.Str(), load_default=dict, metadata=ATTRIBUTES_DOC)


class SubscriberUpdateSchema(Schema):
    name = Text()
    country = Country()
    language = fields.Str(validate=validate.OneOf(LANGUAGES), metadata=LANGUAGE_DOC)
    attributes = fields.Dict(keys=fields.Str(), metadata=ATTRIBUTES_DOC)


class UnsubscribeSchema(Schema):
    lists = fields.List(Slug(), validate=validate.Length(max=50),
                        metadata={"description": "Leave these lists; omit to leave everything."})


class SearchArgs(PageArgs):
    q = Text(load_default="", max_length=254)
    list = Slug()
    status = fields.Str(validate=validate.OneOf(
        sorted({s.value for s in SubscriberStatus} | {s.value for s in SubscriptionStatus}
               | {"suppressed"})))


def _subscriber_or_404(subscriber_id: int) -> Subscriber:
    subscriber = db.session.get(Subscriber, subscriber_id)
    if subscriber is None:
        abort(404, message="no such subscriber")
    return subscriber


def _subscribe_limit() -> str:
    return current_app.config["NEWSLETTER_SUBSCRIBE_RATE_LIMIT"]


@blp.route("")
@blp.doc(security=SECURITY)
@blp.arguments(SearchArgs, location="query")
@blp.response(200, SubscriberSchema(many=True))
def search_subscribers(args: dict):
    """Subscribers, newest first; filter by text, list and status (per list when a list is
    given; without one, active excludes suppressed addresses): the admin page's filter."""
    list_id = get_list_or_404(args["list"]).id if args.get("list") else None
    statement = SubscriberFilter.of(args["q"], list_id, args.get("status")).query()
    offset = (args["page"] - 1) * args["per_page"]
    return db.session.scalars(
        statement.order_by(Subscriber.id.desc()).limit(args["per_page"]).offset(offset)
        .options(selectinload(Subscriber.subscriptions).joinedload(Subscription.mailing_list))
    ).all()


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(SubscriberCreateSchema)
@blp.response(201, SubscriberSchema)
@blp.alt_response(409, schema=MessageSchema, description="The address is suppressed")
@limiter.limit(_subscribe_limit)
def create_subscriber(data: dict):
    """Subscribe an address: a confirmation mail (double opt-in) unless consent_basis is existing."""
    lists = [get_list_or_404(slug) for slug in dict.fromkeys(data["lists"])]
    existing = data["consent_basis"] == "existing"
    wording = data["wording"] or (f"Subscribed through the API by {g.api_actor}: "
                                  + ("consent given before (existing)" if existing else "double opt-in"))
    with refused(subscriptions.SubscribeError):
        outcome = subscriptions.subscribe(db.session, subscriptions.SubscribeRequest(
            email=data["email"], lists=lists, method=ConsentMethod.api, name=data["name"],
            country=data["country"], language=data["language"], existing_consent=existing, wording=wording,
            actor=g.api_actor, **client(),
        ), now=utcnow(), config=current_app.config)
        if not outcome.suppressed and data["attributes"]:
            attributes.set_attributes(db.session, outcome.subscriber, data["attributes"],
                                      actor=g.api_actor, now=utcnow())
    if outcome.suppressed:
        abort(409, message="the address is on the suppression list")
    db.session.flush()
    subscriber_id = outcome.subscriber.id
    mailer.commit_and_send(db.session, current_app.config, outcome.mails, utcnow())
    return db.session.get(Subscriber, subscriber_id)


@blp.route("/<int:subscriber_id>")
@blp.doc(security=SECURITY)
@blp.response(200, SubscriberSchema)
def get_subscriber(subscriber_id: int):
    """One subscriber with their subscriptions (the read is audited)."""
    subscriber = _subscriber_or_404(subscriber_id)
    viewed(db.session, actor=g.api_actor, subject_type="subscriber", subject_id=subscriber.id,
           now=utcnow())
    db.session.commit()
    return subscriber


@blp.route("/<int:subscriber_id>", methods=["PATCH"])
@blp.doc(security=SECURITY)
@blp.arguments(SubscriberUpdateSchema)
@blp.response(200, SubscriberSchema)
def update_subscriber(data: dict, subscriber_id: int):
    """Change name, country or attributes (merged: null removes a name); audited."""
    subscriber = _subscriber_or_404(subscriber_id)
    preferences.edit_profile(db.session, subscriber, name=data.get("name", subscriber.name),
                             country=data.get("country", subscriber.country), actor=g.api_actor,
                             language=data.get("language"), now=utcnow())
    with refused(subscriptions.SubscribeError):
        attributes.set_attributes(db.session, subscriber, data.get("attributes") or {},
                                  actor=g.api_actor, now=utcnow())
    db.session.commit()
    return subscriber


@blp.route("/<int:subscriber_id>/unsubscribe", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(UnsubscribeSchema)
@blp.response(200, SubscriberSchema)
def unsubscribe_subscriber(data: dict, subscriber_id: int):
    """Leave the given lists, or everything (which also suppresses the address)."""
    subscriber = _subscriber_or_404(subscriber_id)
    list_ids = None
    if data.get("lists"):
        list_ids = [get_list_or_404(slug).id for slug in data["lists"]]
    subscriptions.unsubscribe(
        db.session, subscriber, list_ids=list_ids, method=ConsentMethod.api, now=utcnow(),
        suppression_key=current_app.config["NEWSLETTER_SUPPRESSION_KEY"],
        wording=f"Unsubscribed through the API by {g.api_actor}", actor=g.api_actor,
        **client())
    db.session.commit()
    return subscriber
