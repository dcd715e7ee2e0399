"""Admin: segments (saved filters on a list) with how many each reaches now; create one."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from sqlalchemy import select

from newsletter.extensions import db
from newsletter.models import MailingList, Role, utcnow
from newsletter.subscribers import segment_rules, segments
from newsletter.web.admin.blueprint import actor, bp, role_required


@bp.route("/segments", methods=["GET", "POST"])
@role_required(Role.marketer)
def segments_index():
    lists = db.session.scalars(select(MailingList).order_by(MailingList.name)).all()
    form, error = request.form, None
    if request.method == "POST":
        mailing_list = next((m for m in lists if str(m.id) == form.get("list_id")), None)
        try:
            if mailing_list is None:
                raise segments.SegmentError("choose a list")
            rules = [segments.parse_filter(line) for line in form.get("filters", "").splitlines()
                     if line.strip()]
            segment = segments.create(db.session, form.get("slug", "").strip(), mailing_list, rules,
                                      name=form.get("name", ""), actor=actor(), now=utcnow())
            db.session.commit()
            flash(f"Segment {segment.slug} saved.", "success")
            return redirect(url_for("admin.segments_index"))
        except segments.SegmentError as exc:
            db.session.rollback()
            error = str(exc)
    rows = [(s, segments.audience(db.session, [s.list_id], s.id))
            for s in segments.all_segments(db.session)]
    return render_template("admin/segments.html", rows=rows, lists=lists, form=form, error=error,
                           describe=segments.describe, fields=segment_rules.FIELDS), \
        400 if error else 200
