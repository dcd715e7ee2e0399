"""Fixtures: real servers once per session, emptied per test (STYLE.md examples 3 and 4).

Every DB test runs on SQLite, and on PostgreSQL too when TEST_DATABASE_URL is set.
With NEWSLETTER_REQUIRE_SERVICES=1 a missing server fails the run instead of skipping.
"""

from __future__ import annotations

import os
import re
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent))

from newsletter import create_app  # noqa: E402
from newsletter.extensions import db, limiter  # noqa: E402
from newsletter.models import AdminUser, Role  # noqa: E402

import servers  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("NEWSLETTER_SHARED_DIR", REPO.parent / "shared"))
DATA = Path(__file__).resolve().parent / "data"
TEST_SECRET = "test-secret-key-0123456789abcdef"


def require_services() -> bool:
    return os.environ.get("NEWSLETTER_REQUIRE_SERVICES", "") not in ("", "0")


def unavailable(what: str) -> None:
    """Skip, or fail when the run requires every service."""
    if require_services():
        pytest.fail(f"{what} (NEWSLETTER_REQUIRE_SERVICES=1)", pytrace=False)
    pytest.skip(what)


# --- servers ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def smtp_server():
    sink, controller = servers.start_smtp()
    yield sink
    controller.stop()


@pytest.fixture
def smtp(smtp_server):
    """The test SMTP server, emptied for this test."""
    smtp_server.clear()
    yield smtp_server
    smtp_server.clear()


@pytest.fixture(scope="session")
def dovecot_server():
    try:
        server = servers.start_dovecot()
    except (RuntimeError, OSError, KeyError) as exc:
        unavailable(f"Dovecot IMAP not available: {exc}")
    yield server
    server.stop()


@pytest.fixture
def imap(dovecot_server):
    """The test Dovecot with an empty mailbox: every folder but INBOX deleted, INBOX emptied."""
    from imapclient import IMAPClient

    with IMAPClient("127.0.0.1", port=dovecot_server.port, ssl=False) as client:
        client.login(dovecot_server.user, dovecot_server.password)
        for _flags, _sep, name in client.list_folders():
            if name != "INBOX":
                client.delete_folder(name)
        client.select_folder("INBOX")
        uids = client.search()
        if uids:
            client.delete_messages(uids)
            client.expunge()
    yield dovecot_server


@pytest.fixture(scope="session")
def pg_server_url():
    url = os.environ.get("TEST_DATABASE_URL")
    if not url:
        return None
    return url


@pytest.fixture(scope="session")
def pg_database(pg_server_url):
    """A fresh PostgreSQL database for this run, dropped at the end."""
    if not pg_server_url:
        unavailable("TEST_DATABASE_URL is not set")
    try:
        url = servers.create_pg_database(pg_server_url)
    except Exception as exc:  # noqa: BLE001 - any connection problem means "not available"
        unavailable(f"PostgreSQL not available: {exc}")
    yield url
    servers.drop_pg_database(url)


# --- the app ----------------------------------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    """Tests marked `postgresql_only` are about PostgreSQL itself (row locks, advisory locks,
    killed server connections): their SQLite variant is not collected at all, rather than
    reported as a skip that could be mistaken for a missing server."""
    keep, drop = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        on_sqlite = callspec is not None and callspec.params.get("database_url") == "sqlite"
        (drop if on_sqlite and item.get_closest_marker("postgresql_only") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


def _db_params():
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)]


@pytest.fixture(params=_db_params())
def database_url(request, tmp_path):
    """Each DB test runs once per database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    if not os.environ.get("TEST_DATABASE_URL") and not require_services():
        pytest.skip("TEST_DATABASE_URL is not set")
    return request.getfixturevalue("pg_database")


