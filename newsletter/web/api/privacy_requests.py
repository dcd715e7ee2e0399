"""API: access and erasure requests.

Open one (a verification mail goes to the address; nothing happens before it is used), read
one with what was done for it, and, with a privacy token, carry it out as the admin request
page does: `POST .../export` mails the signed download link, `GET .../export` is the zip
itself, `POST .../erase` erases a verified request (the body must say `"confirm": "erase"`),
`POST .../close` closes one (a reason is needed unless it was carried out). Each act is audited
by the domain function with the token's name and the client's IP.
"""

from __future__ import annotations

import tempfile

from flask import current_app, g, send_file
from flask_smorest import abort
from marshmallow import Schema, fields, validate

from newsletter.extensions import db
from newsletter.models import (
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Role,
    utcnow,
)
from newsletter.privacy import data_requests, export, fulfil
from newsletter.sending import mailer
from newsletter.subscribers import subscriptions
from newsletter.subscribers.addresses import InvalidEmail
from newsletter.web.api.auth import SECURITY, allow, api_blueprint
from newsletter.web.api.refusals import refused
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
    note = fields.Str(allow_none=True)
    # What was done for it, and by whom (null until done).
    export_sent_at = fields.Function(lambda r: r.detail.get("export_sent_at"))
    export_sent_by = fields.Function(lambda r: r.detail.get("export_sent_by"))
    erased_at = fields.Function(lambda r: r.detail.get("erased_at"))
    erased_by = fields.Function(lambda r: r.detail.get("erased_by"))


class PrivacyArgs(Schema):
    status = fields.Str(validate=validate.OneOf([s.value for s in PrivacyRequestStatus]))


class EraseSchema(Schema):
    confirm = fields.Str(required=True, validate=validate.Equal(
        "erase", error='say "confirm": "erase": erasure cannot be undone'))


class CloseSchema(Schema):
    status = fields.Str(required=True, validate=validate.OneOf(["completed", "rejected"]))
    note = Text(load_default="", max_length=1000)


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


def _request_or_404(request_id: int) -> PrivacyRequest:
    row = db.session.get(PrivacyRequest, request_id)
    if row is None:
        abort(404, message="no such privacy request")
    return row


def _open(request_id: int, kind: PrivacyRequestKind) -> PrivacyRequest:
    row = _request_or_404(request_id)
    if row.kind is not kind:
        abort(409, message=f"this is an {row.kind.value} request")
    if row.status not in data_requests.OPEN_STATUSES:
        abort(409, message=f"the request is {row.status.value} already")
    return row


@blp.route("/<int:request_id>")
@blp.doc(security=SECURITY)
@blp.response(200, PrivacyRequestSchema)
def get_request(request_id: int):
    """One request, with what was done for it (export sent, erased: when and by whom)."""
    return _request_or_404(request_id)


@blp.route("/<int:request_id>/export", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.response(200, PrivacyRequestSchema)
def send_export(request_id: int):
    """Answer an open access request: mail the signed, expiring download link to the address."""
    row = _open(request_id, PrivacyRequestKind.access)
    now = utcnow()
    mails = fulfil.carry_out(db.session, current_app.config, row, now=now, actor=g.api_actor)
    mailer.commit_and_send(db.session, current_app.config, mails, now)
    return _request_or_404(request_id)


@blp.route("/<int:request_id>/export")
@blp.doc(security=SECURITY, responses={"200": {"description": "The zip (application/zip)"}})
@allow(Role.privacy)  # everything held about a person: not for read-only tokens
def download_export(request_id: int):
    """The zip of everything held about the request's address (JSON and CSV), audited."""
    row = _request_or_404(request_id)
    if not row.detail.get("email"):
        abort(410, message="the address of this request was erased")
    now = utcnow()
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    export.export(db.session, row.detail["email"], out, config=current_app.config, now=now,
                  actor=g.api_actor)
    db.session.commit()
    out.seek(0)
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"request-{row.id}-{now:%Y-%m-%d}.zip", max_age=0)


@blp.route("/<int:request_id>/erase", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(EraseSchema)
@blp.response(200, PrivacyRequestSchema)
def erase(data: dict, request_id: int):
    """Carry out a verified erasure request now (the last mail tells the person). An unverified
    one is refused: only the admin page, after its warning, lets an officer who holds other
    proof act before the person has used the mailed link."""
    row = _open(request_id, PrivacyRequestKind.erasure)
    if row.status is PrivacyRequestStatus.unverified:
        abort(409, message="the person has not confirmed this request by the mailed link yet")
    now = utcnow()
    mails = fulfil.carry_out(db.session, current_app.config, row, now=now, actor=g.api_actor)
    mailer.commit_and_send(db.session, current_app.config, mails, now)
    return _request_or_404(request_id)


@blp.route("/<int:request_id>/close", methods=["POST"])
@blp.doc(security=SECURITY)
@blp.arguments(CloseSchema)
@blp.response(200, PrivacyRequestSchema)
def close(data: dict, request_id: int):
    """Close an open request; without having carried it out, `note` must say why."""
    row = _request_or_404(request_id)
    if row.status not in data_requests.OPEN_STATUSES:
        abort(409, message=f"the request is {row.status.value} already")
    with refused(data_requests.PrivacyError):
        data_requests.close(db.session, row, status=PrivacyRequestStatus(data["status"]),
                            actor=g.api_actor, now=utcnow(), note=data["note"])
    db.session.commit()
    return row
