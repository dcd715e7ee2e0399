"""Admin: the inbox of replies the machine could not decide (read safely, act in one click)."""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from newsletter.extensions import db
from newsletter.inbound import answer, wording
from newsletter.inbound import inbox as inbox_domain
from newsletter.inbound.classify import Kind
from newsletter.inbound.handle import policy_rejections
from newsletter.models import InboundMessage, Role, utcnow
from newsletter.privacy.audit import viewed
from newsletter.sending import mailer
from newsletter.web.admin.blueprint import actor, bp, role_required


def _message(message_id: int) -> InboundMessage:
    row = db.session.get(InboundMessage, message_id)
    if row is None:
        abort(404)
    return row


@bp.get("/inbox")
@role_required(Role.marketer)
def inbox():
    status = request.args.get("status", "needs_human")
    verdict = request.args.get("verdict", "")
    page = min(max(request.args.get("page", 1, type=int), 1), 1_000_000)
    rows, total = inbox_domain.list_messages(db.session, status=status, verdict=verdict, page=page)
    return render_template("admin/inbox.html", rows=rows, total=total, page=page, status=status,
                           verdict=verdict, counts=inbox_domain.counts(db.session),
                           kinds=[k.value for k in Kind], page_size=inbox_domain.PAGE,
                           policy=policy_rejections(db.session)[:20], describe=wording.describe)


@bp.get("/inbox/<int:message_id>")
@role_required(Role.marketer)
def inbox_message(message_id: int):
    row = _message(message_id)
    # The page shows the mail as received (safely rendered): a read of a person's mail.
    viewed(db.session, actor=actor(), subject_type="inbound_message", subject_id=row.id,
           now=utcnow())
    db.session.commit()
    return render_template("admin/inbox_message.html", row=row, shown=inbox_domain.render(row.raw),
                           subscriber=inbox_domain.sender_subscriber(db.session, row),
                           kinds=[k.value for k in Kind], describe=wording.describe)


@bp.post("/inbox/<int:message_id>/unsubscribe")
@role_required(Role.marketer)
def inbox_unsubscribe(message_id: int):
    row = _message(message_id)
    try:
        n = inbox_domain.unsubscribe_sender(db.session, row, actor=actor(), config=current_app.config,
                                     now=utcnow())
    except inbox_domain.InboxError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.inbox_message", message_id=message_id)), 303
    db.session.commit()
    flash(f"Unsubscribed from {n} list(s).", "success")
    return redirect(url_for("admin.inbox")), 303


@bp.post("/inbox/<int:message_id>/answer")
@role_required(Role.marketer)
def inbox_answer(message_id: int):
    row, now = _message(message_id), utcnow()
    try:
        mail = answer.answer(db.session, current_app.config, row, request.form.get("text", ""),
                             actor=actor(), now=now)
    except inbox_domain.InboxError as exc:
        db.session.rollback()
        flash(str(exc), "error")
        return redirect(url_for("admin.inbox_message", message_id=message_id)), 303
    mailer.commit_and_send(db.session, current_app.config, [mail], now)
    flash(f"Your answer to {row.sender} is sent.", "success")
    return redirect(url_for("admin.inbox")), 303


@bp.post("/inbox/<int:message_id>/handled")
@role_required(Role.marketer)
def inbox_handled(message_id: int):
    inbox_domain.mark_handled(db.session, _message(message_id), actor=actor(), now=utcnow())
    db.session.commit()
    flash("Marked as handled.", "success")
    return redirect(url_for("admin.inbox")), 303


@bp.post("/inbox/<int:message_id>/reclassify")
@role_required(Role.marketer)
def inbox_reclassify(message_id: int):
    row = _message(message_id)
    try:
        kind = Kind(request.form.get("verdict", ""))
    except ValueError:
        flash("Choose a verdict.", "error")
        return redirect(url_for("admin.inbox_message", message_id=message_id)), 303
    action = inbox_domain.reclassify(db.session, row, kind, actor=actor(), config=current_app.config,
                              now=utcnow())
    db.session.commit()
    flash(f"Reclassified as {kind.value}: {action}.", "success")
    return redirect(url_for("admin.inbox")), 303
