"""`/privacy/export/<token>`: the zip of one's data, from the link mailed for an access request
(blueprint `export`). GET shows a page with a button (mail scanners fetch links: they must not
spend it), POST builds the zip, spends the link and streams the zip from a temporary file. An
expired, altered or used link changes nothing and says so."""

from __future__ import annotations

import tempfile

from flask import Blueprint, current_app, render_template, send_file

from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.privacy import export

bp = Blueprint("export", __name__, url_prefix="/privacy/export")

SPOOL_BYTES = 8 * 1024 * 1024  # larger exports spill to a temporary file on disk


def _refused(exc: export.ExportError):
    return render_template("error.html", code=400, title="This link does not work",
                           message=str(exc)), 400


@bp.get("/<token>")
def download_page(token: str):
    try:
        export.read_download(db.session, current_app.config, token)
    except export.ExportError as exc:
        return _refused(exc)
    return render_template("public/privacy_download.html")


@bp.post("/<token>")
def download(token: str):
    now = utcnow()
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    try:
        export.download(db.session, current_app.config, token, out, now=now)
    except export.ExportError as exc:
        db.session.rollback()
        return _refused(exc)
    db.session.commit()
    out.seek(0)
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"my-data-{now:%Y-%m-%d}.zip", max_age=0)
