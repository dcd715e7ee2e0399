"""The RFC 8058 one-click POST, answered beneath Flask's request machinery.

Mailbox providers POST `List-Unsubscribe=One-Click` to the List-Unsubscribe URL in bulk, with no
cookie and no CSRF token, and the answer must be quick. Such a request needs nothing Flask offers
(no session, no login, no template, no form parsing beyond one fixed body), so this WSGI layer
answers it with the token check and the one leave-list statement (`subscribers.one_click`), and
hands every other request, and every one-click POST whose token does not check out (its error page
speaks the visitor's language), to Flask unchanged. The route `public.unsubscribe` handles the
same POST the same way when it reaches Flask (multipart bodies, a test client without this layer).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from io import BytesIO

from flask import Flask
from werkzeug.wrappers import Response

from newsletter.extensions import statement_engine
from newsletter.models import ConsentMethod
from newsletter.models.base import utcnow
from newsletter.subscribers import one_click
from newsletter.subscribers.subscriptions import read_unsubscribe_token
from newsletter.tokens import TokenError
from newsletter.web.headers import security_headers

PATH = re.compile(r"/u/([A-Za-z0-9_.\-]{1,512})\Z")
BODY = b"List-Unsubscribe=One-Click"
WORDING = "List-Unsubscribe=One-Click"


def unsubscribe(app: Flask, subscriber_id: int, list_id: int, *, ip: str | None,
                user_agent: str | None) -> Response:
    """Leave the list and answer 200 whatever the state: a repeat is a success too (RFC 8058)."""
    one_click.leave_list_now(statement_engine(app), subscriber_id, list_id,
                             method=ConsentMethod.one_click, now=utcnow(), wording=WORDING,
                             ip=ip, user_agent=(user_agent or "")[:512])
    return Response("Unsubscribed.\n", 200, content_type="text/plain; charset=utf-8")


class OneClickLayer:
    """WSGI middleware: RFC 8058 POSTs with a genuine token never reach Flask's dispatch."""

    def __init__(self, app: Flask, wsgi_app: Callable) -> None:
        self.app = app
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("REQUEST_METHOD") == "POST":
            match = PATH.match(environ.get("PATH_INFO", ""))
            if match and environ.get("CONTENT_TYPE", "").startswith(
                    "application/x-www-form-urlencoded"):
                response = self._answer(environ, match.group(1))
                if response is not None:
                    return response(environ, start_response)
        return self.wsgi_app(environ, start_response)

    def _answer(self, environ: dict, token: str) -> Response | None:
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return None
        if length != len(BODY) and length != len(BODY) + 2:  # a trailing CRLF is tolerated
            return None
        body = environ["wsgi.input"].read(length)
        # Whatever happens next, Flask can still read the body it was sent.
        environ["wsgi.input"] = BytesIO(body)
        if body.rstrip(b"\r\n") != BODY:
            return None
        with self.app.app_context():
            try:
                subscriber_id, list_id = read_unsubscribe_token(self.app.config, token)
            except TokenError:
                return None  # Flask renders the "link does not work" page, in the right language
            response = unsubscribe(self.app, subscriber_id, list_id,
                                   ip=environ.get("REMOTE_ADDR"),
                                   user_agent=environ.get("HTTP_USER_AGENT"))
            return security_headers(response)
