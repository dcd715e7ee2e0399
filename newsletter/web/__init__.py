"""HTTP: public pages, the admin UI and the JSON API. Routes are thin: parse, call, render."""

from collections.abc import Iterable

from flask import Response, request, stream_with_context

from newsletter.extensions import db


def client() -> dict:
    """Who is asking, as consent records keep it: IP address and user agent."""
    return {"ip": request.remote_addr, "user_agent": request.headers.get("User-Agent", "")[:512]}


def csv_download(lines: Iterable[str], filename: str) -> Response:
    """An export's CSV lines as a streamed download. The audit row the domain function wrote is
    committed first: the record of who took the data exists before a byte leaves."""
    db.session.commit()
    return Response(stream_with_context(lines), mimetype="text/csv", headers={
        "Content-Disposition": f'attachment; filename="{filename}"'})
