"""`GET /privacy/export/<token>`: the zip of one's data, from the link mailed for an access
request (blueprint `export`). The zip is built on demand and streamed from a temporary file;
an expired or altered link changes nothing and says so."""

from __future__ import annotations

import tempfile

from flask import Blueprint, current_app, render_template, send_file

from newsletter.extensions import db
from newsletter.models import utcnow
from newsletter.privacy import export

bp = Blueprint("export", __name__, url_prefix="/privacy/export")

SPOOL_BYTES = 8 * 1024 * 1024  # larger exports spill to a temporary file on disk


@bp.get("/<token>")
def download(token: str):
    try:
        request_, email = export.read_download(db.session, current_app.config, token)
    except export.ExportError as exc:
        return render_template("error.html", code=400, title="This link does not work",
                               message=str(exc)), 400
    now = utcnow()
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)
    export.export(db.session, email, out, config=current_app.config, now=now, actor="link")
    db.session.commit()
    out.seek(0)
    return send_file(out, mimetype="application/zip", as_attachment=True,
                     download_name=f"my-data-{now:%Y-%m-%d}.zip", max_age=0)
