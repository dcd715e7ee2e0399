"""Admin: the audit log for the privacy officer (filter, page, export the filter as CSV)."""

from __future__ import annotations

import re
from datetime import date

from flask import abort, current_app, render_template, request

from newsletter.extensions import db
from newsletter.models import Role, utcnow
from newsletter.privacy import audit
from newsletter.subscribers import suppression
from newsletter.web import csv_download
from newsletter.web.admin.blueprint import actor, bp, role_required

PAGE_SIZE = 50


@bp.before_request
def _origin():
    """Every admin action's audit row says where it came from (DESIGN.md section 6)."""
    audit.acting_from(db.session, request.remote_addr)

HASH = re.compile(r"[0-9a-fA-F]{16,64}")


@bp.get("/audit")
@role_required(Role.privacy)
def audit_log():
    where = _filter()
    number = request.args.get("page", 1, type=int) or 1
    rows, total = audit.page(db.session, where, number, PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    args = {k: v for k, v in request.args.items() if k != "page" and v}
    return render_template("admin/audit.html", rows=rows, total=total, where=where,
                           number=number, pages=pages, args=args,
                           subject=request.args.get("subject", "")[:254])


@bp.get("/audit.csv")
@role_required(Role.privacy)
def audit_csv():
    lines = audit.export_csv(db.session, _filter(), actor=actor(), now=utcnow())
    return csv_download(lines, "audit.csv")


def _filter() -> audit.AuditFilter:
    """The query string as a filter; a date that is not YYYY-MM-DD is a bad request."""
    args = request.args
    try:
        since, until = (date.fromisoformat(args[k]) if args.get(k) else None
                        for k in ("since", "until"))
    except ValueError:
        abort(400)
    return audit.AuditFilter(
        subject_hash=_subject_hash(args.get("subject", "").strip()[:254]),
        actor=args.get("actor", "").strip()[:254], action=args.get("action", "").strip()[:64],
        subject_type=args.get("subject_type", "").strip()[:32],
        subject_id=args.get("subject_id", "").strip()[:64], since=since, until=until)


def _subject_hash(subject: str) -> str:
    """An address becomes its keyed hash (the log holds no addresses); a hash stays itself."""
    if "@" in subject:
        return suppression.email_hash(current_app.config["NEWSLETTER_SUPPRESSION_KEY"], subject)
    if subject and not HASH.fullmatch(subject):
        abort(400)
    return subject