def make_app(database_url: str, tmp_path: Path, smtp_port: int | None = None, **overrides):
    """An app on the given database with a fresh schema, mail going to the test SMTP server."""
    environ = {
        "NEWSLETTER_ENV": "testing",
        "SECRET_KEY": TEST_SECRET,
        "DATABASE_URL": database_url,
        "NEWSLETTER_INSTANCE_PATH": str(tmp_path / "instance"),
        "NEWSLETTER_BASE_URL": "http://newsletter.test",
        "NEWSLETTER_MAIL_DOMAIN": "news.example.org",
        "NEWSLETTER_RUN_SCHEDULER": "false",
    }
    if smtp_port:
        environ.update({"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": str(smtp_port)})
    config = {"TESTING": True}
    config.update(overrides)
    app = create_app(config, environ=environ)
    with app.app_context():
        _reset_schema()
    limiter.reset()
    return app


def _reset_schema() -> None:
    if db.engine.dialect.name == "postgresql":
        db.create_all()
        tables = ", ".join(f'"{t.name}"' for t in db.metadata.sorted_tables)
        with db.engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    else:
        db.drop_all()
        db.create_all()


@pytest.fixture
def app(database_url, tmp_path, smtp):
    app = make_app(database_url, tmp_path, smtp.port)
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    if "newsletter.statement_engine" in app.extensions:  # the one-click pool
        app.extensions["newsletter.statement_engine"].dispose()


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def session(app):
    """A DB session inside an app context."""
    with app.app_context():
        yield db.session
        db.session.rollback()


# --- helpers ----------------------------------------------------------------------------------


def deliver_queued(app) -> int:
    """Send the queued transactional mail now, as the worker and the scheduler job do (public
    requests only queue it). Returns how many were sent."""
    from newsletter.models import utcnow
    from newsletter.sending import mailer

    with app.app_context():
        return mailer.send_committed(db.session, app.config, None, utcnow())


CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client, url: str) -> str:
    """The CSRF token from the form at `url`."""
    page = client.get(url).get_data(as_text=True)
    match = CSRF_RE.search(page)
    assert match, f"no CSRF token on {url}"
    return match.group(1)


class AuthActions:
    """Log an admin in and out through the real login form (flaskr's AuthActions)."""

    def __init__(self, app, client):
        self.app, self.client = app, client

    def create(self, email="admin@example.org", password="correct horse battery",
               role=Role.admin) -> AdminUser:
        with self.app.app_context():
            user = AdminUser(email=email, role=role)
            user.set_password(password)
            db.session.add(user)
            db.session.commit()
            db.session.refresh(user)
            db.session.expunge(user)
            return user

    def login(self, email="admin@example.org", password="correct horse battery"):
        token = csrf_token(self.client, "/login")
        return self.client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )

    def logout(self):
        token = csrf_token(self.client, "/admin/")
        return self.client.post("/logout", data={"csrf_token": token})


@pytest.fixture
def auth(app, client):
    return AuthActions(app, client)


@pytest.fixture
def admin_client(auth, client):
    """A test client logged in as an admin."""
    auth.create()
    response = auth.login()
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def api_token(app):
    """A live API token; returns the Authorization header value."""
    import secrets

    from newsletter.api_tokens import hash_token
    from newsletter.models import ApiToken

    token = secrets.token_urlsafe(24)
    with app.app_context():
        db.session.add(ApiToken(name="tests", token_hash=hash_token(token)))
        db.session.commit()
    return {"Authorization": f"Bearer {token}"}


# --- browser ----------------------------------------------------------------------------------

CHROMIUM = os.environ.get("NEWSLETTER_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    if not Path(CHROMIUM).exists():
        unavailable(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        unavailable(f"playwright not installed: {exc}")
    pw = sync_playwright().start()
    browser = pw.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--disable-background-networking",
              "--no-first-run", "--disable-component-update", "--disable-sync",
              "--disable-quic"],
    )
    yield browser
    browser.close()
    pw.stop()


@pytest.fixture
def live_server(app):
    """The app under a real WSGI server (waitress) in a thread."""
    server = servers.LiveServer(app)
    app.config["NEWSLETTER_BASE_URL"] = server.url
    yield server
    server.stop()


@pytest.fixture
def page(browser, live_server):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    page.set_default_timeout(10_000)
    yield page
    context.close()


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    path = SHARED / "corpus" / "inbound"
    if not path.exists():
        unavailable(f"shared corpus not found at {path}")
    return path
