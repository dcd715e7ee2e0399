"""The security headers every answer carries, Flask's or the one-click layer's."""

from __future__ import annotations

from werkzeug.wrappers import Response

# No inline script anywhere: pages load /static files only. Styles likewise.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
    "form-action 'self'; base-uri 'none'; object-src 'none'"
)


def security_headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    if not response.headers.get("Cache-Control") and response.mimetype == "text/html":
        response.headers["Cache-Control"] = "no-store"
    return response
