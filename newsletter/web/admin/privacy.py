"""Admin: access and erasure requests with their legal deadline (one month from receipt)."""

from __future__ import annotations

import tempfile

from flask import abort, current_app, flash, redirect, render_template, request, send_file, url_for

from newsletter.extensions import db
from newsletter.models import (
    PrivacyRequest,
    PrivacyRequestKind,
    PrivacyRequestStatus,
    Role,
    utcnow,
)
from newsletter.privacy import data_requests as privacy_domain
from newsletter.privacy import export, fulfil
from newsletter.sending import mailer
from newsletter.subscribers import subscriptions
from newsletter.subscribers.addresses import InvalidEmail
from newsletter.web.admin.blueprint import actor, bp, role_required


@bp.get("/privacy")
@role_required(Role.privacy)
def privacy():
    open_only = request.args.get("show", "open") == "open"
    rows = privacy_domain.list_requests(db.session, open_only=open_only)
    now = utcnow()
    return render_template("admin/privacy.html", rows=rows, open_only=open_only, now=now,
                           days_left={r.id: privacy_domain.days_left(r, now) for r in rows})


@bp.post("/privacy/<int:request_id>/close")
@role_required(Role.privacy)
def privacy_close(request_id: int):
    row = db.session.get(PrivacyRequest, request_id)
    if row is None:
        abort(404)
    try:
        status = PrivacyRequestStatus(request.form.get("status", ""))
    except ValueError:
        abort(400)
    if status not in (PrivacyRequestStatus.completed, PrivacyRequestStatus.rejected):
        abort(400)
    try:
        privacy_domain.close(db.session, row, status=status, actor=actor(), now=utcnow(),
                             note=request.form.get("note", "")[:1000])
    except privacy_domain.PrivacyError as exc:
        flash(f"Request {row.id} is still open: {exc}", "error")
        return redirect(url_for("admin.privacy")), 303
    db.session.commit()
    flash(f"Request {row.id} marked {status.value}.", "success")
    return redirect(url_for("admin.privacy")), 303


@bp.post("/privacy")
@role_required(Role.privacy)
def privacy_open():
    """A request received another way (phone, letter): still proven by the mailed link."""
    try:
        email = subscriptions.normalise_email(request.form.get("email", ""))
        kind = PrivacyRequestKind(request.form.get("kind", ""))
    except (InvalidEmail, ValueError):
        flash("Enter a valid address and choose access or erasure.", "error")
        return redirect(url_for("admin.privacy")), 303
    now = utcnow()
    row, mail = privacy_domain.open_request(
        db.session, kind=kind, email=email, source="admin", now=now, config=current_app.config,
        actor=actor(), note=request.form.get("note", "")[:1000])
    mailer.commit_and_send(db.session, current_app.config, [mail], now)
    flash(f"Request {row.id} opened; the verification link was "
          f"{'sent' if mail else 'already sent recently'}.", "success")
    return redirect(url_for("admin.privacy")), 303


@bp.get("/privacy/<int:request_id>/erase")
@role_required(Role.privacy)
def privacy_erase_page(request_id: int):
    """The confirmation step: what erasure removes, and whether the person proved the address."""
    row = _open_request(request_id, PrivacyRequestKind.erasure)
    return render_template("admin/privacy_erase.html", row=row)


@bp.post("/privacy/<int:request_id>/erase")
@role_required(Role.privacy)
def privacy_erase(request_id: int):
    row = _open_request(request_id, PrivacyRequestKind.erasure)
    if request.form.get("confirm") != "erase":
        flash("Tick the box to confirm the erasure: nothing was done.", "error")
        return redirect(url_for("admin.privacy_erase_page", request_id=row.id)), 303
    now = utcnow()
    mails = fulfil.carry_out(db.session, current_app.config, row, now=now, actor=actor())
    mailer.commit_and_send(db.session, current_app.config, mails, now)
    flash(f"Request {row.id}: the address was erased and told so.", "success")
    return redirect(url_for("admin.privacy")), 303


@bp.post("/privacy/<int:request_id>/send-export")
@role_required(Role.privacy)
def privacy_send_export(request_id: int):
    """Answer an open access request: the signed, expiring download link goes to the address."""
    row = _open_request(request_id, PrivacyRequestKind.access)
    now = utcnow()
    mails = fulfil.carry_out(db.session, current_app.config, row, now=now, actor=actor())
    mailer.commit_and_send(db.session, current_app.config, mails, now)
    flash(f"Request {row.id}: the download link was mailed to the address.", "success")
    return redirect(url_for("admin.privacy")), 303


@bp.post("/privacy/<int:request_id>/export")
@role_required(Role.privacy)
def privacy_export(request_id: int):
    """The zip of what we hold about the request's address, for the officer (audited)."""
    row = db.session.get(PrivacyRequest, request_id)
    if row is None or not row.detail.get("email"):
        abort(404)
    now = utcnow()
    out = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)
    export.export(db.session, row.detail["email"], out, config=current_app.config, now=now,
                  actor=actor())
    db.session.commit()
    out.seek(0)
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"request-{row.id}-{now:%Y-%m-%d}.zip", max_age=0)


def _open_request(request_id: int, kind: PrivacyRequestKind) -> PrivacyRequest:
    row = db.session.get(PrivacyRequest, request_id)
    if row is None or row.kind is not kind:
        abort(404)
    if row.status not in privacy_domain.OPEN_STATUSES:
        abort(409)
    return row
