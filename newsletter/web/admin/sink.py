"""The local mail sink (a Maildir under instance/): every message the system would have sent."""

from __future__ import annotations

import mailbox
from email import policy
from email.parser import BytesParser
from pathlib import Path

from flask import abort, current_app, render_template

from newsletter.web.admin import bp

PAGE = 100


def _sink() -> mailbox.Maildir | None:
    path = Path(current_app.config["NEWSLETTER_MAIL_SINK"])
    if current_app.config.get("MAIL_SERVER") or not path.exists():
        return None
    return mailbox.Maildir(path, create=False)


@bp.get("/sink")
def sink():
    box = _sink()
    messages = []
    if box is not None:
        parser = BytesParser(policy=policy.default)
        for key in box.keys():
            with box.get_file(key) as fh:
                headers = parser.parse(fh, headersonly=True)
            messages.append(
                {"key": key, "to": headers["To"], "subject": headers["Subject"],
                 "date": headers["Date"], "received": float(headers["X-Sink-Received"] or 0)}
            )
    messages.sort(key=lambda m: m["received"], reverse=True)
    return render_template("admin/sink.html", messages=messages[:PAGE], total=len(messages),
                           configured=box is not None)


@bp.get("/sink/<key>")
def sink_message(key: str):
    box = _sink()
    if box is None or "/" in key:
        abort(404)
    try:
        with box.get_file(key) as fh:
            message = BytesParser(policy=policy.default).parse(fh)
    except KeyError:
        abort(404)
    text = message.get_body(preferencelist=("plain",))
    return render_template(
        "admin/sink_message.html",
        message=message,
        headers=list(message.items()),
        text=text.get_content() if text is not None else "",
    )
