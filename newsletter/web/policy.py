"""The public privacy policy: `GET /privacy` (the version in force, earlier versions, and what
changed between any two) and `GET /privacy/v/<id>` (one version, as a notice links it)."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, request

from newsletter.extensions import db
from newsletter.models import PolicyVersion, utcnow
from newsletter.privacy import policy

bp = Blueprint("policy", __name__)


@bp.get("/privacy")
def show():
    now = utcnow()
    versions = policy.versions(db.session)
    current = policy.in_force(db.session, now)
    by_id = {v.id: v for v in versions}
    older = by_id.get(request.args.get("from", type=int))
    newer = by_id.get(request.args.get("to", type=int))
    if older is None and newer is None and current is not None:
        # By default: what the version in force changed against the one before it.
        earlier = [v for v in versions if v.id < current.id]
        older, newer = (earlier[0] if earlier else None), current
    changes = policy.diff(older.body, newer.body) if older and newer else []
    return render_template("public/policy.html", current=current, shown=current,
                           versions=versions, older=older, newer=newer, changes=changes,
                           body=policy.render_body(current.body) if current else None, now=now)


@bp.get("/privacy/v/<int:version_id>")
def version(version_id: int):
    shown = db.session.get(PolicyVersion, version_id)
    if shown is None:
        abort(404)
    now = utcnow()
    versions = policy.versions(db.session)
    earlier = [v for v in versions if v.id < shown.id]
    older = earlier[0] if earlier else None
    return render_template("public/policy.html", current=policy.in_force(db.session, now),
                           shown=shown, versions=versions, older=older, newer=shown,
                           changes=policy.diff(older.body, shown.body) if older else [],
                           body=policy.render_body(shown.body), now=now)
