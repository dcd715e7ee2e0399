"""The local mail sink (a Maildir under instance/): every message the system would have sent."""

from __future__ import annotations

import mailbox
from email import policy
from email.parser import BytesParser
from pathlib import Path

from flask import abort, current_app, make_response, render_template

from newsletter.web.admin.blueprint import bp

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


def _message(key: str):
    box = _sink()
    if box is None or "/" in key:
        abort(404)
    try:
        with box.get_file(key) as fh:
            return BytesParser(policy=policy.default).parse(fh)
    except KeyError:
        abort(404)


@bp.get("/sink/<key>")
def sink_message(key: str):
    message = _message(key)
    text = message.get_body(preferencelist=("plain",))
    return render_template(
        "admin/sink_message.html",
        key=key,
        message=message,
        headers=list(message.items()),
        text=text.get_content() if text is not None else "",
        has_html=message.get_body(preferencelist=("html",)) is not None,
    )


@bp.get("/sink/<key>/html")
def sink_message_html(key: str):
    """The HTML part, for a sandboxed iframe: no script runs and nothing remote loads."""
    html = _message(key).get_body(preferencelist=("html",))
    if html is None:
        abort(404)
    response = make_response(html.get_content())
    response.headers["Content-Type"] = "text/html; charset=utf-8"
    # Still no script and nothing remote; same origin only so that the page around it can read
    # the mail's height and size the frame to it (fit-frame.js). Safe without allow-scripts: the
    # mail itself can run nothing that would use that origin.
    response.headers["Content-Security-Policy"] = (
        "sandbox allow-same-origin; default-src 'none'; img-src data:; style-src 'unsafe-inline'"
    )
    return response
