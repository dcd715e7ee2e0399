"""GET /api/v1/docs: the API reference, Swagger UI reading /api/v1/openapi.json (blueprint
`api_docs`).

Swagger UI's files come from the swagger-ui-bundle package and are served from here: the page
loads nothing from another host (the service works offline, and a CDN would learn who reads
our docs). The page's own script is a file in static/, so the site-wide CSP (script-src 'self')
holds here too.
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

bp = Blueprint("api_docs", __name__, url_prefix="/api/v1/docs")

# The only files of the bundle the page needs; nothing else in the package directory is served.
ASSETS = frozenset({"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js"})


@bp.get("")
def docs():
    return render_template("api_docs.html")


@bp.get("/assets/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(swagger_ui_path, name, max_age=86400)
