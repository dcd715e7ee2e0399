"""newsletter: a self-hosted mailing-list and newsletter manager.

`create_app()` builds the Flask app: configuration from the environment, extensions, blueprints,
CLI commands, security headers. It starts nothing: the scheduler and workers are started by
`flask newsletter serve|scheduler|worker`.
"""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from werkzeug.routing import IntegerConverter

from config import ConfigError, load_config
from newsletter.extensions import api, csrf, db, limiter, login_manager, mail, migrate
from newsletter.models.base import MAX_ID
from newsletter.web.headers import security_headers

BASE_DIR = Path(__file__).resolve().parent.parent

__all__ = ["ConfigError", "create_app"]

class IdConverter(IntegerConverter):
    """`<int:...>` in every route: ids are 32-bit integer columns, so a larger number names
    nothing and gets a 404 (PostgreSQL would refuse to compare it and answer with an error)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ID)
        super().__init__(map, *args, **kwargs)


def create_app(test_config: dict | None = None, environ: dict | None = None) -> Flask:
    """Build the app. `test_config` overrides values read from the environment."""
    config = load_config(environ)
    if test_config:
        config.update(test_config)
    app = Flask(
        __name__,
        instance_path=config["INSTANCE_PATH"],
        template_folder=str(BASE_DIR / "templates"),
    )
    app.config.update(config)
    app.url_map.converters["int"] = IdConverter
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)
    from newsletter.web.one_click import OneClickLayer

    # Inside ProxyFix (when there is one), so the one-click layer sees the client's address.
    app.wsgi_app = OneClickLayer(app, app.wsgi_app)
    proxies = app.config["NEWSLETTER_PROXY_COUNT"]
    if proxies:
        from werkzeug.middleware.proxy_fix import ProxyFix

        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)

    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    mail.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = "strong"
    from newsletter import i18n

    i18n.init_app(app)

    _register_blueprints(app)
    from newsletter.web import errors

    errors.register(app)  # after the API: it replaces flask-smorest's JSON-for-all handler
    app.after_request(security_headers)
    app.jinja_env.globals["has_endpoint"] = lambda endpoint: endpoint in app.view_functions

    from newsletter.cli import newsletter_cli

    app.cli.add_command(newsletter_cli)
    return app


def _register_blueprints(app: Flask) -> None:
    from newsletter.web import api as api_module
    from newsletter.web import archive as archive_pages
    from newsletter.web import auth, clicks, embed, hooks, passwords, policy, public
    from newsletter.web import export as export_pages
    from newsletter.web import privacy as privacy_pages
    from newsletter.web import purposes as purpose_pages
    from newsletter.web.admin import bp as admin_bp
    from newsletter.web.api import docs as api_docs

    app.register_blueprint(auth.bp)
    app.register_blueprint(passwords.bp)
    app.register_blueprint(public.bp)
    app.register_blueprint(embed.bp)
    app.register_blueprint(privacy_pages.bp)
    app.register_blueprint(policy.bp)
    app.register_blueprint(purpose_pages.bp)
    app.register_blueprint(export_pages.bp)
    app.register_blueprint(archive_pages.bp)
    app.register_blueprint(hooks.bp)
    app.register_blueprint(clicks.bp)
    app.register_blueprint(admin_bp)
    app.register_blueprint(api_docs.bp)
    # Browsers ask for /favicon.ico on pages that name no icon (JSON, raw mail): the same icon.
    app.add_url_rule("/favicon.ico", "favicon", lambda: app.send_static_file("favicon.svg"))
    api.init_app(app)
    api.register_converter(IdConverter, lambda c: {"type": "integer", "minimum": 0, "maximum": MAX_ID})
    api_module.register(api)
    # The API authenticates with bearer tokens, not cookies: CSRF does not apply.
    for blueprint in api_module.blueprints():
        csrf.exempt(blueprint)
