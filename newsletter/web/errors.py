"""Error answers: an HTML page for people, JSON for the API (`/api/...`), never a stack trace.

Flask-smorest registers a JSON handler for every HTTP error on the whole app, so without this a
browser got `{"code": 405, ...}`. A database fault in a write rolls the transaction back and
says "not saved, try again" (503: nothing was stored half-way; the caller may repeat it). A
JSON body nested deeper than MAX_JSON_DEPTH is refused with 400 before any parser recurses
into it (Python's json module would raise RecursionError: a 500).
"""

from __future__ import annotations

import logging
import math
import re
import time
from itertools import accumulate

from flask import Flask, render_template, request
from sqlalchemy.exc import SQLAlchemyError
from werkzeug.exceptions import BadRequest, HTTPException

from newsletter.extensions import api, db, limiter

log = logging.getLogger(__name__)

MAX_JSON_DEPTH = 32  # our API's bodies are two or three levels deep

# (code, title, message) for the errors people meet; any other code gets its Werkzeug name.
MESSAGES = {
    400: ("Bad request", "The request was not valid."),
    404: ("Page not found", "There is no page at this address. The link may be cut short or out of date."),
    405: ("Method not allowed", "This address does not accept that kind of request."),
    413: ("Too large", "The request is larger than we accept."),
    429: ("Too many requests", "Please wait a minute and try again."),
    500: ("Something went wrong", "Nothing was saved. Please try again."),
    503: ("Not saved", "Nothing was saved: the service could not store it just now. "
                       "Please try again in a moment."),
}

_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_NOT_BRACKET = re.compile(rb"[^\[\]{}]")


def json_depth(body: bytes) -> int:
    """How deeply the arrays and objects of a JSON text nest (strings skipped).

    >>> json_depth(b'{"a": [1, {"b": "[[["}]}')
    3
    """
    brackets = _NOT_BRACKET.sub(b"", _STRING.sub(b"", body))
    return max(accumulate(1 if c in b"[{" else -1 for c in brackets), default=0)


def _wants_json() -> bool:
    return request.path.startswith("/api/")


def _answer(code: int, title: str, message: str):
    if _wants_json():
        return {"code": code, "status": title, "message": message}, code
    return render_template("error.html", code=code, title=title, message=message), code


def _http_error(error: HTTPException):
    code = error.code or 500
    if _wants_json() and code not in MESSAGES:
        # The API keeps flask-smorest's answer where it has more to say (422: which field).
        return api.handle_http_exception(error)
    title, message = MESSAGES.get(code, (error.name, error.description))
    if code == 400 and error.description != BadRequest.description:
        message = error.description  # ours, saying what was wrong (e.g. the JSON depth)
    if code == 429 and limiter.current_limit is not None:
        # Per IP or per account as typed, never per known address: it tells nobody anything.
        wait = max(1, math.ceil(limiter.current_limit.reset_at - time.time()))
        message = f"Please try again in {wait} seconds."
    body, code = _answer(code, title, message)
    # Keep what tells the client when to try again or which methods it may use.
    kept = {name: value for name in ("Retry-After", "Allow")
            if (value := error.get_response().headers.get(name))}
    return body, code, kept


def _database_error(error: SQLAlchemyError):
    # Rolled back as a whole: nothing half-saved; repeating the request is safe.
    log.exception("database error in %s %s; rolled back", request.method, request.path)
    db.session.rollback()
    return _answer(503, *MESSAGES[503])


def _refuse_deep_json() -> None:
    if request.is_json and request.content_length != 0:
        body = request.get_data(cache=True)
        if json_depth(body) > MAX_JSON_DEPTH:
            raise BadRequest(f"The JSON body nests deeper than {MAX_JSON_DEPTH} levels.")


def register(app: Flask) -> None:
    """Install the handlers; after the API, whose own HTTP error handler this one replaces."""
    # One handler for every HTTP error (it takes flask-smorest's slot). Any other exception
    # becomes a 500 that lands here too; in testing it propagates so a test sees the traceback.
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(SQLAlchemyError, _database_error)
    app.before_request(_refuse_deep_json)
