"""Admin accounts: login, logout, rate limit, roles, the create-admin command."""

import pytest
from sqlalchemy import func, select

from newsletter.extensions import db
from newsletter.models import AdminUser, ApiToken, Role, utcnow

from conftest import csrf_token


def test_login_and_logout(client, auth):
    auth.create()
    response = auth.login()
    assert response.status_code == 302 and response.headers["Location"].endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    auth.logout()
    assert client.get("/admin/").status_code == 302


def test_admin_pages_need_login(client):
    response = client.get("/admin/")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_wrong_password_is_refused(client, auth):
    auth.create()
    response = auth.login(password="wrong password")
    assert response.status_code == 401
    assert "Wrong email or password" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_unknown_user_gets_the_same_answer_as_a_wrong_password(client, auth):
    auth.create()
    wrong_password = auth.login(password="nope nope nope")
    unknown_user = auth.login(email="nobody@example.org", password="nope nope nope")
    assert wrong_password.status_code == unknown_user.status_code == 401
    assert "Wrong email or password" in unknown_user.get_data(as_text=True)


def test_sixth_wrong_try_within_a_minute_is_rate_limited(client, auth):
    auth.create()
    codes = [auth.login(password=f"wrong {i}").status_code for i in range(6)]
    assert codes[:5] == [401] * 5
    assert codes[5] == 429


def test_login_ignores_foreign_next_url(client, auth):
    auth.create()
    from conftest import csrf_token

    token = csrf_token(client, "/login")
    response = client.post("/login?next=//evil.example/x", data={
        "email": "admin@example.org", "password": "correct horse battery", "csrf_token": token})
    assert response.headers["Location"].endswith("/admin/")


def test_password_is_stored_hashed(app, auth):
    auth.create(password="a very secret phrase")
    with app.app_context():
        user = db.session.scalar(select(AdminUser))
        assert "a very secret phrase" not in user.password_hash
        assert user.check_password("a very secret phrase")


def test_create_admin_with_password_from_stdin(app, runner):
    result = runner.invoke(args=["newsletter", "create-admin", "Boss@Example.org", "--password-stdin",
                                 "--role", "privacy"], input="long enough password\n")
    assert result.exit_code == 0, result.output
    with app.app_context():
        user = db.session.scalar(select(AdminUser))
        assert user.email == "boss@example.org" and user.role is Role.privacy
        assert result.output.strip().splitlines()[-1] == str(user.id)


def test_create_admin_generates_a_password_when_none_given(app, runner):
    result = runner.invoke(args=["newsletter", "create-admin", "ops@example.org"])
    assert result.exit_code == 0
    assert "Generated password" in result.output


def test_create_admin_twice_fails_clearly(runner):
    runner.invoke(args=["newsletter", "create-admin", "ops@example.org"])
    result = runner.invoke(args=["newsletter", "create-admin", "ops@example.org"])
    assert result.exit_code != 0 and "already exists" in result.output


def test_unknown_cli_option_fails(runner):
    result = runner.invoke(args=["newsletter", "create-admin", "x@example.org", "--frobnicate"])
    assert result.exit_code != 0 and "No such option" in result.output


# Pages only `Role.admin` may use: `@role_required()` with no roles (newsletter/web/admin/).
ADMIN_ONLY = [("GET", "/admin/api-tokens"), ("POST", "/admin/api-tokens"),
              ("POST", "/admin/api-tokens/{token_id}/revoke")]


def test_marketer_cannot_reach_an_admin_only_page(app, client, auth):
    with app.app_context():
        token = ApiToken(name="ops", token_hash="0" * 64, created_at=utcnow())
        db.session.add(token)
        db.session.commit()
        token_id = token.id
    auth.create(email="m@example.org", role=Role.marketer)
    auth.login(email="m@example.org")
    assert client.get("/admin/").status_code == 200  # logged in: the 403s below are the role
    csrf = csrf_token(client, "/admin/")
    for method, path in ADMIN_ONLY:
        response = client.open(path.format(token_id=token_id), method=method,
                               data={"csrf_token": csrf, "name": "marketer's token"})
        assert response.status_code == 403, (method, path, response.status_code)
    with app.app_context():
        assert db.session.scalar(select(func.count(ApiToken.id))) == 1
        assert db.session.get(ApiToken, token_id).revoked_at is None


