"""Admin accounts: login, logout, rate limit, roles, the create-admin command."""

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
