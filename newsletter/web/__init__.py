"""HTTP: public pages, the admin UI and the JSON API. Routes are thin: parse, call, render."""

from flask import request


def client() -> dict:
    """Who is asking, as consent records keep it: IP address and user agent."""
    return {"ip": request.remote_addr, "user_agent": request.headers.get("User-Agent", "")[:512]}