def test_admin_reaches_the_admin_only_pages(app, client, auth):
    """The other side of the test above: the same requests work for an admin."""
    auth.create()
    auth.login()
    csrf = csrf_token(client, "/admin/")
    assert client.get("/admin/api-tokens").status_code == 200
    assert client.post("/admin/api-tokens", data={"csrf_token": csrf, "name": "ops"}).status_code == 200
    with app.app_context():
        token_id = db.session.scalar(select(ApiToken.id))
    revoke = client.post(f"/admin/api-tokens/{token_id}/revoke", data={"csrf_token": csrf})
    assert revoke.status_code == 302


# --- where login sends you -------------------------------------------------------------------------

def _login_with_next(client, query: str, **environ):
    from conftest import csrf_token

    token = csrf_token(client, "/login")
    return client.post(f"/login?{query}", environ_base=environ, data={
        "email": "admin@example.org", "password": "correct horse battery", "csrf_token": token})


@pytest.mark.parametrize("query", [
    "next=/%09/evil.example",  # the tab is dropped by the browser: //evil.example
    "next=/%0d%0a/evil.example",
    "next=%2F%5Cevil.example",  # /\evil.example: a backslash reads as a slash
    "next=//evil.example/x",
    "next=/%252F/evil.example",  # //evil.example once more decoded
    "next=/%2509/evil.example",
    "next=https://evil.example/",
])
def test_login_refuses_a_next_url_a_browser_reads_as_another_site(client, auth, query):
    auth.create()
    response = _login_with_next(client, query)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"


def test_login_follows_a_local_next_url(client, auth):
    auth.create()
    response = _login_with_next(client, "next=/admin/campaigns%3Fpage%3D2")
    assert response.headers["Location"] == "/admin/campaigns?page=2"


# --- ending sessions -----------------------------------------------------------------------------

def _copy_of_session_cookie(app, client):
    """A second browser holding the same session cookie (as a thief would)."""
    other = app.test_client()
    other.set_cookie("session", client.get_cookie("session").value)
    return other


def test_logout_ends_the_session_for_a_copied_cookie_too(app, client, auth):
    auth.create()
    auth.login()
    thief = _copy_of_session_cookie(app, client)
    assert thief.get("/admin/").status_code == 200
    auth.logout()
    assert thief.get("/admin/").status_code == 302
    with app.app_context():
        from newsletter.models import AdminSession

        assert db.session.scalar(select(AdminSession.ended_at)) is not None


@pytest.mark.parametrize("change", [
    ["newsletter", "set-password", "admin@example.org"],
    ["newsletter", "set-role", "admin@example.org", "marketer"],
])
def test_a_new_password_or_role_ends_the_users_sessions(app, client, auth, runner, change):
    auth.create()
    auth.create(email="other-admin@example.org")  # the service always keeps one admin
    auth.login()
    assert client.get("/admin/").status_code == 200
    result = runner.invoke(args=change, input="a brand new password\n")
    assert result.exit_code == 0, result.output
    assert client.get("/admin/").status_code == 302
    with app.app_context():  # a change to an account is audited, from the command line too
        from newsletter.models import AuditEvent

        actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.actor == "cli"))
        assert {"user.password", "user.role"} & set(actions)
    assert auth.login(password="a brand new password" if "set-password" in change
                      else "correct horse battery").status_code == 302


def test_a_read_only_user_changes_nothing_in_the_admin_ui(app, client, auth):
    auth.create(email="ro@example.org", role=Role.read_only)
    auth.login(email="ro@example.org")
    from conftest import csrf_token

    assert client.get("/admin/").status_code == 200
    token = csrf_token(client, "/admin/")
    assert client.post("/admin/lists/new", data={"csrf_token": token, "slug": "x",
                                                  "name": "X"}).status_code == 403


@pytest.mark.parametrize("email", ["admin@example.org", "nobody@example.org"])
def test_failed_logins_for_one_account_are_limited_across_addresses(app, client, auth, email):
    from conftest import csrf_token

    app.config["NEWSLETTER_LOGIN_ACCOUNT_RATE_LIMIT"] = "3 per 15 minutes"
    auth.create()
    token = csrf_token(client, "/login")

    def attempt(ip: str, password: str) -> int:
        return client.post("/login", environ_base={"REMOTE_ADDR": ip}, data={
            "email": email.upper(), "password": password, "csrf_token": token}).status_code

    # Each try comes from a new address, so the per-IP limit never applies.
    assert [attempt(f"192.0.2.{i}", "wrong guess") for i in range(3)] == [401] * 3
    # The account is locked for the window, even for the right password; an unknown address
    # is answered the same way, so the answer does not tell which accounts exist.
    assert attempt("192.0.2.200", "correct horse battery") == 429
    assert attempt("192.0.2.201", "wrong guess") == 429
