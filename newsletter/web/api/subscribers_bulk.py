"""API: actions on many subscribers at once, as the admin subscribers page runs them.

`POST /subscribers/bulk` chooses people by `ids`, or by `matching` (the admin page's filter:
text, list, status; search.SubscriberFilter), and makes one call into
newsletter/subscribers/bulk.py, committed once: all of it happens or none of it. The domain
writes the audit rows (one per person where the one-person function writes one, and one that
sums the run up). Who may run which action is bulk.ROLES: erasing is a privacy token's (as the
privacy-request erase endpoint), the rest a marketer's; erasing also needs `"confirm": "erase"`,
the admin page's confirmation step. `export` answers the chosen people as CSV.
"""

from __future__ import annotations

from flask import current_app, g
from flask_smorest import abort
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from newsletter.extensions import db
from newsletter.models import MAX_ID, Role, utcnow
from newsletter.sending import mailer
from newsletter.subscribers import bulk, subscriptions
from newsletter.subscribers.search import SubscriberFilter
from newsletter.web import csv_download
from newsletter.web.api.auth import SECURITY, api_blueprint, may_call
from newsletter.web.api.lists import get_list_or_404
from newsletter.web.api.refusals import refused
from newsletter.web.api.schemas import Slug, Text

blp = api_blueprint("api_subscribers_bulk", __name__, roles=[Role.marketer, Role.privacy],
                    url_prefix="/subscribers/bulk",
                    description="Bulk actions on chosen subscribers")

CONSENT_BASES = ("double-opt-in", "existing")


class MatchingSchema(Schema):
    q = Text(load_default="", max_length=254, metadata={
        "description": "text in the address or name"})
    list = Slug(load_default=None, metadata={"description": "on this list (slug)"})
    status = fields.Str(load_default="", validate=validate.Length(max=32), metadata={
        "description": "with a list: the subscription's status (pending, confirmed, "
                       "unsubscribed); without: the person's (active: not suppressed; "
                       "suppressed; pending, unsubscribed, bounced, complained)"})


class BulkSchema(Schema):
    action = fields.Str(required=True, validate=validate.OneOf(bulk.ACTIONS), metadata={
        "description": "unsubscribe (from `list`), add (to `list`), delete (erase: a privacy "
                       "token and `confirm`), export (CSV)"})
    ids = fields.List(fields.Int(validate=validate.Range(1, MAX_ID)),
                      validate=validate.Length(max=max(bulk.MAX_CHOSEN.values())), metadata={
                          "description": "the chosen subscribers; or give `matching`"})
    matching = fields.Nested(MatchingSchema, metadata={
        "description": "everyone the admin subscribers page's filter matches"})
    list = Slug(metadata={"description": "unsubscribe: the list they leave; add: the list "
                                         "they join"})
    consent_basis = fields.Str(load_default="double-opt-in",
                               validate=validate.OneOf(CONSENT_BASES), metadata={
                                   "description": "add: double-opt-in mails a confirm link; "
                                                  "existing: your statement, audited"})
    confirm = fields.Str(validate=validate.Equal(
        "erase", error='say "confirm": "erase": erasure cannot be undone'))

    @validates_schema
    def _one_way_to_choose(self, data: dict, **kwargs) -> None:
        if ("ids" in data) == ("matching" in data):
            raise ValidationError("give ids or matching, not both", "ids")
        if data["action"] in ("unsubscribe", "add") and not data.get("list"):
            raise ValidationError(f"{data['action']}: name the list", "list")


class OutcomeSchema(Schema):
    action = fields.Str()
    chosen = fields.Int(metadata={"description": "people chosen (erased people never are)"})
    changed = fields.Int()
    unchanged = fields.Int(metadata={"description": "already so, or refused (suppressed)"})
    mails_queued = fields.Function(lambda o: len(o.mails), metadata={
        "description": "add: the mails subscribe() queued (a confirm link, double opt-in: "
                       "they receive nothing until they click; or the list's welcome note)"})


def _chosen(data: dict) -> list[int]:
    if "matching" not in data:
        return bulk.chosen_ids(db.session, ids=data["ids"])
    where = data["matching"]
    list_id = get_list_or_404(where["list"]).id if where["list"] else None
    return bulk.chosen_ids(db.session, matching=SubscriberFilter.of(where["q"], list_id,
                                                                    where["status"]))


@blp.route("", methods=["POST"])
@blp.doc(security=SECURITY, responses={"200": {"description": (
    "What was done; for export, the chosen people as text/csv")}})
@blp.arguments(BulkSchema)
@blp.response(200, OutcomeSchema)
def run_bulk(data: dict):
    """Run one action on the chosen subscribers, all or nothing, audited as the admin page is."""
    action = data["action"]
    if not may_call(g.api_role, frozenset({bulk.ROLES[action]}), "POST"):
        abort(403, message=f"a {g.api_role.value} token may not {action}")
    target = get_list_or_404(data["list"]) if action in ("unsubscribe", "add") else None
    ids = _chosen(data)
    now, config = utcnow(), current_app.config
    with refused(bulk.BulkError, subscriptions.SubscribeError):
        if action == "delete" and data.get("confirm") != "erase":
            bulk.check_count(action, ids)
            abort(422, message=f'this erases {len(ids)} subscriber(s) for good: say '
                               f'"confirm": "erase"')
        if action == "export":
            lines = bulk.export(db.session, ids, actor=g.api_actor, now=now, config=config)
            return csv_download(lines, "subscribers.csv")
        if action == "unsubscribe":
            outcome = bulk.unsubscribe(db.session, ids, target, actor=g.api_actor, now=now,
                                       config=config)
        elif action == "add":
            outcome = bulk.add_to_list(
                db.session, ids, target, actor=g.api_actor, now=now, config=config,
                existing_consent=data["consent_basis"] == "existing")
        else:
            outcome = bulk.erase(db.session, ids, actor=g.api_actor, now=now, config=config)
    mailer.commit_and_send(db.session, config, outcome.mails, now)
    return outcome
