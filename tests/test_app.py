"""The app factory: configuration errors, security headers, CSRF, error pages."""

import subprocess
import sys

import pytest

from config import ConfigError, load_config
from newsletter import create_app

from conftest import REPO


@pytest.mark.parametrize(
    "environ, variable",
    [
        ({"NEWSLETTER_ENV": "production"}, "SECRET_KEY"),
        ({"NEWSLETTER_ENV": "development", "DATABASE_URL": "mysql://x/y"}, "DATABASE_URL"),
        ({"NEWSLETTER_ENV": "development", "MAIL_PORT": "twenty-five"}, "MAIL_PORT"),
        ({"NEWSLETTER_ENV": "sometimes"}, "NEWSLETTER_ENV"),
        ({"NEWSLETTER_ENV": "development", "NEWSLETTER_BASE_URL": "ftp://x"}, "NEWSLETTER_BASE_URL"),
        ({"NEWSLETTER_ENV": "development", "NEWSLETTER_INBOUND": "pop3://x"}, "NEWSLETTER_INBOUND"),
    ],
)
def test_bad_configuration_names_the_variable(environ, variable, tmp_path):
    environ = {"NEWSLETTER_INSTANCE_PATH": str(tmp_path), **environ}
    with pytest.raises(ConfigError, match=variable):
        load_config(environ)


def test_startup_with_bad_config_prints_one_line_not_a_traceback(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "NEWSLETTER_ENV": "production",
           "NEWSLETTER_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "newsletter", "--help"],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "SECRET_KEY" in result.stderr.strip().splitlines()[-1]


def test_production_cookies_are_secure(tmp_path):
    config = load_config({"SECRET_KEY": "x" * 32, "NEWSLETTER_INSTANCE_PATH": str(tmp_path)})
    assert config["SESSION_COOKIE_SECURE"] and config["SESSION_COOKIE_HTTPONLY"]
    assert config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_pages_carry_security_headers(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_form_post_without_csrf_token_is_refused(client, auth):
    auth.create()
    response = client.post("/login", data={"email": "admin@example.org",
                                           "password": "correct horse battery"})
    assert response.status_code == 400


def test_unknown_page_is_404(client):
    assert client.get("/no/such/page").status_code == 404


def test_create_app_reads_database_url(tmp_path):
    app = create_app(environ={"NEWSLETTER_ENV": "testing", "SECRET_KEY": "k" * 32,
                              "NEWSLETTER_INSTANCE_PATH": str(tmp_path),
                              "DATABASE_URL": "postgresql://u@db.example/n"})
    assert app.config["SQLALCHEMY_DATABASE_URI"] == "postgresql+psycopg://u@db.example/n"


def test_ids_beyond_the_integer_range_are_404_not_database_errors(client, admin_client, api_token):
    # PostgreSQL refuses to compare an integer column with 2**40; the route must not ask it to.
    assert client.get("/api/v1/campaigns/1099511627776", headers=api_token).status_code == 404
    assert admin_client.get("/admin/subscribers/1099511627776").status_code == 404
