"""Admin: actions on many subscribers (subscribers page: ticked rows, or everyone matching the
filter) and the CSV of a segment. Each action is one call into subscribers/bulk.py, committed
once; erasing asks for a confirmation that shows the count first."""

from __future__ import annotations

from flask import (
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user

from newsletter.extensions import db
from newsletter.models import MAX_ID, MailingList, Role, Segment, utcnow
from newsletter.sending import mailer
from newsletter.subscribers import bulk, exports, subscriptions
from newsletter.subscribers.search import SubscriberFilter
from newsletter.web import csv_download
from newsletter.web.admin.blueprint import actor, bp, role_required


def may(action: str) -> bool:
    """Whether the logged-in user may run this bulk action."""
    return current_user.role in (Role.admin, bulk.ROLES.get(action))


def _filter() -> SubscriberFilter:
    form = request.form
    return SubscriberFilter.of(form.get("q"), form.get("list_id", type=int), form.get("status"))


def _ids(values: list[str]) -> list[int]:
    return [int(v) for v in values if v.isdigit() and 0 < int(v) <= MAX_ID]


def _chosen() -> list[int]:
    """The confirmed ids (second step), everyone matching the filter, or the ticked rows."""
    form = request.form
    if form.get("all_matching") and not form.get("chosen"):
        return bulk.chosen_ids(db.session, matching=_filter())
    ticked = form["chosen"].split(",") if form.get("chosen") else form.getlist("ids")
    return bulk.chosen_ids(db.session, ids=_ids(ticked)[:max(bulk.MAX_CHOSEN.values()) + 1])


def _back():
    where = _filter()
    return redirect(url_for("admin.subscribers", q=where.q or None, list_id=where.list_id,
                            status=where.status or None), 303)


@bp.post("/subscribers/bulk")
@role_required(Role.marketer, Role.privacy)
def subscribers_bulk():
    action = request.form.get("action", "")
    if action not in bulk.ACTIONS:
        flash("Choose what to do with the chosen subscribers.", "error")
        return _back()
    if not may(action):
        abort(403)
    ids = _chosen()
    target = None
    if action in ("unsubscribe", "add"):
        target = db.session.get(MailingList, request.form.get("target_list_id", 0, type=int))
        if target is None:
            flash("Choose the list to unsubscribe them from or add them to.", "error")
            return _back()
    now = utcnow()
    try:
        if action == "delete" and request.form.get("confirm") != "erase":
            bulk.check_count(action, ids)
            return render_template("admin/subscribers_bulk_confirm.html", count=len(ids),
                                   chosen=",".join(map(str, ids)), where=_filter())
        if action == "export":
            lines = bulk.export(db.session, ids, actor=actor(), now=now, config=current_app.config)
            return csv_download(lines, "subscribers.csv")
        if action == "unsubscribe":
            outcome = bulk.unsubscribe(db.session, ids, target, actor=actor(), now=now,
                                       config=current_app.config)
        elif action == "add":
            outcome = bulk.add_to_list(
                db.session, ids, target, actor=actor(), now=now, config=current_app.config,
                existing_consent=request.form.get("consent_basis") == "existing")
        else:
            outcome = bulk.erase(db.session, ids, actor=actor(), now=now,
                                 config=current_app.config)
    except (bulk.BulkError, subscriptions.SubscribeError) as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return _back()
    mailer.commit_and_send(db.session, current_app.config, outcome.mails, now)
    flash(_summary(outcome, target), "success")
    return _back()


def _summary(outcome: bulk.BulkOutcome, target: MailingList | None) -> str:
    done = {"unsubscribe": f"unsubscribed from {target.name if target else ''}",
            "add": f"added to {target.name if target else ''}",
            "delete": "erased"}[outcome.action]
    text = f"{outcome.changed} of {outcome.chosen} subscriber(s) {done}."
    if outcome.action == "add":
        pending = len(outcome.mails)
        text += (f" {pending} confirmation mail(s) sent: they receive nothing until they confirm."
                 if pending else "")
        if outcome.unchanged:
            text += (f" {outcome.unchanged} left as they were (already on the list, or on the "
                     f"suppression list).")
    elif outcome.unchanged:
        text += f" {outcome.unchanged} left as they were."
    return text


@bp.get("/segments/<int:segment_id>/export.csv")
@role_required(Role.marketer)
def segments_export(segment_id: int):
    segment = db.session.get(Segment, segment_id) or abort(404)
    lines = exports.export_segment(db.session, segment, actor=actor(), now=utcnow())
    return csv_download(lines, f"{segment.slug}-segment.csv")
